//! The Responses API (`/v1/responses`) over HTTP, against a scripted OpenAI-format upstream:
//! events and items as the SDKs parse them, agents' steps as items, stored responses and
//! `previous_response_id` across replicas, owners, refusals, and failures before and after the
//! first event. The official clients (the `openai` SDK and the OpenAI Agents SDK) are driven
//! against the same upstream in `responses_sdk_checks_pass` (tests/sdk/responses_check.py,
//! tests/sdk/agents_check.py).

mod support;

use std::path::PathBuf;

use serde_json::{Value, json};
use support::*;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

async fn proxy_for(up: &FakeUpstream, extra: &str) -> Proxy {
    start_proxy(&agent_settings(&up.openai_base(), &repo(), extra)).await
}

async fn create(proxy: &Proxy, body: Value, key: Option<&str>) -> reqwest::Response {
    let mut request = client().post(proxy.url("/v1/responses")).json(&body);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    request.send().await.expect("send")
}

/// `POST /v1/responses`, the body as JSON.
async fn create_json(proxy: &Proxy, body: Value, key: Option<&str>) -> Value {
    create(proxy, body, key).await.json().await.expect("json")
}

/// Events of a Responses stream as (type, data).
async fn events(response: reqwest::Response) -> Vec<(String, Value)> {
    let text = response.text().await.expect("body");
    let mut out = Vec::new();
    for block in text.split("\n\n").filter(|b| !b.trim().is_empty()) {
        let mut kind = String::new();
        let mut data = Value::Null;
        for line in block.lines() {
            if let Some(k) = line.strip_prefix("event: ") {
                kind = k.to_string();
            } else if let Some(d) = line.strip_prefix("data: ") {
                data = serde_json::from_str(d).unwrap_or_else(|_| panic!("json data: {d}"));
            }
        }
        if !kind.is_empty() {
            assert_eq!(data["type"], kind.as_str(), "event name and type agree");
            out.push((kind, data));
        }
    }
    out
}

#[tokio::test]
async fn a_plain_model_streams_as_responses_events_in_order() {
    let up = FakeUpstream::start(dialect_upstream).await;
    let proxy = proxy_for(&up, "").await;
    let response = create(
        &proxy,
        json!({"model": "reason", "input": "hi", "stream": true}),
        None,
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().ok(),
        Some("text/event-stream")
    );
    let events = events(response).await;
    let kinds: Vec<&str> = events.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.reasoning_text.delta",
            "response.reasoning_text.delta",
            "response.reasoning_text.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    for (i, (_, data)) in events.iter().enumerate() {
        assert_eq!(data["sequence_number"], i as u64);
    }
    let done = &events.last().expect("completed").1["response"];
    assert_eq!(done["status"], "completed");
    assert_eq!(done["output"][0]["type"], "reasoning");
    assert_eq!(done["output"][0]["content"][0]["text"], "Thinking it over.");
    assert_eq!(done["output"][1]["content"][0]["text"], "42");
    assert_eq!(done["usage"]["input_tokens"], 7);
    assert_eq!(done["usage"]["output_tokens"], 5);
    // The upstream was asked for usage, in chat completions' shape.
    let sent = up.last_request().body;
    assert_eq!(sent["stream_options"]["include_usage"], true);
    assert_eq!(sent["messages"], json!([{"role": "user", "content": "hi"}]));
}

#[tokio::test]
async fn a_length_stop_is_incomplete_and_a_cut_stream_fails_without_completing() {
    let up = FakeUpstream::start(dialect_upstream).await;
    let proxy = proxy_for(&up, "").await;
    let long = create_json(
        &proxy,
        json!({"model": "long", "input": "hi", "max_output_tokens": 1}),
        None,
    )
    .await;
    assert_eq!(long["status"], "incomplete");
    assert_eq!(long["incomplete_details"]["reason"], "max_output_tokens");
    assert_eq!(long["max_output_tokens"], 1);
    assert_eq!(up.last_request().body["max_tokens"], 1);

    let cut = events(
        create(
            &proxy,
            json!({"model": "cut", "input": "hi", "stream": true}),
            None,
        )
        .await,
    )
    .await;
    let (last, data) = cut.last().expect("events");
    assert_eq!(last, "response.failed");
    assert_eq!(data["response"]["status"], "failed");
    assert!(cut.iter().all(|(k, _)| k != "response.completed"));
    assert!(
        cut.iter()
            .any(|(k, d)| k == "response.output_text.delta" && d["delta"] == "Half an"),
        "what arrived was streamed"
    );
}

