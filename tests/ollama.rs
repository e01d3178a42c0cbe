//! Proxy core against Ollama's native NDJSON `/api/chat`.

mod support;

use serde_json::{Value, json};
use support::*;

fn ollama_yaml(up: &FakeUpstream) -> String {
    // Ollama needs no key: drop the api_key_env line of the shared template.
    settings_yaml("ollama", &up.ollama_base(), "").replace("    api_key_env: UP_KEY\n", "")
}

#[tokio::test]
async fn request_is_mapped_to_native_api() {
    let up = FakeUpstream::start(|_| {
        Reply::Ndjson(vec![
            Step::Data(ollama_line(json!({"role":"assistant","content":"ok"}))),
            Step::Data(ollama_done("stop", 1, 1)),
        ])
    })
    .await;
    let proxy = start_proxy(&ollama_yaml(&up)).await;
    let tools = json!([{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]);
    let response = post_chat(&proxy, &json!({
            "model": "llama3.2",
            "stream": true,
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": [{"type": "text", "text": "weather?"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "{\"temp\":3}"}
            ],
            "tools": tools,
            "max_tokens": 64, "temperature": 0.2, "top_p": 0.9, "stop": ["\n\n"], "seed": 42,
            "response_format": {"type": "json_schema", "json_schema": {"name": "w", "schema": {"type": "object"}}},
            "keep_alive": "10m"
        })).await;
    let _ = read_sse(response).await;
    let got = up.last_request();
    assert_eq!(got.path, "/api/chat");
    let body = got.body;
    assert_eq!(body["model"], "llama3.2");
    assert_eq!(body["stream"], true);
    assert_eq!(
        body["options"],
        json!({"num_predict": 64, "temperature": 0.2, "top_p": 0.9, "stop": ["\n\n"], "seed": 42})
    );
    assert_eq!(body["format"], json!({"type": "object"}));
    assert_eq!(body["keep_alive"], "10m", "unknown fields reach Ollama");
    assert_eq!(body["tools"], tools);
    assert_eq!(body["messages"][1]["content"], "weather?");
    assert_eq!(body["messages"][1]["images"], json!(["AAAA"]));
    assert_eq!(
        body["messages"][2]["tool_calls"][0]["function"]["arguments"],
        json!({"city": "Oslo"})
    );
    assert_eq!(body["messages"][3]["tool_name"], "get_weather");
    for absent in ["max_tokens", "response_format", "stop", "temperature"] {
        assert!(
            body.get(absent).is_none(),
            "{absent} was mapped, not copied"
        );
    }
}

