//! Earlier turns' server-side work, put back into the model's history.
//!
//! A chat client keeps only what it was shown: the answers. What a server-side tool returned in
//! turn 1 (a fetched page, a file, an MCP result), what other agents said, which agent took
//! over — all of that is in the session and nowhere in the client's messages, so in turn 2 the
//! model cannot answer "what did that page say?". ADK's own clients get the session's events as
//! the history; this module gives the same to clients that resend their copy of the chat.
//!
//! How a turn is found: each assistant message of the client is matched to one earlier
//! invocation of the session, in order, by
//! 1. the ids of client tool calls it carries (a paused turn), else
//! 2. its text against the text that invocation showed as the answer (events marked
//!    `shown_as_answer`), else against any one text of it (a loop's result is a copy of a step).
//!
//! Texts are compared after removing reasoning markup (`<think>` blocks, `<details>` blocks:
//! Open WebUI strips or folds reasoning) and collapsing whitespace: equal, or one containing the
//! other at 80 % of its length, or 80 % of their words shared (stream stages may rewrite a few
//! words). A message that matches nothing (edited, written by the user, from another tool) gets
//! nothing: history is never invented. Matching runs from the newest message and turn backwards
//! (clients trim a long chat's oldest messages), each message looking at most six turns further
//! back than the previous match, so an older message never takes steps from a newer turn and a
//! chat that matches nothing costs a bounded number of comparisons.
//!
//! What is put back before the matched message: that invocation's other steps in order —
//! server-side tool calls with their results, other agents' texts and transfers (`replay: all`)
//! or only the tool calls with results (`replay: tools`). Parts the client already holds are left
//! out by id (its own tool calls; the proxy's calls a client kept as `tool_calls` + `tool`
//! messages, as Responses-API clients do — those are recognised, never run again, never taken
//! for client tools). A tool call and its result are one unit; when the units exceed
//! `runtime.replay_max_tokens` (estimated as bytes / 4) the oldest go first, and a result longer
//! than `runtime.replay_max_result_bytes` is cut with a marker.
//!
//! Cost: one pass over the client's messages and, from the newest back, over the loaded events
//! only as far as the matching reaches; one normalised string per assistant message of the client;
//! word sets are built only when exact comparison fails and the word counts are close.
//! Each event's compared text, size and rendering as messages are worked out once per event
//! (`Event::memo`), which the memory store shares across requests.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;

use serde_json::Value;

use crate::config::{ReplayMode, RuntimeSettings};
use crate::event::{Event, Part, ReplaySize};
use crate::wire::Message;

/// Earlier turns a client message is compared with, back from the turn the newer message matched.
const MATCH_WINDOW: usize = 6;

/// Steps to put back, by the client message they go before.
#[derive(Debug, Default)]
pub struct Replay {
    /// (client message index, steps), by index.
    inserts: Vec<(usize, Vec<Arc<Event>>)>,
}

impl Replay {
    /// The steps to put before client message `index`, oldest first.
    pub fn before(&self, index: usize) -> &[Arc<Event>] {
        match self.inserts.binary_search_by_key(&index, |(at, _)| *at) {
            Ok(found) => &self.inserts[found].1,
            Err(_) => &[],
        }
    }

    pub fn is_empty(&self) -> bool {
        self.inserts.is_empty()
    }

