//! The scripted OpenAI-format upstream the client-dialect tests share, and the runner for the
//! official SDKs' check scripts (`tests/sdk/*.py`).

use std::path::PathBuf;

use serde_json::{Value, json};

use super::fake_upstream::*;

/// What the scripted upstream behind the dialect tests (Responses, Anthropic Messages) answers,
/// by model and by what the conversation holds: `text`, `reason` (reasoning then an answer),
/// `tools` (a `get_weather` call, then an answer from its result), `long` (stopped at the token
/// limit), `cut` (breaks off mid-stream), `e<status>` (that error), and the shipped agents'
/// steps (`assistant`, `planner`, `router`).
pub fn dialect_upstream(req: &Recorded) -> Reply {
    if req.path.ends_with("/models") {
        return Reply::json(json!({"object": "list", "data": []}));
    }
    let model = req.body["model"].as_str().unwrap_or("");
    let stream = req.body["stream"] == true;
    let messages = req.body["messages"].as_array().cloned().unwrap_or_default();
    let last = messages.last().cloned().unwrap_or(Value::Null);
    let after_tool = last["role"] == "tool";
    if req
        .system()
        .starts_with("You are a helpful, precise assistant.")
    {
        // The shipped `assistant` agent: a client's `lookup` if it offers one, else the server's
        // own `current_time`; then an answer from the result.
        if after_tool {
            let result = last["content"].as_str().unwrap_or("").to_string();
            return text_reply(&format!("Answer from {result}"), 9, 4);
        }
        if req.tool_names().iter().any(|n| n == "lookup") {
            return tool_call_reply(&[("call_lookup", "lookup", json!({"q": "tokyo"}))], 5, 2);
        }
        return tool_call_reply(
            &[(
                "call_time",
                "current_time",
                json!({"timezone": "Asia/Tokyo"}),
            )],
            5,
            2,
        );
    }
    // The shipped `planner` (two steps) and `router` (hands writing to `writing_expert`).
    let system = req.system();
    if system.starts_with("You plan; you do not answer.") {
        return text_reply("1. Say hello", 3, 2);
    }
    if system.starts_with("Answer the user's latest message.") {
        return text_reply("Hello from the planner", 5, 3);
    }
    if system.starts_with("You are the front desk.") {
        return tool_call_reply(
            &[(
                "call_t",
                "transfer_to_agent",
                json!({"agent_name": "writing_expert"}),
            )],
            4,
            1,
        );
    }
    if system.starts_with("You are an experienced editor") {
        return text_reply("Polished.", 6, 2);
    }
    if let Some(status) = model.strip_prefix('e').and_then(|s| s.parse::<u16>().ok()) {
        return Reply::error(
            status,
            json!({"error": {"message": format!("upstream {status}"), "type": "test", "param": null, "code": null}}),
        );
    }
    match (model, stream) {
        ("text", true) => {
            let mut steps = openai_text(&["Hel", "lo!"]);
            steps.insert(steps.len() - 1, Step::Data(usage_chunk(4, 2)));
            Reply::Sse(steps)
        }
        ("text", false) => Reply::json(completion(
            json!({"role": "assistant", "content": "Hello!"}),
            "stop",
        )),
        ("reason", _) => Reply::Sse(vec![
            Step::Data(chunk(
                json!({"role": "assistant", "reasoning_content": "Thinking "}),
                None,
            )),
            Step::Data(chunk(json!({"reasoning_content": "it over."}), None)),
            Step::Data(chunk(json!({"content": "42"}), None)),
            Step::Data(chunk(json!({}), Some("stop"))),
            Step::Data(usage_chunk(7, 5)),
            Step::Data("[DONE]".into()),
        ]),
        ("tools", false) if after_tool => Reply::json(completion(
            json!({"role": "assistant", "content": "It is sunny in Oslo."}),
            "stop",
        )),
        ("tools", false) => Reply::json(completion(
            json!({"role": "assistant", "content": null, "tool_calls": [{"id": "call_w", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}]}),
            "tool_calls",
        )),
        ("tools", _) if after_tool => text_reply("It is sunny in Oslo.", 8, 5),
        ("tools", _) => {
            tool_call_reply(&[("call_w", "get_weather", json!({"city": "Oslo"}))], 6, 3)
        }
        ("long", false) => Reply::json(completion(
            json!({"role": "assistant", "content": "Once"}),
            "length",
        )),
        ("long", true) => Reply::Sse(vec![
            Step::Data(chunk(json!({"role": "assistant", "content": "Once"}), None)),
            Step::Data(chunk(json!({}), Some("length"))),
            Step::Data("[DONE]".into()),
        ]),
        ("cut", _) => Reply::Sse(vec![
            Step::Data(chunk(
                json!({"role": "assistant", "content": "Half an"}),
                None,
            )),
            Step::Sleep(std::time::Duration::from_millis(100)),
            Step::Cut,
        ]),
        _ => Reply::error(
            404,
            json!({"error": {"message": "unknown test model", "type": "test"}}),
        ),
    }
}

/// Runs `script` (a path under the repository) with the venv's Python against the proxy at
/// `base_url`; it must exit 0 and print "all checks passed". Skipped when there is no Python with
/// the SDKs, unless `REQUIRE_OPENAI_SDK=1` (CI) makes that a failure.
pub async fn run_sdk_check(script: &str, base_url: &str) {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let python = std::env::var("ADK_PROXY_PYTHON")
        .map(PathBuf::from)
        .ok()
        .or_else(|| Some(repo.join(".venv/bin/python")).filter(|p| p.exists()));
    let Some(python) = python else {
        assert!(
            std::env::var("REQUIRE_OPENAI_SDK").as_deref() != Ok("1"),
            "REQUIRE_OPENAI_SDK=1 but no Python with the SDKs"
        );
        eprintln!("skipped: no .venv/bin/python; run .ci/run or set ADK_PROXY_PYTHON");
        return;
    };
    let output = tokio::process::Command::new(&python)
        .arg(repo.join(script))
        .env("PROXY_BASE_URL", base_url)
        .env("OPENAI_AGENTS_DISABLE_TRACING", "1")
        .output()
        .await
        .expect("python runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{script} failed:\n{text}");
    assert!(text.contains("all checks passed"), "{script}: {text}");
}
