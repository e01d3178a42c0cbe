//! Regex replacement on a stream of text pieces that never delays text a pattern cannot need.
//!
//! A match can be split across chunks ("#1" + "23"). Text is released as soon as it can no longer
//! be part of a match: each piece is appended to a pending buffer, the earliest position from
//! which the pattern could still match (given more text) is found by running the pattern's lazy
//! DFA anchored at each position to the end of the buffer, and everything before it is released
//! with its complete matches replaced. So only the shortest suffix that could still become (or
//! extend) a match is held back; at the end of the stream it is released as it is.
//!
//! The hold-back is capped at [`MAX_HELD_BYTES`] for every pattern, and each piece costs work in
//! proportion to the piece plus the capped buffer, so a whole answer costs linear time. When the
//! cap forces text out while a match is still growing (a 900-character key arriving a character
//! at a time, `\d{5,}` over 60,000 digits), the match is replaced as it stands and the rest of
//! it is swallowed as it arrives, for as long as the pattern's DFA says the same match goes on:
//! what passes the cap is redacted, never released in the clear. The trade-off is that a
//! pattern which can match without end (`(\w+\s?)+$`) replaces everything from where it began —
//! over-replacing is the safe failure for a redaction stage.

use regex_automata::hybrid::LazyStateID;
use regex_automata::hybrid::dfa::{Cache, DFA};
use regex_automata::{Anchored, Input};

/// Held text longer than this is released anyway (a pattern such as `.*` could otherwise hold a
/// whole answer back).
pub const MAX_HELD_BYTES: usize = 512;

pub struct Replacer {
    regex: regex::Regex,
    dfa: DFA,
    template: String,
}

impl Replacer {
    /// `template` uses `$1` / `${name}` for capture groups (the `regex` crate's syntax).
    pub fn new(pattern: &str, template: &str) -> Result<Self, String> {
        let regex = regex::Regex::new(pattern).map_err(|e| e.to_string())?;
        let dfa = DFA::new(&ascii_word_boundaries(pattern)).map_err(|e| e.to_string())?;
        Ok(Self {
            regex,
            dfa,
            template: template.to_string(),
        })
    }

    /// Per-stream state for this replacer.
    pub fn stream(&self) -> HoldBack {
        HoldBack {
            pending: String::new(),
            cache: self.dfa.create_cache(),
            continuing: None,
            replaced: 0,
        }
    }

    /// The DFA state after an anchored run over `text[start..]`, if the match could go on.
    fn state_at_end(&self, cache: &mut Cache, text: &str, start: usize) -> Option<LazyStateID> {
        let input = Input::new(text).range(start..).anchored(Anchored::Yes);
        let mut state = self.dfa.start_state_forward(cache, &input).ok()?;
        for &byte in &text.as_bytes()[start..] {
            state = self.dfa.next_state(cache, state, byte).ok()?;
            if state.is_dead() || state.is_quit() {
                return None;
            }
        }
        Some(state)
    }

    /// Whether a match could start at `start` and still be incomplete (or grow) at the end of
    /// `text`.
    fn alive_at_end(&self, cache: &mut Cache, text: &str, start: usize) -> bool {
        let input = Input::new(text).range(start..).anchored(Anchored::Yes);
        let Ok(mut state) = self.dfa.start_state_forward(cache, &input) else {
            return true;
        };
        for &byte in &text.as_bytes()[start..] {
            state = match self.dfa.next_state(cache, state, byte) {
                Ok(next) => next,
                Err(_) => return true,
            };
            if state.is_dead() {
                return false;
            }
            if state.is_quit() {
                return true;
            }
        }
        // Alive at the end only if some further byte keeps it alive.
        (0..=255u8).any(|byte| {
            self.dfa
                .next_state(cache, state, byte)
                .map(|next| !next.is_dead())
                .unwrap_or(true)
        })
    }
}