    /// Plans the replay for one request: `events` are the session's loaded events, `current`
    /// the id of the invocation this request runs (its events are not history).
    pub fn plan(
        messages: &[Message],
        events: &[Arc<Event>],
        current: &str,
        limits: &RuntimeSettings,
    ) -> Self {
        if limits.replay == ReplayMode::None || events.is_empty() {
            return Self::default();
        }
        let mut turns = TurnsBack::new(events, current);
        if turns.range(0).is_none() {
            return Self::default();
        }
        let client_ids = client_tool_call_ids(messages);
        let answers = messages.iter().filter(|m| m.role() == "assistant").count();
        let mut matched: Vec<(usize, Vec<Arc<Event>>)> = Vec::with_capacity(answers);
        // Newest first: clients trim a long chat's oldest messages, not its latest, so both lists
        // line up from their ends; each message looks at most MATCH_WINDOW turns back from the
        // last match, which bounds the work when nothing matches (an edited or foreign chat).
        // Turns are numbered from the newest (0), and found only as far back as this asks.
        let mut cursor = 0;
        // Each turn's texts are prepared once, however many messages look at it.
        let mut prepared: Vec<Option<Turn>> = Vec::with_capacity(answers + MATCH_WINDOW);
        for (index, message) in messages.iter().enumerate().rev() {
            if message.role() != "assistant" || turns.range(cursor).is_none() {
                continue;
            }
            let copy = ClientCopy::of(message);
            let mut found = None;
            for back in cursor..cursor + MATCH_WINDOW {
                let Some(range) = turns.range(back) else {
                    break;
                };
                if prepared.len() <= back {
                    prepared.resize_with(back + 1, || None);
                }
                let turn = prepared[back].get_or_insert_with(|| Turn::of(events, range));
                if let Some(answer) = copy.match_turn(turn) {
                    found = Some((back, answer));
                    break;
                }
            }
            let Some((back, answer)) = found else {
                continue;
            };
            cursor = back + 1;
            let Some(turn) = prepared[back].as_ref() else {
                continue;
            };
            let steps = steps_of(&turn.events, &answer, &client_ids, limits);
            if !steps.is_empty() {
                matched.push((index, steps));
            }
        }
        matched.reverse();
        within_budget(&mut matched, limits.replay_max_tokens);
        matched.retain(|(_, steps)| !steps.is_empty());
        Self { inserts: matched }
    }
}

/// The earlier invocations as ranges of `events`, found from the newest back and only as far as
/// matching asks (a chat that matches nothing looks at six turns, not the whole loaded history).
/// An invocation's events are contiguous unless two requests of one session ran at once; then
/// each run of it is a turn of its own, which costs nothing but a missed match. Events of
/// `current` (this request's own) are not history.
struct TurnsBack<'a> {
    events: &'a [Arc<Event>],
    current: &'a str,
    /// Newest first; the last one may still grow backwards until an older event ends it.
    ranges: Vec<(usize, usize)>,
    /// `events[..unscanned]` are not looked at yet.
    unscanned: usize,
}

impl<'a> TurnsBack<'a> {
    fn new(events: &'a [Arc<Event>], current: &'a str) -> Self {
        Self {
            events,
            current,
            ranges: Vec::new(),
            unscanned: events.len(),
        }
    }

    /// The `back`-th turn from the newest (0 is the newest), complete.
    fn range(&mut self, back: usize) -> Option<(usize, usize)> {
        // A range is complete once an older range exists, or nothing older is left to scan.
        while self.ranges.len() <= back + 1 && self.unscanned > 0 {
            self.unscanned -= 1;
            let i = self.unscanned;
            let event = &self.events[i];
            if event.invocation_id == self.current {
                continue;
            }
            match self.ranges.last_mut() {
                Some((start, _))
                    if *start == i + 1
                        && self.events[*start].invocation_id == event.invocation_id =>
                {
                    *start = i
                }
                _ => self.ranges.push((i, i + 1)),
            }
        }
        self.ranges.get(back).copied()
    }
}

/// An earlier turn as matching needs it: its complete, non-user events and the text it showed
/// as the answer. Each event's compared text is normalised once per event (`Event::memo`), so a
/// turn that many requests look at costs them a join at most.
struct Turn<'a> {
    events: Vec<&'a Arc<Event>>,
    shown: Cow<'a, str>,
}