#[tokio::test]
async fn failures_before_the_first_event_keep_their_status() {
    let up = FakeUpstream::start(dialect_upstream).await;
    let proxy = proxy_for(&up, "").await;
    for (model, status) in [("e429", 429), ("e400", 400), ("e500", 500)] {
        let response = create(
            &proxy,
            json!({"model": model, "input": "hi", "stream": true}),
            None,
        )
        .await;
        assert_eq!(response.status().as_u16(), status, "{model}");
        let body: Value = response.json().await.expect("json error");
        assert!(body["error"]["message"].is_string(), "{body}");
    }
}

#[tokio::test]
async fn what_cannot_be_honoured_is_refused_with_the_field_named() {
    let up = FakeUpstream::start(dialect_upstream).await;
    let proxy = proxy_for(&up, "").await;
    for (body, param) in [
        (
            json!({"model": "text", "input": "hi", "tools": [{"type": "web_search_preview"}]}),
            "tools[0].type",
        ),
        (
            json!({"model": "text", "input": "hi", "frobnicate": true}),
            "frobnicate",
        ),
        (json!({"model": "text", "input": 5}), "input"),
        (
            json!({"model": "text", "input": "hi", "background": true}),
            "background",
        ),
    ] {
        let response = create(&proxy, body, None).await;
        assert_eq!(response.status(), 400);
        let error: Value = response.json().await.expect("json");
        assert_eq!(error["error"]["param"], param);
    }
    assert!(up.requests().is_empty(), "nothing reached the upstream");
}

#[tokio::test]
async fn an_agents_server_tool_is_an_executed_mcp_call_and_a_client_tool_a_function_call() {
    let up = FakeUpstream::start(dialect_upstream).await;
    let proxy = proxy_for(&up, "").await;
    let response: Value = create_json(
        &proxy,
        json!({"model": "assistant", "input": "Time in Tokyo?"}),
        None,
    )
    .await;
    let output = response["output"].as_array().expect("output");
    let types: Vec<&str> = output.iter().filter_map(|i| i["type"].as_str()).collect();
    assert_eq!(types, ["mcp_call", "message"], "{response}");
    assert_eq!(output[0]["name"], "current_time");
    assert_eq!(output[0]["server_label"], "assistant");
    assert_eq!(output[0]["status"], "completed");
    assert!(
        output[0]["arguments"]
            .as_str()
            .unwrap_or("")
            .contains("Asia/Tokyo")
    );
    assert!(
        output[0]["output"]
            .as_str()
            .unwrap_or("")
            .contains("timezone"),
        "the result rides along"
    );
    assert!(
        output[1]["content"][0]["text"]
            .as_str()
            .unwrap_or("")
            .starts_with("Answer from")
    );

    // A client tool: the agent stops with a function_call for the client to run ...
    let first: Value = create_json(&proxy, json!({"model": "assistant", "input": "Look it up.",
               "tools": [{"type": "function", "name": "lookup", "parameters": {"type": "object"}}]}), None).await;
    let call = first["output"]
        .as_array()
        .and_then(|o| o.iter().find(|i| i["type"] == "function_call"))
        .cloned()
        .expect("function_call");
    assert_eq!(call["name"], "lookup");
    assert_eq!(call["call_id"], "call_lookup");
    // ... and the result, sent with previous_response_id, resumes the same agent.
    let second: Value = create_json(&proxy, json!({"model": "assistant", "previous_response_id": first["id"],
               "input": [{"type": "function_call_output", "call_id": "call_lookup", "output": "Tokyo is in Japan"}],
               "tools": [{"type": "function", "name": "lookup", "parameters": {"type": "object"}}]}), None).await;
    assert_eq!(second["status"], "completed", "{second}");
    let text = second["output"][0]["content"][0]["text"]
        .as_str()
        .unwrap_or("");
    assert_eq!(text, "Answer from Tokyo is in Japan");
    assert_eq!(second["previous_response_id"], first["id"]);
}