/// Lazy DFAs cannot do Unicode word boundaries, and the built-in patterns use `\b`. The DFA only
/// decides how much text to hold back (the `regex` crate still does the matching), so ASCII word
/// boundaries serve: at the end of the pending text a boundary is undecided, so the text is held
/// either way, and a complete match in released text is still found by the real regex.
fn ascii_word_boundaries(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('b') => out.push_str("(?-u:\\b)"),
            Some('B') => out.push_str("(?-u:\\B)"),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

pub struct HoldBack {
    pending: String,
    cache: Cache,
    /// A match released (replaced) at the cap that may still be going on: its DFA state.
    continuing: Option<LazyStateID>,
    /// Matches replaced so far (for "redacted 2 …" notes).
    pub replaced: usize,
}

impl HoldBack {
    /// Adds a piece; returns the text that can be released now.
    pub fn push(&mut self, replacer: &Replacer, piece: &str) -> String {
        let piece = self.swallow_continuation(replacer, piece);
        if piece.is_empty() {
            return String::new();
        }
        self.pending.push_str(piece);
        let text = std::mem::take(&mut self.pending);
        let floor = text.len().saturating_sub(MAX_HELD_BYTES);
        let mut cut = text.len();
        for (start, _) in text.char_indices().filter(|(i, _)| *i >= floor) {
            if replacer.alive_at_end(&mut self.cache, &text, start) {
                cut = start;
                break;
            }
        }
        // A complete match that crosses the cut is held whole when it fits under the cap, else
        // released whole (replaced) so the cap holds.
        let mut long_match = None;
        for m in replacer.regex.find_iter(&text) {
            if m.start() < cut && m.end() > cut {
                if m.start() >= floor {
                    cut = m.start();
                } else {
                    cut = m.end();
                    long_match = Some(m.start());
                }
                break;
            }
            if m.end() == text.len() && m.start() < floor {
                long_match = Some(m.start());
            }
        }
        // A long match released up to the end of the text may go on in the next pieces.
        if cut == text.len()
            && let Some(start) = long_match
        {
            self.continuing = replacer.state_at_end(&mut self.cache, &text, start);
        }
        let (ready, held) = text.split_at(cut);
        self.pending = held.to_string();
        self.replace(replacer, ready)
    }

    /// Drops the start of `piece` that continues a match already replaced; returns the rest.
    fn swallow_continuation<'p>(&mut self, replacer: &Replacer, piece: &'p str) -> &'p str {
        let Some(mut state) = self.continuing else {
            return piece;
        };
        for (at, c) in piece.char_indices() {
            let mut buf = [0u8; 4];
            let mut next = Some(state);
            for &byte in c.encode_utf8(&mut buf).as_bytes() {
                next = next.and_then(|s| replacer.dfa.next_state(&mut self.cache, s, byte).ok());
            }
            // The character belongs to the match only if the match could end right after it
            // (the DFA reports matches one step late, so ask the end-of-input transition).
            let extends = next.filter(|s| !s.is_dead() && !s.is_quit()).filter(|&s| {
                replacer
                    .dfa
                    .next_eoi_state(&mut self.cache, s)
                    .is_ok_and(|eoi| eoi.is_match())
            });
            match extends {
                Some(s) => state = s,
                None => {
                    self.continuing = None;
                    return &piece[at..];
                }
            }
        }
        self.continuing = Some(state);
        ""
    }

    /// Releases everything still held (end of the answer).
    pub fn finish(&mut self, replacer: &Replacer) -> String {
        self.continuing = None;
        let text = std::mem::take(&mut self.pending);
        self.replace(replacer, &text)
    }

    fn replace(&mut self, replacer: &Replacer, text: &str) -> String {
        if text.is_empty() {
            return String::new();
        }
        let count = replacer.regex.find_iter(text).count();
        if count == 0 {
            return text.to_string();
        }
        self.replaced += count;
        replacer
            .regex
            .replace_all(text, replacer.template.as_str())
            .into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(pattern: &str, template: &str, pieces: &[&str]) -> Vec<String> {
        let replacer = Replacer::new(pattern, template).expect("pattern");
        let mut state = replacer.stream();
        let mut out: Vec<String> = pieces.iter().map(|p| state.push(&replacer, p)).collect();
        out.push(state.finish(&replacer));
        out
    }

    #[test]
    fn matches_split_across_chunks_are_replaced_and_nothing_else_waits() {
        let out = run(
            r"#(\d+)",
            "[#$1](https://t/$1)",
            &["see #1", "2", "3 and more", " text"],
        );
        assert_eq!(
            out,
            ["see ", "", "[#123](https://t/123) and more", " text", ""]
        );
        let out = run(r"#(\d+)", "<$1>", &["plain text ", "no hash"]);
        assert_eq!(out, ["plain text ", "no hash", ""]);
    }

    #[test]
    fn word_boundaries_and_non_ascii_text_work() {
        let out = run(r"\b\d{4} \d{4}\b", "[card]", &["Карта 4111 ", "1111 и всё"]);
        assert_eq!(out.concat(), "Карта [card] и всё");
        assert_eq!(out[0], "Карта ", "Cyrillic text is not held back");
        assert_eq!(
            super::ascii_word_boundaries(r"\bx\\b\B"),
            r"(?-u:\b)x\\b(?-u:\B)"
        );
    }

    #[test]
    fn a_match_split_over_three_chunks_and_a_dangling_prefix_at_the_end() {
        let out = run(
            r"[a-z]+@[a-z]+\.com",
            "[email]",
            &["mail bob", "@exam", "ple.com now", " #"],
        );
        assert_eq!(out.concat(), "mail [email] now #");
        assert_eq!(
            out[0], "mail ",
            "only the word that could start an address is held"
        );
        let out = run(r"secret", "***", &["the sec"]);
        assert_eq!(
            out,
            ["the ", "sec"],
            "an unfinished prefix is released at the end"
        );
    }

    /// M3: the cap holds for every pattern and the work is linear; L2: what passes the cap is
    /// redacted, not released in the clear.
    #[test]
    fn the_cap_holds_and_long_matches_are_redacted_whole() {
        let replacer = Replacer::new(r"\d{5,}", "[n]").expect("pattern");
        let mut state = replacer.stream();
        let started = std::time::Instant::now();
        let mut out = String::new();
        let mut longest_held = 0;
        for i in 0..60_000 {
            out.push_str(&state.push(&replacer, &((i % 10).to_string())));
            longest_held = longest_held.max(state.pending.len());
        }
        out.push_str(&state.push(&replacer, " end"));
        out.push_str(&state.finish(&replacer));
        assert_eq!(out, "[n] end");
        assert!(longest_held <= MAX_HELD_BYTES, "{longest_held}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );

        let key = format!("sk-{}", "a".repeat(900));
        let replacer = Replacer::new(r"sk-[A-Za-z0-9]{20,}", "[key]").expect("pattern");
        let mut state = replacer.stream();
        let mut out = String::new();
        for c in format!("my key {key} is secret").chars() {
            out.push_str(&state.push(&replacer, &c.to_string()));
        }
        out.push_str(&state.finish(&replacer));
        assert_eq!(out, "my key [key] is secret");

        let replacer = Replacer::new(r"(\w+\s?)+$", "[x]").expect("pattern");
        let mut state = replacer.stream();
        let mut longest_held = 0;
        for _ in 0..20_000 {
            state.push(&replacer, "w");
            longest_held = longest_held.max(state.pending.len());
        }
        assert!(longest_held <= MAX_HELD_BYTES, "{longest_held}");
    }
}
