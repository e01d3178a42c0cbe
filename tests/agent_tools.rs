//! The built-in tools for agents: `fetch_url`, `calculator`, `read_file`, `http_request` — run
//! by an agent over HTTP against the scripted fake upstream, plus their refusals.

mod support;

use serde_json::{Value, json};
use support::*;

use adk_llm_proxy::event::EventActions;
use adk_llm_proxy::tool::{ToolContext, ToolRegistry, run_tool};

/// Runs one agent turn in which the model calls `tool` with `arguments`, then answers; returns the
/// tool result the model got back.
async fn tool_round(agent_yaml: &str, tool: &str, arguments: Value) -> Value {
    let up = FakeUpstream::start(script(vec![
        tool_call_reply(&[("c1", tool, arguments)], 1, 1),
        text_reply("done", 1, 1),
    ]))
    .await;
    let root = project("tools", &[("agents/worker.yaml", agent_yaml)]);
    let proxy = start_proxy(&agent_settings(&up.openai_base(), &root, "")).await;
    let sse = read_sse(
        post_chat(
            &proxy,
            &json!({"model": "worker", "messages": user("go"), "stream": true}),
        )
        .await,
    )
    .await;
    assert_eq!(sse.content(), "done", "{}", sse.raw);
    let requests = up.requests();
    let last = requests[1].body["messages"]
        .as_array()
        .and_then(|m| m.last().cloned())
        .expect("tool message");
    assert_eq!(last["role"], "tool");
    serde_json::from_str(last["content"].as_str().expect("text")).expect("tool result JSON")
}

/// Runs a tool outside any agent, as the runtime would (time limit, error wrapping).
async fn run_alone(tool: &dyn adk_llm_proxy::tool::Tool, args: Value) -> Value {
    let mut actions = EventActions::default();
    let mut cx = ToolContext {
        state: &Default::default(),
        actions: &mut actions,
        agent_name: "a",
        function_call_id: "c",
    };
    run_tool(tool, args, &mut cx, std::time::Duration::from_secs(2)).await
}

#[tokio::test]
async fn fetch_url_refuses_internal_addresses_unless_allowed() {
    let page = FakeUpstream::start(|_| Reply::Sse(vec![])).await;
    let url = format!("{}/page", page.openai_base().trim_end_matches("/v1"));
    let refused = tool_round(
        "name: worker\ninstruction: research\ntools:\n  - name: fetch_url\n",
        "fetch_url",
        json!({"url": url}),
    )
    .await;
    let error = refused["error"].as_str().expect("error");
    assert!(
        error.contains("refused: '127.0.0.1' resolves to 127.0.0.1"),
        "{error}"
    );
    assert!(page.requests().is_empty(), "nothing was fetched");

    let tool = ToolRegistry::with_builtins()
        .build("fetch_url", &Value::Null)
        .expect("tool");
    for url in [
        "http://10.1.2.3/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:8080/",
        // L5: IPv4 inside IPv6 (compatible, translated, NAT64 — the metadata address too).
        "http://[::127.0.0.1]:8080/",
        "http://[::ffff:0:127.0.0.1]:8080/",
        "http://[64:ff9b::127.0.0.1]:8080/",
        "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/",
        "file:///etc/passwd",
    ] {
        let result = run_alone(tool.as_ref(), json!({"url": url})).await;
        assert!(
            result["error"]
                .as_str()
                .is_some_and(|e| e.contains("refused") || e.contains("only http")),
            "{url}: {result}"
        );
    }
    let limited = ToolRegistry::with_builtins()
        .build("fetch_url", &json!({"allow_hosts": ["*.wikipedia.org"]}))
        .expect("tool");
    let result = run_alone(limited.as_ref(), json!({"url": "https://example.com/"})).await;
    assert!(
        result["error"]
            .as_str()
            .is_some_and(|e| e.contains("allow_hosts")),
        "{result}"
    );
}

#[tokio::test]
async fn fetch_url_reads_an_allowed_page_as_text() {
    let page = FakeUpstream::start(|_| {
        // Served with a non-HTML content type: the doctype alone marks it as a page.
        Reply::Ndjson(vec![Step::Raw(
            "<!DOCTYPE html><html><head><script>x()</script></head><body><h1>Docs</h1><p>Port is 8001 &amp; more.</p></body></html>".into(),
        )])
    })
    .await;
    let url = format!("{}/docs", page.openai_base().trim_end_matches("/v1"));
    let result = tool_round(
        "name: worker\ninstruction: research\ntools:\n  - name: fetch_url\n    args: { allow_private: true, max_bytes: 10000 }\n",
        "fetch_url",
        json!({"url": url}),
    )
    .await;
    assert_eq!(result["status"], 200);
    assert_eq!(result["text"], "Docs\nPort is 8001 & more.");
}

#[tokio::test]
async fn calculator_and_read_file_run_for_an_agent() {
    let result = tool_round(
        "name: worker\ninstruction: math\ntools:\n  - name: calculator\n",
        "calculator",
        json!({"expression": "2 * (3 + 4) ^ 2"}),
    )
    .await;
    assert_eq!(result["result"], 98.0);

    let docs = project(
        "read-file",
        &[("docs/guide.md", "# Guide\nRun it."), ("secret.txt", "no")],
    );
    let yaml = format!(
        "name: worker\ninstruction: read\ntools:\n  - name: read_file\n    args: {{ dirs: [\"{}\"] }}\n",
        docs.join("docs").display()
    );
    let result = tool_round(&yaml, "read_file", json!({"path": "guide.md"})).await;
    assert_eq!(result["content"], "# Guide\nRun it.");
    let escape = tool_round(&yaml, "read_file", json!({"path": "../secret.txt"})).await;
    assert!(
        escape["error"]
            .as_str()
            .is_some_and(|e| e.contains("not a readable file under the allowed directories")),
        "{escape}"
    );
}

