//! Compatibility with the official `openai` Python SDK (tests/sdk/openai_sdk_check.py).
//!
//! The interpreter is `$ADK_PROXY_PYTHON`, else `.venv/bin/python` (made by `.ci/run`). Without
//! one the test is skipped with a notice, unless `REQUIRE_OPENAI_SDK=1` (set by CI) makes that a
//! failure, so CI can never pass by skipping it.

mod support;

use std::path::PathBuf;

use serde_json::json;
use support::*;

fn python() -> Option<PathBuf> {
    if let Ok(path) = std::env::var("ADK_PROXY_PYTHON") {
        return Some(PathBuf::from(path));
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    venv.exists().then_some(venv)
}

fn script(req: &Recorded) -> Reply {
    if req.path.ends_with("/models") {
        return Reply::json(
            json!({"object": "list", "data": [{"id": "up-a", "object": "model", "created": 1, "owned_by": "org"}]}),
        );
    }
    // The shipped `planner` agent's two steps, told apart by their instructions.
    let system = req.system();
    if system.starts_with("You plan; you do not answer.") {
        let mut steps = openai_text(&["1. Say hello", "\n2. Be brief"]);
        steps.insert(steps.len() - 1, Step::Data(usage_chunk(3, 2)));
        return Reply::Sse(steps);
    }
    if system.starts_with("Answer the user's latest message.") {
        let mut steps = openai_text(&["Hello from ", "the planner"]);
        steps.insert(steps.len() - 1, Step::Data(usage_chunk(5, 3)));
        return Reply::Sse(steps);
    }
    let model = req.body["model"].as_str().unwrap_or("");
    let stream = req.body["stream"] == true;
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
        ("tools", true) => Reply::Sse(vec![
            Step::Data(chunk(json!({"role": "assistant", "content": null}), None)),
            Step::Data(chunk(
                json!({"tool_calls": [{"index": 0, "id": "call_abc", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]}),
                None,
            )),
            Step::Data(chunk(
                json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\":"}}]}),
                None,
            )),
            Step::Data(chunk(
                json!({"tool_calls": [{"index": 0, "function": {"arguments": "\"Oslo\"}"}}]}),
                None,
            )),
            Step::Data(chunk(json!({}), Some("tool_calls"))),
            Step::Data("[DONE]".into()),
        ]),
        // llama.cpp's server (chatml-function-calling) repeats id, type and the whole name in
        // every fragment; the proxy sends them once.
        ("llama", true) => {
            let fragment = |arguments: &str| {
                Step::Data(chunk(
                    json!({"tool_calls": [{"index": 0, "id": "call__0_get_weather_cmpl-1",
                        "type": "function", "function": {"name": "get_weather", "arguments": arguments}}]}),
                    None,
                ))
            };
            Reply::Sse(vec![
                Step::Data(chunk(json!({"role": "assistant", "content": null}), None)),
                fragment("{\"city\":"),
                fragment(" \"Oslo\""),
                fragment("}"),
                Step::Data(chunk(json!({}), Some("tool_calls"))),
                Step::Data("[DONE]".into()),
            ])
        }
        ("tools", false) => Reply::json(completion(
            json!({"role": "assistant", "content": null, "tool_calls": [{"id": "call_abc", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}]}),
            "tool_calls",
        )),
        ("reason", _) => Reply::Sse(vec![
            Step::Data(chunk(
                json!({"role": "assistant", "reasoning_content": "Thinking "}),
                None,
            )),
            Step::Data(chunk(json!({"reasoning_content": "it over."}), None)),
            Step::Data(chunk(json!({"content": "42"}), None)),
            Step::Data(chunk(json!({}), Some("stop"))),
            Step::Data("[DONE]".into()),
        ]),
        _ => Reply::error(
            404,
            json!({"error": {"message": "unknown test model", "type": "test"}}),
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_openai_python_sdk_works_against_the_proxy() {
    let Some(python) = python() else {
        assert!(
            std::env::var("REQUIRE_OPENAI_SDK").as_deref() != Ok("1"),
            "REQUIRE_OPENAI_SDK=1 but no Python with the openai SDK (.venv/bin/python or ADK_PROXY_PYTHON)"
        );
        eprintln!(
            "skipped: no .venv/bin/python with the openai SDK; run .ci/run or set ADK_PROXY_PYTHON"
        );
        return;
    };
    let up = FakeUpstream::start(script).await;
    // The repository's own agents, so the SDK also meets the shipped `planner`.
    let proxy = start_proxy(&agent_settings(
        &up.openai_base(),
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")),
        "",
    ))
    .await;
    let script_path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/openai_sdk_check.py");
    let output = tokio::process::Command::new(&python)
        .arg(&script_path)
        .env("PROXY_BASE_URL", proxy.url("/v1"))
        .output()
        .await
        .expect("python runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "openai SDK checks failed:\n{text}");
    assert!(text.contains("all checks passed"), "{text}");
}