impl<'a> Turn<'a> {
    fn of(events: &'a [Arc<Event>], (start, end): (usize, usize)) -> Self {
        let events: Vec<&Arc<Event>> = events[start..end]
            .iter()
            .filter(|e| !e.partial && e.author != "user")
            .collect();
        // Normalising each shown event and joining with a space is normalising their joined
        // text, unless reasoning markup opens in one event and closes in the next, which the
        // proxy never writes.
        let mut shown = Cow::Borrowed("");
        for text in events
            .iter()
            .filter(|e| e.shown_as_answer)
            .map(|e| compared_text(e))
            .filter(|t| !t.is_empty())
        {
            shown = if shown.is_empty() {
                Cow::Borrowed(text)
            } else {
                Cow::Owned(format!("{shown} {text}"))
            };
        }
        Self { events, shown }
    }

    /// (position in `events`, compared text) of the events with text, newest last.
    fn texts(&self) -> impl DoubleEndedIterator<Item = (usize, &'a str)> + '_ {
        self.events
            .iter()
            .enumerate()
            .map(|(i, e)| (i, compared_text(e)))
            .filter(|(_, text)| !text.is_empty())
    }
}

/// An event's text as compared (see [`normalize`]), worked out once per event.
fn compared_text(event: &Event) -> &str {
    event.memo.get().compared_text.get_or_init(|| {
        event
            .content
            .as_ref()
            .map(|c| normalize(&c.joined_text()))
            .unwrap_or_default()
    })
}

/// An event's size for the limits, worked out once per event.
fn size_of(event: &Event) -> ReplaySize {
    *event.memo.get().replay_size.get_or_init(|| {
        let parts = event.content.iter().flat_map(|c| &c.parts);
        let bytes: usize = parts
            .clone()
            .map(|p| match p {
                Part::Text { text } | Part::Reasoning { text } => text.len(),
                Part::ToolCall {
                    name, arguments, ..
                } => name.len() + crate::llm::usage_estimate::json_bytes(arguments),
                Part::ToolResult { name, response, .. } => {
                    name.len() + crate::llm::usage_estimate::json_bytes(response)
                }
            })
            .sum();
        let longest_result = parts
            .filter_map(|p| match p {
                Part::ToolResult { response, .. } => Some(json_length(response)),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        ReplaySize {
            tokens: bytes / 4 + 4,
            longest_result,
        }
    })
}

/// Every tool-call id the client's messages carry (assistant `tool_calls`, `tool` results).
fn client_tool_call_ids(messages: &[Message]) -> HashSet<&str> {
    let mut ids = HashSet::new();
    for message in messages {
        for call in message.tool_calls().into_iter().flatten() {
            if let Some(id) = call.get("id").and_then(Value::as_str) {
                ids.insert(id);
            }
        }
        if let Some(id) = message.fields().get("tool_call_id").and_then(Value::as_str) {
            ids.insert(id);
        }
    }
    ids
}

/// Which events of a matched turn the client holds the text of.
enum Answer {
    /// The events shown as the answer (their text is in the client's message).
    Shown,
    /// One event (by position) whose text is the client's message.
    Event(usize),
    /// A paused turn: the client holds its tool calls and the text with them.
    ClientCalls(usize),
}

/// One assistant message of the client, prepared once for matching against turns.
struct ClientCopy<'a> {
    call_ids: Vec<&'a str>,
    /// The text, reasoning markup removed and whitespace collapsed (what [`similar`] compares).
    normalized: String,
}

impl<'a> ClientCopy<'a> {
    fn of(message: &'a Message) -> Self {
        let call_ids = message
            .tool_calls()
            .into_iter()
            .flatten()
            .filter_map(|c| c.get("id").and_then(Value::as_str))
            .collect();
        let normalized = match message.content() {
            Some(Value::String(text)) => normalize(text),
            _ => normalize(&message.text().unwrap_or_default()),
        };
        Self {
            call_ids,
            normalized,
        }
    }

    fn match_turn(&self, turn: &Turn) -> Option<Answer> {
        if !self.call_ids.is_empty() {
            let position = turn.events.iter().position(|e| {
                e.client_call_ids
                    .iter()
                    .any(|id| self.call_ids.contains(&id.as_str()))
            });
            if let Some(position) = position {
                return Some(Answer::ClientCalls(position));
            }
        }
        if self.normalized.is_empty() {
            return None;
        }
        let text = &self.normalized;
        if !turn.shown.is_empty() && similar(text, &turn.shown) {
            return Some(Answer::Shown);
        }
        turn.texts()
            .rev()
            .find(|(_, candidate)| similar(text, candidate))
            .map(|(position, _)| Answer::Event(position))
    }
}

/// The steps of a matched turn the client never saw, ready to render: the stored event itself
/// when all of it goes back (no copy), else a copy with only the parts that do.
fn steps_of(
    turn: &[&Arc<Event>],
    answer: &Answer,
    client_ids: &HashSet<&str>,
    limits: &RuntimeSettings,
) -> Vec<Arc<Event>> {
    let mut steps = Vec::new();
    for (position, event) in turn.iter().enumerate() {
        let Some(content) = &event.content else {
            continue;
        };
        let client_has_text = match answer {
            Answer::Shown => event.shown_as_answer,
            Answer::Event(at) | Answer::ClientCalls(at) => *at == position,
        };
        let keep = |part: &Part| match part {
            Part::Reasoning { .. } => false,
            Part::Text { .. } if client_has_text || limits.replay == ReplayMode::Tools => false,
            Part::Text { text } => !text.trim().is_empty(),
            Part::ToolCall { id, .. } | Part::ToolResult { id, .. } => {
                !client_ids.contains(id.as_str()) && !event.client_call_ids.contains(id)
            }
        };
        let kept = content.parts.iter().filter(|p| keep(p)).count();
        if kept == 0 {
            continue;
        }
        if kept == content.parts.len()
            && size_of(event).longest_result <= limits.replay_max_result_bytes
        {
            steps.push(Arc::clone(event));
            continue;
        }
        let parts = content
            .parts
            .iter()
            .filter(|p| keep(p))
            .map(|part| match part {
                Part::ToolResult { id, name, response } => Part::ToolResult {
                    id: id.clone(),
                    name: name.clone(),
                    response: shortened(response, limits.replay_max_result_bytes),
                },
                other => other.clone(),
            })
            .collect();
        let mut step = Event::new(&event.invocation_id, &event.author);
        step.content = Some(crate::event::Content {
            role: content.role.clone(),
            parts,
        });
        steps.push(Arc::new(step));
    }
    steps
}

/// Bytes of a value's JSON text, counted without building it.
fn json_length(value: &Value) -> usize {
    match value {
        Value::String(s) => s.len(),
        other => {
            let mut counter = ByteCounter(0);
            let _ = serde_json::to_writer(&mut counter, other);
            counter.0
        }
    }
}

/// A tool result cut to `max` bytes of JSON, with a marker saying so. Its length is counted
/// without building the text; only a result that is cut is serialised.
fn shortened(response: &Value, max: usize) -> Value {
    if json_length(response) <= max {
        return response.clone();
    }
    let text = match response {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Value::String(shortened_text(text, max))
}

/// `text` cut to at most `max` bytes at a character boundary, with a marker saying how much went
/// (the replay's results and the Open WebUI cards shorten the same way).
pub fn shortened_text(mut text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let omitted = text.len() - cut;
    text.truncate(cut);
    text.push_str(&format!("… [shortened by the proxy: {omitted} more bytes]"));
    text
}

/// Counts the bytes written to it.
struct ByteCounter(usize);

impl std::io::Write for ByteCounter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0 += bytes.len();
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Drops the oldest units (a tool call with its results, or one other step) until the estimated
/// tokens fit.
fn within_budget(matched: &mut [(usize, Vec<Arc<Event>>)], max_tokens: usize) {
    let cost = |e: &Arc<Event>| size_of(e).tokens;
    let mut total: usize = matched.iter().flat_map(|(_, s)| s).map(cost).sum();
    for (_, steps) in matched.iter_mut() {
        while total > max_tokens && !steps.is_empty() {
            let unit = unit_len(steps);
            for step in steps.drain(..unit) {
                total = total.saturating_sub(cost(&step));
            }
        }
        if total <= max_tokens {
            break;
        }
    }
}

/// How many leading steps form one unit: a tool call together with the results after it.
fn unit_len(steps: &[Arc<Event>]) -> usize {
    let has = |e: &Event, call: bool| {
        e.content.iter().flat_map(|c| &c.parts).any(|p| match p {
            Part::ToolCall { .. } => call,
            Part::ToolResult { .. } => !call,
            _ => false,
        })
    };
    match steps {
        [first, second, ..] if has(first, true) && has(second, false) => 2,
        _ => 1,
    }
}

/// Text as compared: reasoning markup removed, whitespace collapsed.
fn normalize(text: &str) -> String {
    // The normal form never starts or ends with whitespace, so trimming first loses nothing and
    // lets an answer that ends in a newline or space take the shortcut below.
    let text = text.trim();
    // Most answers are plain text with single spaces: then the normal form is the text itself,
    // found with one byte scan instead of a walk over its words.
    let plain = !text
        .as_bytes()
        .windows(2)
        .any(|w| w[0] == b' ' && w[1] == b' ')
        && text
            .bytes()
            .all(|b| (b' '..=b'~').contains(&b) && b != b'<');
    if plain {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    // Reasoning markup starts with '<': without one, only whitespace needs collapsing.
    if !text.contains('<') {
        push_words(&mut out, text);
        return out;
    }
    let mut rest = text;
    loop {
        let next = ["<think>", "<details"]
            .iter()
            .filter_map(|tag| rest.find(tag).map(|at| (at, *tag)))
            .min();
        let Some((at, tag)) = next else {
            push_words(&mut out, rest);
            break;
        };
        push_words(&mut out, &rest[..at]);
        let close = if tag == "<think>" {
            "</think>"
        } else {
            "</details>"
        };
        match rest[at..].find(close) {
            Some(end) => rest = &rest[at + end + close.len()..],
            None => break,
        }
    }
    out
}

fn push_words(out: &mut String, text: &str) {
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
}

/// The same answer, allowing for small changes (see the module doc).
fn similar(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    if a.is_empty() || b.is_empty() {
        return false;
    }
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if short.len() * 5 >= long.len() * 4 && long.contains(short) {
        return true;
    }
    // 80 % of the words shared needs word counts within 80 % of each other: most pairs stop
    // here, before any set is built. Normalised text has single spaces, so counting the space
    // bytes counts the words (a byte count vectorises; `split` walked a char searcher and was
    // most of this function's cost in the profile).
    let words = |text: &str| text.bytes().filter(|b| *b == b' ').count() + 1;
    let (count_a, count_b) = (words(a), words(b));
    if count_a.min(count_b) * 5 < count_a.max(count_b) * 4 {
        return false;
    }
    let words_a: HashSet<&str> = a.split(' ').collect();
    let words_b: HashSet<&str> = b.split(' ').collect();
    let shared = words_a.intersection(&words_b).count();
    shared * 5 >= words_a.len().max(words_b.len()) * 4
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Content;
    use serde_json::json;

    fn message(value: Value) -> Message {
        Message::new(value.as_object().cloned().unwrap_or_default())
    }

    fn event(inv: &str, author: &str, parts: Vec<Part>) -> Event {
        Event::new(inv, author).with_content(Content {
            role: "model".into(),
            parts,
        })
    }

    fn turn_with_tool(inv: &str, answer: &str, result: Value) -> Vec<Arc<Event>> {
        let call = event(
            inv,
            "assistant",
            vec![Part::ToolCall {
                id: format!("{inv}-call"),
                name: "fetch_url".into(),
                arguments: json!({"url": "https://example.com"}),
            }],
        );
        let mut results = event(
            inv,
            "assistant",
            vec![Part::ToolResult {
                id: format!("{inv}-call"),
                name: "fetch_url".into(),
                response: result,
            }],
        );
        results.content.as_mut().expect("content").role = "tool".into();
        let mut shown = event(
            inv,
            "assistant",
            vec![Part::Text {
                text: answer.into(),
            }],
        );
        shown.shown_as_answer = true;
        vec![call.into(), results.into(), shown.into()]
    }

    #[test]
    fn matching_survives_stripped_reasoning_and_rewrapped_text() {
        assert!(similar(
            &normalize("<think>plan</think>\nThe page  says hello."),
            &normalize("The page says hello.")
        ));
        assert!(similar(
            &normalize("The page says hello to all of the readers today [link]"),
            &normalize("The page says hello to all of the readers today")
        ));
        assert!(!similar(
            &normalize("I rewrote this answer myself."),
            &normalize("The page says hello.")
        ));
    }

    #[test]
    fn the_plain_text_shortcut_gives_the_same_normal_form() {
        for (text, normal) in [
            ("The page says hello.", "The page says hello."),
            ("two  spaces", "two spaces"),
            (" edges ", "edges"),
            ("line\nbreak\ttab", "line break tab"),
            ("x <think>y</think> z", "x z"),
            ("caf\u{e9}\u{a0}ol\u{e9}", "caf\u{e9} ol\u{e9}"),
            ("tok0 tok1 ", "tok0 tok1"),
            ("An answer.\n", "An answer."),
            ("\u{a0}nbsp edge\u{a0}", "nbsp edge"),
            ("a < b  and c > d", "a < b and c > d"),
            ("<think>only reasoning</think>", ""),
            ("", ""),
        ] {
            assert_eq!(normalize(text), normal, "{text:?}");
        }
    }

    #[test]
    fn steps_go_before_the_matching_answer_only() {
        let mut events = turn_with_tool("i1", "The page says hello.", json!({"text": "hello"}));
        events.extend(turn_with_tool("i2", "Second.", json!({"text": "two"})));
        let messages = vec![
            message(json!({"role": "user", "content": "read it"})),
            message(json!({"role": "assistant", "content": "The page says hello."})),
            message(json!({"role": "user", "content": "again"})),
            message(json!({"role": "assistant", "content": "Something I typed."})),
            message(json!({"role": "user", "content": "and?"})),
        ];
        let replay = Replay::plan(&messages, &events, "now", &RuntimeSettings::default());
        assert_eq!(
            replay.before(1).len(),
            2,
            "call and result before the answer"
        );
        assert!(replay.before(3).is_empty(), "an edited answer gets nothing");
        let none = RuntimeSettings {
            replay: ReplayMode::None,
            ..RuntimeSettings::default()
        };
        assert!(Replay::plan(&messages, &events, "now", &none).is_empty());
    }

    #[test]
    fn long_results_are_cut_and_old_units_dropped_first() {
        let mut events = turn_with_tool("i1", "One.", json!("x".repeat(10_000)));
        events.extend(turn_with_tool("i2", "Two.", json!("y".repeat(100))));
        let messages = vec![
            message(json!({"role": "user", "content": "a"})),
            message(json!({"role": "assistant", "content": "One."})),
            message(json!({"role": "user", "content": "b"})),
            message(json!({"role": "assistant", "content": "Two."})),
        ];
        let limits = RuntimeSettings {
            replay_max_result_bytes: 50,
            ..RuntimeSettings::default()
        };
        let replay = Replay::plan(&messages, &events, "now", &limits);
        let Some(Part::ToolResult { response, .. }) = replay.before(1)[1]
            .content
            .as_ref()
            .and_then(|c| c.parts.first())
        else {
            panic!("a result");
        };
        assert!(
            response
                .as_str()
                .is_some_and(|t| t.ends_with("[shortened by the proxy: 9950 more bytes]")),
            "{response}"
        );
        let tight = RuntimeSettings {
            replay_max_tokens: 60,
            ..RuntimeSettings::default()
        };
        let replay = Replay::plan(&messages, &events, "now", &tight);
        assert!(replay.before(1).is_empty(), "the oldest unit went first");
        assert_eq!(replay.before(3).len(), 2);
    }
}