#[tokio::test]
async fn http_request_tools_call_the_team_tracker() {
    let tracker = FakeUpstream::start(|req: &Recorded| {
        if req.headers.get("x-api-key").and_then(|v| v.to_str().ok()) != Some("tracker-secret") {
            return Reply::error(401, json!({"error": "no key"}));
        }
        Reply::json(json!({"id": "PRJ-42", "summary": "Login fails", "path": req.path}))
    })
    .await;
    let yaml = format!(
        "name: worker\ninstruction: triage\ntools:\n  - name: http_request\n    args:\n      name: find_issue\n      description: Look up an issue.\n      url: \"{}/api/issues/{{id}}?fields=summary\"\n      parameters:\n        id: {{ type: string, description: Issue id }}\n      headers: {{ X-Api-Key: tracker-secret }}\n",
        tracker.openai_base().trim_end_matches("/v1")
    );
    let result = tool_round(&yaml, "find_issue", json!({"id": "PRJ-42"})).await;
    assert_eq!(result["status"], 200);
    assert_eq!(result["body"]["summary"], "Login fails");
    assert_eq!(tracker.last_request().path, "/api/issues/PRJ-42");

    let error = ToolRegistry::with_builtins()
        .build("http_request", &json!({"name": "t", "description": "d", "url": "https://x/{a}", "parameters": {"a": {"type": "string"}}, "headers_env": {"Authorization": "NO_SUCH_VARIABLE_SET"}}))
        .err()
        .expect("refused");
    assert!(error.contains("NO_SUCH_VARIABLE_SET is not set"), "{error}");
}

/// M5, L10, M6: a path placeholder stays one segment whatever the value, body placeholders are
/// filled once from the template, and reading stops at `max_bytes`.
#[tokio::test]
async fn http_request_keeps_placeholders_in_their_place_and_reads_only_max_bytes() {
    let tracker = FakeUpstream::start(|req: &Recorded| {
        if req.path.starts_with("/big") {
            // 20 MB the tool must not read whole.
            let chunk = "x".repeat(64 * 1024);
            return Reply::Sse((0..320).map(|_| Step::Raw(chunk.clone())).collect());
        }
        Reply::json(json!({"path": req.path, "body": req.body}))
    })
    .await;
    let base = tracker.openai_base().trim_end_matches("/v1").to_string();
    let tool = |url: String, body: Option<&str>, max_bytes: usize| {
        let mut args = json!({"name": "t", "description": "d", "url": url, "method": "POST",
            "max_bytes": max_bytes,
            "parameters": {"id": {"type": "string"}, "q": {"type": "string"}}});
        if let Some(body) = body {
            args["body"] = json!(body);
        }
        ToolRegistry::with_builtins()
            .build("http_request", &args)
            .expect("builds")
    };
    let issues = tool(
        format!("{base}/api/issues/{{id}}/comments"),
        Some(r#"{"id":"{id}","q":"{q}"}"#),
        100_000,
    );
    for dots in ["..", "."] {
        let refused = run_alone(issues.as_ref(), json!({"id": dots, "q": "x"})).await;
        assert!(
            refused["error"]
                .as_str()
                .is_some_and(|e| e.contains("path segment")),
            "{dots}: {refused}"
        );
    }
    let slash = run_alone(issues.as_ref(), json!({"id": "a/../../b", "q": "x"})).await;
    assert_eq!(
        slash["body"]["path"],
        "/api/issues/a%2F..%2F..%2Fb/comments"
    );
    // A value that looks like another placeholder is sent as it is.
    let once = run_alone(issues.as_ref(), json!({"id": "x", "q": "{id}"})).await;
    assert_eq!(
        once["body"]["body"],
        json!({"id": "x", "q": "{id}"}),
        "{once}"
    );

    let big = tool(format!("{base}/big/{{id}}"), None, 1000);
    let read = run_alone(big.as_ref(), json!({"id": "1"})).await;
    assert_eq!(read["truncated"], true, "{read}");
    assert_eq!(read["body"].as_str().map(str::len), Some(1000), "{read}");
    let started = std::time::Instant::now();
    while tracker.streams_dropped_early() == 0 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "the tool stopped reading and closed the connection"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// L4: a FIFO under an allowed directory is refused at once instead of blocking a thread.
#[tokio::test]
async fn read_file_refuses_a_fifo_without_blocking() {
    let dir = project("fifo", &[("docs/guide.md", "ok")]).join("docs");
    let fifo = dir.join("pipe");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let tool = ToolRegistry::with_builtins()
        .build("read_file", &json!({"dirs": [dir.display().to_string()]}))
        .expect("tool");
    let started = std::time::Instant::now();
    let result = run_alone(tool.as_ref(), json!({"path": "pipe"})).await;
    assert!(
        result["error"]
            .as_str()
            .is_some_and(|e| e.contains("not a regular file")),
        "{result}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
}
