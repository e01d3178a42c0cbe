//! A chat UI's background tasks, recognised so that they do not run through an agent.
//!
//! Chat UIs ask the chat's own model for housekeeping: Open WebUI sends a chat title, tags,
//! follow-up suggestions, search and retrieval queries, autocompletion and an emoji, each as one
//! request whose last user message is a filled-in task prompt; LibreChat asks for a title. With
//! an agent as the chat's model each of these would run the whole agent (one Open WebUI message to
//! a two-step planner cost eight upstream calls instead of two), its tools included, and the
//! answer would come from an agent built for something else. Recognised tasks are served by one
//! plain model call instead (`agents.background_tasks`), through the same stages, limits and
//! cache as any direct request, and the access log line and the request metrics say which task.
//!
//! Recognition looks at the start of the last user message only, where these UIs put their
//! fixed prompt text; a user's own message rarely starts with `### Task:`. Settings can add
//! patterns (regexes) for other clients, or turn the whole thing off (`mode: agent`).

use crate::config::{BackgroundTaskSettings, TaskMode};
use crate::wire::ChatRequest;

/// How much of the message start is examined: the prompts' identifying words come first.
const HEAD_BYTES: usize = 600;

/// Open WebUI's task prompts start with `### Task:`; the next words say which task.
const OPEN_WEBUI_TASKS: &[(&str, &str)] = &[
    ("title", "title"),
    ("tags", "tags"),
    ("follow-up", "follow_ups"),
    // 0.12: "Predict 3-5 useful messages this user might naturally send next …"
    ("send next", "follow_ups"),
    ("autocompletion", "autocomplete"),
    ("image generation", "image_prompt"),
    ("queries", "queries"),
];

/// Other prompts Open WebUI and LibreChat send: (text the message starts with or contains,
/// whether it must be at the start, task).
const KNOWN_PROMPTS: &[(&str, bool, &str)] = &[
    (
        "Your task is to reflect the speaker's likely facial expression",
        true,
        "emoji",
    ),
    ("Available Tools:", true, "tool_selection"),
    (
        "You have been provided with a set of responses from various models",
        true,
        "moa",
    ),
    ("5-word-or-less title for the conversation", false, "title"),
    ("A concise title in the detected language", false, "title"),
    (
        "Progressively summarize the lines of conversation provided",
        true,
        "summary",
    ),
];

/// The background task this request is, if it is one and tasks are served directly.
pub fn recognise(request: &ChatRequest, settings: &BackgroundTaskSettings) -> Option<&'static str> {
    if settings.mode == TaskMode::Agent {
        return None;
    }
    let last_user = request.messages.iter().rev().find(|m| m.role() == "user")?;
    let text = last_user.text()?;
    let head = head(text.trim_start(), HEAD_BYTES);
    if let Some(rest) = head.strip_prefix("### Task:") {
        let rest = rest.to_ascii_lowercase();
        let first_line = rest.trim_start().lines().next().unwrap_or("");
        return Some(
            OPEN_WEBUI_TASKS
                .iter()
                .find(|(words, _)| first_line.contains(words))
                .map_or("task", |(_, kind)| kind),
        );
    }
    for (prompt, at_start, kind) in KNOWN_PROMPTS {
        let found = if *at_start {
            head.starts_with(prompt)
        } else {
            head.contains(prompt)
        };
        if found {
            return Some(kind);
        }
    }
    settings
        .compiled
        .iter()
        .any(|pattern| pattern.is_match(head))
        .then_some("custom")
}

/// The first `max` bytes of `text`, cut at a character boundary.
fn head(text: &str, max: usize) -> &str {
    let mut cut = max.min(text.len());
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    &text[..cut]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(text: &str) -> ChatRequest {
        serde_json::from_value(json!({"model": "planner",
            "messages": [{"role": "user", "content": text}]}))
        .expect("request")
    }

    #[test]
    fn open_webui_and_librechat_prompts_are_recognised_by_kind() {
        let on = BackgroundTaskSettings::default();
        for (text, kind) in [
            (
                "### Task:\nGenerate a concise, 3-5 word title with an emoji summarizing the chat history.",
                "title",
            ),
            (
                "### Task:\nGenerate 1-3 broad tags categorizing the main themes of the chat history",
                "tags",
            ),
            (
                "### Task:\nSuggest 3-5 relevant follow-up questions or prompts",
                "follow_ups",
            ),
            (
                "### Task:\nPredict 3-5 useful messages this user might naturally send next to advance their current objective.",
                "follow_ups",
            ),
            (
                "### Task:\nAnalyze the chat history to determine the necessity of generating search queries",
                "queries",
            ),
            (
                "### Task:\nYou are an autocompletion system. Continue the text",
                "autocomplete",
            ),
            (
                "Your task is to reflect the speaker's likely facial expression through a fitting emoji.",
                "emoji",
            ),
            (
                "Provide a concise, 5-word-or-less title for the conversation, using title case conventions.",
                "title",
            ),
        ] {
            assert_eq!(recognise(&request(text), &on), Some(kind), "{text}");
        }
        assert_eq!(recognise(&request("Plan a weekend in Rome"), &on), None);
        let off = BackgroundTaskSettings {
            mode: TaskMode::Agent,
            ..BackgroundTaskSettings::default()
        };
        assert_eq!(
            recognise(&request("### Task:\nGenerate a title"), &off),
            None
        );
    }
}