#[tokio::test]
async fn stream_maps_text_thinking_tool_calls_finish_and_usage() {
    let up = FakeUpstream::start(|_| {
        Reply::Ndjson(vec![
            Step::Data(ollama_line(
                json!({"role": "assistant", "content": "", "thinking": "hmm "}),
            )),
            Step::Data(ollama_line(
                json!({"role": "assistant", "content": "", "thinking": "ok"}),
            )),
            Step::Data(ollama_line(
                json!({"role": "assistant", "content": "Checking."}),
            )),
            Step::Data(ollama_line(
                json!({"role": "assistant", "content": "", "tool_calls": [
                    {"function": {"name": "get_weather", "arguments": {"city": "Oslo"}}},
                    {"function": {"name": "get_time", "arguments": {}}}
                ]}),
            )),
            Step::Data(ollama_done("stop", 11, 7)),
        ])
    })
    .await;
    let proxy = start_proxy(&ollama_yaml(&up)).await;
    let response = post_chat(&proxy, &json!({"messages": [{"role": "user", "content": "hi"}], "stream": true, "stream_options": {"include_usage": true}})).await;
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let sse = read_sse(response).await;
    assert!(sse.ends_with_done());
    let chunks = sse.json();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(sse.reasoning(), "hmm ok");
    assert_eq!(sse.content(), "Checking.");
    let id = chunks[0]["id"].as_str().expect("id");
    assert!(id.starts_with("chatcmpl-"));
    assert!(chunks.iter().all(|c| c["id"] == id
        && c["created"] == chunks[0]["created"]
        && c["model"] == "llama3.2"));
    let calls = chunks
        .iter()
        .find_map(|c| c["choices"][0]["delta"].get("tool_calls"))
        .expect("tool calls");
    assert_eq!(calls[0]["index"], 0);
    assert_eq!(calls[1]["index"], 1);
    assert_eq!(calls[0]["type"], "function");
    assert_eq!(calls[0]["function"]["arguments"], "{\"city\":\"Oslo\"}");
    assert!(
        calls[0]["id"]
            .as_str()
            .is_some_and(|s| s.starts_with("call_"))
    );
    assert_ne!(calls[0]["id"], calls[1]["id"]);
    let finish: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"].get(0))
        .map(|ch| &ch["finish_reason"])
        .collect();
    assert!(finish[..finish.len() - 1].iter().all(|f| f.is_null()));
    assert_eq!(*finish.last().expect("finish"), "tool_calls");
    let usage_chunk = chunks.last().expect("usage");
    assert_eq!(usage_chunk["choices"], json!([]));
    assert_eq!(
        usage_chunk["usage"],
        json!({"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18})
    );
}

#[tokio::test]
async fn done_reason_length_maps_to_length() {
    let up = FakeUpstream::start(|_| {
        Reply::Ndjson(vec![
            Step::Data(ollama_line(json!({"role":"assistant","content":"a"}))),
            Step::Data(ollama_done("length", 1, 1)),
        ])
    })
    .await;
    let proxy = start_proxy(&ollama_yaml(&up)).await;
    let response = post_chat(
        &proxy,
        &json!({"messages": [{"role": "user", "content": "hi"}], "stream": true}),
    )
    .await;
    let chunks = read_sse(response).await.json();
    assert_eq!(
        chunks.last().expect("last")["choices"][0]["finish_reason"],
        "length"
    );
}

#[tokio::test]
async fn non_stream_is_one_chat_completion() {
    let up = FakeUpstream::start(|_| {
        Reply::json(json!({
            "model": "llama3.2", "created_at": "2026-11-29T00:00:00Z",
            "message": {"role": "assistant", "content": "", "thinking": "plan", "tool_calls": [{"function": {"name": "f", "arguments": {"x": 1}}}]},
            "done": true, "done_reason": "stop", "prompt_eval_count": 3, "eval_count": 4
        }))
    })
    .await;
    let proxy = start_proxy(&ollama_yaml(&up)).await;
    let value: Value = post_chat(
        &proxy,
        &json!({"messages": [{"role": "user", "content": "hi"}]}),
    )
    .await
    .json()
    .await
    .expect("json");
    assert_eq!(up.last_request().body["stream"], false);
    assert_eq!(value["object"], "chat.completion");
    let message = &value["choices"][0]["message"];
    assert_eq!(message["role"], "assistant");
    assert_eq!(message["reasoning_content"], "plan");
    assert_eq!(
        message["tool_calls"][0]["function"]["arguments"],
        "{\"x\":1}"
    );
    assert_eq!(message["tool_calls"][0]["type"], "function");
    assert_eq!(value["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(value["usage"]["total_tokens"], 7);
}

#[tokio::test]
async fn errors_before_and_during_the_stream() {
    let up = FakeUpstream::start(|req| {
        if req.body["model"] == "missing" {
            Reply::error(404, json!({"error": "model \"missing\" not found, try pulling it first"}))
        } else {
            Reply::Ndjson(vec![
                Step::Data(ollama_line(json!({"role":"assistant","content":"par"}))),
                Step::Data(json!({"error": "an error was encountered while running the model: out of memory"}).to_string()),
            ])
        }
    })
    .await;
    let proxy = start_proxy(&ollama_yaml(&up)).await;
    let response = post_chat(&proxy, &json!({"model": "missing", "messages": [{"role": "user", "content": "hi"}], "stream": true})).await;
    assert_eq!(response.status(), 404);
    let value: Value = response.json().await.expect("json");
    assert!(
        value["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("not found"))
    );

    let response = post_chat(
        &proxy,
        &json!({"messages": [{"role": "user", "content": "hi"}], "stream": true}),
    )
    .await;
    let sse = read_sse(response).await;
    assert!(!sse.ends_with_done());
    let last: Value = serde_json::from_str(sse.data.last().expect("data")).expect("json");
    assert!(
        last["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("out of memory"))
    );
    assert_eq!(sse.content(), "par");
}

#[tokio::test]
async fn models_come_from_api_tags() {
    let up = FakeUpstream::start(|req| match req.path.as_str() {
        "/api/tags" => Reply::json(
            json!({"models": [{"name": "mistral:latest", "model": "mistral:latest", "size": 1}]}),
        ),
        _ => Reply::error(404, json!({"error": "no"})),
    })
    .await;
    let proxy = start_proxy(&ollama_yaml(&up)).await;
    let list: Value = get_json(&proxy.url("/v1/models"), None).await;
    assert_eq!(model_ids(&list), ["test-model", "mistral:latest"]);
    assert_eq!(list["data"][1]["owned_by"], "ollama");
}
