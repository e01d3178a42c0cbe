//! `/v1/embeddings` and `/v1/completions` pass through to the routed provider unchanged.

mod support;

use serde_json::{Value, json};
use support::*;

fn embeddings_reply() -> Value {
    json!({"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.1, -0.2, 0.3]}],
           "model": "embed-up", "usage": {"prompt_tokens": 3, "total_tokens": 3}, "x_vendor": true})
}

#[tokio::test]
async fn embeddings_are_forwarded_byte_for_byte() {
    let up = FakeUpstream::start(|req| match req.path.as_str() {
        "/v1/embeddings" => Reply::json(embeddings_reply()),
        _ => Reply::error(404, json!({"error": {"message": "no"}})),
    })
    .await;
    let proxy = start_proxy(&settings_yaml("openai", &up.openai_base(), "")).await;
    let body = json!({"model": "up/text-embedding-3-small", "input": ["hello"], "encoding_format": "float", "dimensions": 3});
    let response = client()
        .post(proxy.url("/v1/embeddings"))
        .json(&body)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-adk-provider"], "up");
    let value: Value = response.json().await.expect("json");
    assert_eq!(value, embeddings_reply());
    let sent = up.last_request();
    assert_eq!(sent.headers["authorization"], "Bearer sk-upstream-secret");
    let mut expected = body.clone();
    expected["model"] = json!("text-embedding-3-small");
    assert_eq!(sent.body, expected, "only the model was renamed");
}

#[tokio::test]
async fn legacy_completions_stream_through_and_errors_keep_status() {
    let up = FakeUpstream::start(|req| {
        if req.body["model"] == "broken" {
            return Reply::Json { status: 429, body: json!({"error": {"message": "slow down", "type": "requests"}}), headers: vec![("retry-after".into(), "4".into())] };
        }
        Reply::Sse(vec![
            Step::Data(json!({"id": "cmpl-1", "object": "text_completion", "choices": [{"text": "fn main", "index": 0, "finish_reason": null}]}).to_string()),
            Step::Data(json!({"id": "cmpl-1", "object": "text_completion", "choices": [{"text": "() {}", "index": 0, "finish_reason": "stop"}]}).to_string()),
            Step::Data("[DONE]".into()),
        ])
    })
    .await;
    let proxy = start_proxy(&settings_yaml("openai", &up.openai_base(), "")).await;
    let response = client()
        .post(proxy.url("/v1/completions"))
        .json(&json!({"prompt": "fn", "suffix": "\n", "stream": true, "max_tokens": 8}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let sse = read_sse(response).await;
    assert!(sse.ends_with_done());
    let text: String = sse
        .json()
        .iter()
        .filter_map(|c| c["choices"][0]["text"].as_str().map(str::to_string))
        .collect();
    assert_eq!(text, "fn main() {}");
    assert_eq!(
        up.last_request().body["model"],
        "test-model",
        "missing model = default model"
    );
    assert_eq!(up.last_request().path, "/v1/completions");

    let limited = client()
        .post(proxy.url("/completions"))
        .json(&json!({"model": "broken", "prompt": "x"}))
        .send()
        .await
        .expect("send");
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["retry-after"], "4");
    let error: Value = limited.json().await.expect("json");
    assert_eq!(error["error"]["message"], "slow down");

    let bad = client()
        .post(proxy.url("/v1/embeddings"))
        .body("[1]")
        .send()
        .await
        .expect("send");
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn ollama_embeddings_use_its_openai_api_and_keys_apply() {
    let up = FakeUpstream::start(|req| match req.path.as_str() {
        "/v1/embeddings" => Reply::json(embeddings_reply()),
        other => Reply::error(404, json!({"error": format!("unexpected {other}")})),
    })
    .await;
    let yaml = format!(
        "{}auth:\n  keys:\n    - name: a\n      key: sk-client\n      models: [\"nomic*\"]\n",
        settings_yaml("ollama", &up.ollama_base(), "").replace("    api_key_env: UP_KEY\n", "")
    );
    let proxy = start_proxy(&yaml).await;
    let denied = client()
        .post(proxy.url("/v1/embeddings"))
        .json(&json!({"model": "nomic-embed-text", "input": "x"}))
        .send()
        .await
        .expect("send");
    assert_eq!(denied.status(), 401);
    let ok = client()
        .post(proxy.url("/v1/embeddings"))
        .bearer_auth("sk-client")
        .json(&json!({"model": "nomic-embed-text", "input": "x"}))
        .send()
        .await
        .expect("send");
    assert_eq!(ok.status(), 200);
    assert_eq!(up.last_request().path, "/v1/embeddings");
    let forbidden = client()
        .post(proxy.url("/v1/embeddings"))
        .bearer_auth("sk-client")
        .json(&json!({"model": "other-model", "input": "x"}))
        .send()
        .await
        .expect("send");
    assert_eq!(forbidden.status(), 403);
}