#[tokio::test]
async fn each_agents_thinking_is_a_reasoning_item_and_a_hand_over_is_visible() {
    let up = FakeUpstream::start(dialect_upstream).await;
    let proxy = proxy_for(&up, "").await;
    let planner: Value = create_json(
        &proxy,
        json!({"model": "planner", "input": "Say hello"}),
        None,
    )
    .await;
    let output = planner["output"].as_array().expect("output");
    let types: Vec<&str> = output.iter().filter_map(|i| i["type"].as_str()).collect();
    assert_eq!(types, ["reasoning", "message"], "{planner}");
    // The agent is named where clients show reasoning (the summary); the content is plain.
    assert_eq!(
        output[0]["summary"][0]["text"],
        "planning_step: 1. Say hello"
    );
    assert_eq!(output[0]["content"][0]["text"], "1. Say hello");
    assert_eq!(output[1]["content"][0]["text"], "Hello from the planner");
    assert_eq!(planner["usage"]["input_tokens"], 8, "usage of both steps");

    let router: Value = create_json(
        &proxy,
        json!({"model": "router", "input": "Polish my text"}),
        None,
    )
    .await;
    let output = router["output"].as_array().expect("output");
    let types: Vec<&str> = output.iter().filter_map(|i| i["type"].as_str()).collect();
    assert_eq!(types, ["mcp_call", "reasoning", "message"], "{router}");
    assert_eq!(output[0]["name"], "transfer_to_agent");
    assert_eq!(output[0]["server_label"], "router");
    assert_eq!(output[0]["status"], "completed");
    assert!(
        output[1]["summary"][0]["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("router: ")),
        "{router}"
    );
    assert!(
        output[1]["content"][0]["text"]
            .as_str()
            .unwrap_or("")
            .contains("transferring to writing_expert"),
        "{router}"
    );
    assert_eq!(output[2]["content"][0]["text"], "Polished.");
}

#[tokio::test]
async fn open_webui_style_gives_call_and_output_pairs_and_takes_them_back_as_history() {
    let up = FakeUpstream::start(dialect_upstream).await;
    let proxy = proxy_for(&up, "").await;
    let response = client()
        .post(proxy.url("/v1/responses"))
        .header("X-Reasoning-Mode", "open_webui")
        .json(&json!({"model": "assistant", "input": "Time in Tokyo?", "stream": true}))
        .send()
        .await
        .expect("send");
    let events = events(response).await;
    let done = &events.last().expect("completed").1["response"];
    let output = done["output"].as_array().expect("output");
    let types: Vec<&str> = output.iter().filter_map(|i| i["type"].as_str()).collect();
    assert_eq!(
        types,
        ["function_call", "function_call_output", "message"],
        "{done}"
    );
    assert_eq!(output[0]["status"], "completed");
    assert_eq!(output[1]["call_id"], output[0]["call_id"]);
    // A list of input_text parts: Open WebUI 0.12 breaks on a plain string here.
    assert_eq!(output[1]["output"][0]["type"], "input_text");

    // Open WebUI sends the pair back on the next turn: history, not a call to run again.
    let calls_before = up.requests().len();
    let mut input: Vec<Value> = vec![json!({"role": "user", "content": "Time in Tokyo?"})];
    for item in output {
        let mut item = item.clone();
        if let Some(fields) = item.as_object_mut() {
            fields.remove("status");
        }
        input.push(item);
    }
    input.push(json!({"role": "user", "content": "And now?"}));
    let _ = client()
        .post(proxy.url("/v1/responses"))
        .header("X-Reasoning-Mode", "open_webui")
        .json(&json!({"model": "assistant", "input": input, "store": false}))
        .send()
        .await
        .expect("send")
        .json::<Value>()
        .await
        .expect("json");
    let next = &up.requests()[calls_before];
    let roles: Vec<&str> = next.body["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["role"].as_str())
        .collect();
    assert_eq!(
        roles,
        ["system", "user", "assistant", "tool", "assistant", "user"]
    );
}

#[tokio::test]
async fn stored_responses_belong_to_their_key_and_can_be_read_listed_and_deleted() {
    let up = FakeUpstream::start(dialect_upstream).await;
    let keys =
        "auth:\n  keys:\n    - { name: alice, key: sk-alice }\n    - { name: bob, key: sk-bob }\n";
    let proxy = proxy_for(&up, keys).await;
    let created: Value = create_json(&proxy, json!({"model": "text", "input": "hi", "metadata": {"ticket": "7"}, "instructions": "Be kind."}), Some("sk-alice")).await;
    let id = created["id"].as_str().expect("id").to_string();
    assert!(id.starts_with("resp_"));
    assert_eq!(created["metadata"]["ticket"], "7");
    assert_eq!(created["instructions"], "Be kind.");

    let read = get_json(&proxy.url(&format!("/v1/responses/{id}")), Some("sk-alice")).await;
    assert_eq!(read, created);
    let items = get_json(
        &proxy.url(&format!("/v1/responses/{id}/input_items")),
        Some("sk-alice"),
    )
    .await;
    assert_eq!(items["object"], "list");
    assert_eq!(items["data"][0]["content"][0]["text"], "hi");
    assert!(
        items["data"][0]["id"]
            .as_str()
            .is_some_and(|i| i.starts_with("msg_"))
    );

    // Another key sees nothing, and cannot continue from it either.
    let status = |r: reqwest::Response| r.status().as_u16();
    let bob = client()
        .get(proxy.url(&format!("/v1/responses/{id}")))
        .bearer_auth("sk-bob");
    assert_eq!(status(bob.send().await.expect("send")), 404);
    let continued = create(
        &proxy,
        json!({"model": "text", "input": "more", "previous_response_id": id}),
        Some("sk-bob"),
    )
    .await;
    assert_eq!(continued.status(), 404);
    let bob_delete = client()
        .delete(proxy.url(&format!("/v1/responses/{id}")))
        .bearer_auth("sk-bob");
    assert_eq!(status(bob_delete.send().await.expect("send")), 404);

    // Alice continues: the model sees the earlier turn (not its instructions: OpenAI's rule).
    let next: Value = create_json(
        &proxy,
        json!({"model": "text", "input": "again", "previous_response_id": id}),
        Some("sk-alice"),
    )
    .await;
    assert_eq!(next["status"], "completed");
    let sent = up.last_request().body;
    assert_eq!(
        sent["messages"],
        json!([
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "again"},
        ])
    );

    let deleted = client()
        .delete(proxy.url(&format!("/v1/responses/{id}")))
        .bearer_auth("sk-alice")
        .send()
        .await
        .expect("send");
    assert_eq!(
        deleted.json::<Value>().await.expect("json")["deleted"],
        true
    );
    let gone = client()
        .get(proxy.url(&format!("/v1/responses/{id}")))
        .bearer_auth("sk-alice");
    assert_eq!(status(gone.send().await.expect("send")), 404);

    // store: false keeps nothing.
    let unstored: Value = create_json(
        &proxy,
        json!({"model": "text", "input": "hi", "store": false}),
        Some("sk-alice"),
    )
    .await;
    let missing = client()
        .get(proxy.url(&format!(
            "/v1/responses/{}",
            unstored["id"].as_str().unwrap_or("")
        )))
        .bearer_auth("sk-alice");
    assert_eq!(status(missing.send().await.expect("send")), 404);
}

#[tokio::test]
async fn a_response_stored_on_one_replica_continues_on_another() {
    let up = FakeUpstream::start(dialect_upstream).await;
    let dir = std::env::temp_dir().join(format!("adk-responses-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut stores = vec![format!(
        "sessions:\n  store: sqlite\n  sqlite_path: \"{}\"\n",
        dir.join("sessions.db").display()
    )];
    match std::env::var("REDIS_URL") {
        Ok(url) => stores.push(format!(
            "redis:\n  url: \"{url}\"\n  prefix: \"adk-responses-{}:\"\nsessions:\n  store: redis\n",
            std::process::id()
        )),
        Err(_) => assert!(
            std::env::var("REQUIRE_REDIS").as_deref() != Ok("1"),
            "REQUIRE_REDIS=1 but REDIS_URL is not set"
        ),
    }
    for store in stores {
        let one = proxy_for(&up, &store).await;
        let two = proxy_for(&up, &store).await;
        let first: Value = create_json(
            &one,
            json!({"model": "assistant", "input": "Time in Tokyo?"}),
            None,
        )
        .await;
        let next: Value = create_json(
            &two,
            json!({"model": "text", "input": "thanks", "previous_response_id": first["id"]}),
            None,
        )
        .await;
        assert_eq!(next["status"], "completed", "{store}: {next}");
        let sent = up.last_request().body.to_string();
        assert!(
            sent.contains("current_time") && sent.contains("Answer from"),
            "{store}: {sent}"
        );
    }
}

/// The official `openai` SDK (responses.create, .stream, previous_response_id, tool round trip,
/// errors) and the OpenAI Agents SDK (a function tool on a plain model; a proxy agent), in Python.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_sdk_checks_pass() {
    let up = FakeUpstream::start(dialect_upstream).await;
    let proxy = proxy_for(&up, "").await;
    for script in ["tests/sdk/responses_check.py", "tests/sdk/agents_check.py"] {
        run_sdk_check(script, &proxy.url("/v1")).await;
    }
}
