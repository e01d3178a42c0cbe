//! MCP toolsets over stdio (a small Python server, tests/mcp/stdio_server.py) and streamable HTTP
//! (a small server in this file), used by an agent through the proxy.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use support::*;

fn tool_message(request: &Recorded) -> Value {
    request.body["messages"]
        .as_array()
        .and_then(|m| m.last().cloned())
        .expect("last message")
}

async fn ask(proxy: &Proxy, text: &str) -> SseTranscript {
    read_sse(
        post_chat(
            proxy,
            &json!({"model": "worker", "messages": user(text), "stream": true}),
        )
        .await,
    )
    .await
}

#[tokio::test]
async fn stdio_server_tools_are_listed_called_reused_and_restarted() {
    let up = FakeUpstream::start(script(vec![
        tool_call_reply(&[("c1", "add", json!({"a": 2, "b": 3}))], 1, 1),
        text_reply("five", 1, 1),
        tool_call_reply(&[("c2", "echo_env", json!({}))], 1, 1),
        text_reply("greeted", 1, 1),
        tool_call_reply(&[("c3", "crash", json!({}))], 1, 1),
        text_reply("it crashed", 1, 1),
        tool_call_reply(&[("c4", "add", json!({"a": 1, "b": 1}))], 1, 1),
        text_reply("two", 1, 1),
        tool_call_reply(&[("c5", "slow", json!({}))], 1, 1),
        text_reply("gave up", 1, 1),
    ]))
    .await;
    let root = project("mcp-stdio", &[]);
    let starts = root.join("starts");
    let server = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mcp/stdio_server.py");
    std::fs::write(
        root.join("agents/worker.yaml"),
        format!(
            "name: worker\ninstruction: use tools\ntools:\n  - name: mcp\n    args:\n      name: calc\n      command: python3\n      args: [\"{server}\"]\n      env: {{ MCP_GREETING: hello, MCP_STARTS_FILE: \"{}\" }}\n      tool_filter: [add, echo_env, slow, crash]\n      timeout_secs: 2\n",
            starts.display()
        ),
    )
    .expect("agent");
    let proxy = start_proxy(&agent_settings(&up.openai_base(), &root, "")).await;
    let starts_count = || {
        std::fs::read_to_string(&starts)
            .unwrap_or_default()
            .lines()
            .count()
    };

    assert_eq!(ask(&proxy, "2+3").await.content(), "five");
    let requests = up.requests();
    assert_eq!(
        requests[0].tool_names(),
        ["add", "echo_env", "slow", "crash"],
        "hidden is filtered out"
    );
    assert_eq!(
        requests[0].body["tools"][0]["function"]["parameters"]["required"],
        json!(["a", "b"])
    );
    assert_eq!(tool_message(&requests[1])["content"], "{\"result\":\"5\"}");

    assert_eq!(ask(&proxy, "greet").await.content(), "greeted");
    assert_eq!(
        tool_message(&up.requests()[3])["content"],
        "{\"result\":\"hello\"}"
    );
    assert_eq!(starts_count(), 1, "one server process serves every request");

    assert_eq!(ask(&proxy, "crash it").await.content(), "it crashed");
    let crashed = tool_message(&up.requests()[5]);
    assert!(
        crashed["content"].as_str().expect("text").contains("error"),
        "{crashed}"
    );
    assert_eq!(ask(&proxy, "1+1").await.content(), "two");
    assert_eq!(
        tool_message(&up.requests()[7])["content"],
        "{\"result\":\"2\"}"
    );
    assert_eq!(starts_count(), 2, "the crashed server was started again");

    let started = Instant::now();
    assert_eq!(ask(&proxy, "slow").await.content(), "gave up");
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "a hanging server does not hang the request"
    );
    let slow = tool_message(&up.requests()[9]);
    assert!(
        slow["content"]
            .as_str()
            .expect("text")
            .contains("did not answer within 2 s"),
        "{slow}"
    );
}

/// A streamable-HTTP MCP server with one tool, `lookup`; records the headers it saw.
async fn start_http_server(seen: Arc<Mutex<Vec<HeaderMap>>>) -> String {
    let app = axum::Router::new().route(
        "/mcp",
        axum::routing::post(move |headers: HeaderMap, Json(message): Json<Value>| {
            let seen = seen.clone();
            async move {
                seen.lock().expect("lock").push(headers);
                let id = message.get("id").cloned();
                let method = message["method"].as_str().unwrap_or("").to_string();
                let Some(id) = id else {
                    return StatusCode::ACCEPTED.into_response();
                };
                let result = match method.as_str() {
                    "initialize" => json!({"protocolVersion": message["params"]["protocolVersion"],
                        "capabilities": {"tools": {}}, "serverInfo": {"name": "test-http", "version": "1.0"}}),
                    "tools/list" => json!({"tools": [{"name": "lookup", "description": "Looks a word up.",
                        "inputSchema": {"type": "object", "properties": {"q": {"type": "string"}}}}]}),
                    "tools/call" => json!({"content": [{"type": "text",
                        "text": format!("found {}", message["params"]["arguments"]["q"].as_str().unwrap_or(""))}]}),
                    _ => json!({}),
                };
                let mut response: Response = Json(json!({"jsonrpc": "2.0", "id": id, "result": result})).into_response();
                response.headers_mut().insert("mcp-session-id", "session-1".parse().expect("header"));
                response
            }
        })
        .get(|| async { StatusCode::METHOD_NOT_ALLOWED })
        .delete(|| async { StatusCode::OK }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}/mcp")
}

#[tokio::test]
async fn http_server_tools_work_and_dead_servers_do_not_stop_the_agent() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let url = start_http_server(seen.clone()).await;
    let up = FakeUpstream::start(script(vec![
        tool_call_reply(&[("h1", "lookup", json!({"q": "rust"}))], 1, 1),
        text_reply("found it", 1, 1),
        text_reply("answered without tools", 1, 1),
    ]))
    .await;
    let root = project(
        "mcp-http",
        &[(
            "agents/worker.yaml",
            &format!(
                "name: worker\ninstruction: look up\ntools:\n  - name: mcp\n    args:\n      url: \"{url}\"\n      headers: {{ X-Team: qa }}\n"
            ),
        )],
    );
    let proxy = start_proxy(&agent_settings(&up.openai_base(), &root, "")).await;
    assert_eq!(ask(&proxy, "look up rust").await.content(), "found it");
    let requests = up.requests();
    assert_eq!(requests[0].tool_names(), ["lookup"]);
    assert_eq!(
        tool_message(&requests[1])["content"],
        "{\"result\":\"found rust\"}"
    );
    let headers = seen.lock().expect("lock").clone();
    assert!(
        headers
            .iter()
            .all(|h| h.get("x-team").is_some_and(|v| v == "qa")),
        "custom header on every request"
    );

    // An MCP server that cannot be reached: the agent answers without its tools, promptly.
    let dead = project(
        "mcp-dead",
        &[(
            "agents/worker.yaml",
            &format!(
                "name: worker\ninstruction: look up\ntools:\n  - name: mcp\n    args:\n      url: \"http://127.0.0.1:{}/mcp\"\n      timeout_secs: 2\n",
                unused_port()
            ),
        )],
    );
    let proxy = start_proxy(&agent_settings(&up.openai_base(), &dead, "")).await;
    let started = Instant::now();
    assert_eq!(
        ask(&proxy, "anything").await.content(),
        "answered without tools"
    );
    assert!(started.elapsed() < Duration::from_secs(6));
    assert!(up.last_request().tool_names().is_empty());
}
