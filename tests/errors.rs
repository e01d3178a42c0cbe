//! Every failure is an OpenAI-shaped error with the right status before the stream, or an
//! in-stream `data: {"error":…}` without `[DONE]` after it.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::*;

async fn post(proxy: &Proxy, body: &str) -> reqwest::Response {
    client()
        .post(proxy.url("/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("send")
}

fn assert_error_shape(body: &Value) {
    let error = &body["error"];
    for key in ["message", "type", "param", "code"] {
        assert!(error.get(key).is_some(), "error.{key} missing in {body}");
    }
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
}

#[tokio::test]
async fn bad_input_is_400_naming_the_field() {
    let up = FakeUpstream::start(|_| Reply::Sse(openai_text(&["x"]))).await;
    let proxy = start_proxy(&settings_yaml("openai", &up.openai_base(), "")).await;
    let cases = [
        ("{not json", Value::Null),
        ("[1,2]", Value::Null),
        (r#"{"model":"m"}"#, json!("messages")),
        (r#"{"messages":[]}"#, json!("messages")),
        (r#"{"messages":"hi"}"#, json!("messages")),
        (
            r#"{"messages":[{"role":"wizard","content":"x"}]}"#,
            json!("messages[0].role"),
        ),
        (
            r#"{"messages":[{"content":"x"}]}"#,
            json!("messages[0].role"),
        ),
        (
            r#"{"messages":[{"role":"user","content":{"a":1}}]}"#,
            json!("messages[0].content"),
        ),
        (
            r#"{"messages":[{"role":"user","content":"x"}],"model":7}"#,
            json!("model"),
        ),
        (
            r#"{"messages":[{"role":"user","content":"x"}],"stream":"yes"}"#,
            json!("stream"),
        ),
        (
            r#"{"messages":[{"role":"user","content":"x"}],"max_tokens":"ten"}"#,
            json!("max_tokens"),
        ),
        (
            r#"{"messages":[{"role":"tool","content":"x"}]}"#,
            json!("messages[0].tool_call_id"),
        ),
    ];
    for (body, param) in cases {
        let response = post(&proxy, body).await;
        assert_eq!(response.status(), 400, "{body}");
        let value: Value = response.json().await.expect("json");
        assert_error_shape(&value);
        assert_eq!(value["error"]["type"], "invalid_request_error");
        assert_eq!(value["error"]["param"], param, "{body}");
    }
    assert!(
        up.requests().is_empty(),
        "bad input never reaches the upstream"
    );
}

#[tokio::test]
async fn oversized_body_is_413() {
    let up = FakeUpstream::start(|_| Reply::Sse(openai_text(&["x"]))).await;
    let yaml = settings_yaml("openai", &up.openai_base(), "")
        .replace("server:\n", "server:\n  max_body_bytes: 1000\n");
    let proxy = start_proxy(&yaml).await;
    let big = json!({"messages": [{"role": "user", "content": "x".repeat(5000)}]}).to_string();
    let response = post(&proxy, &big).await;
    assert_eq!(response.status(), 413);
    assert_error_shape(&response.json().await.expect("json"));
    // Without Content-Length (chunked), the limit still holds.
    let stream = futures_util::stream::iter(vec![Ok::<_, std::io::Error>(big.into_bytes())]);
    let response = client()
        .post(proxy.url("/v1/chat/completions"))
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 413);
}

#[tokio::test]
async fn upstream_http_errors_keep_status_message_and_retry_after() {
    let up = FakeUpstream::start(|req| {
        let status = req.body["model"].as_str().and_then(|m| m.parse::<u16>().ok()).unwrap_or(500);
        let body = json!({"error": {"message": format!("upstream says {status}"), "type": "upstream_type", "param": null, "code": "up_code"}});
        let headers = if status == 429 { vec![("retry-after".to_string(), "17".to_string())] } else { vec![] };
        Reply::Json { status, body, headers }
    })
    .await;
    let proxy = start_proxy(&settings_yaml("openai", &up.openai_base(), "")).await;
    for status in [400u16, 401, 429, 500, 503] {
        for stream in [true, false] {
            let body =
                json!({"model": status.to_string(), "messages": user("hi"), "stream": stream})
                    .to_string();
            let response = post(&proxy, &body).await;
            assert_eq!(response.status().as_u16(), status, "stream={stream}");
            if status == 429 {
                assert_eq!(response.headers()["retry-after"], "17");
            }
            let value: Value = response.json().await.expect("json");
            assert_eq!(value["error"]["message"], format!("upstream says {status}"));
            assert_eq!(value["error"]["code"], "up_code");
        }
    }
}

#[tokio::test]
async fn unreachable_upstream_is_502_and_silent_upstream_is_504() {
    let proxy = proxy_to_nowhere().await;
    for stream in [true, false] {
        let response = post(
            &proxy,
            &json!({"messages": user("hi"), "stream": stream}).to_string(),
        )
        .await;
        assert_eq!(response.status(), 502);
        let value: Value = response.json().await.expect("json");
        assert_eq!(value["error"]["code"], "upstream_unreachable");
    }

    let up = FakeUpstream::start(|_| Reply::Hang).await;
    let extra = "    first_byte_timeout_secs: 0.3\n    response_timeout_secs: 0.3\n";
    let proxy = start_proxy(&settings_yaml("openai", &up.openai_base(), extra)).await;
    for stream in [true, false] {
        let started = std::time::Instant::now();
        let response = post(
            &proxy,
            &json!({"messages": user("hi"), "stream": stream}).to_string(),
        )
        .await;
        assert_eq!(response.status(), 504);
        assert!(started.elapsed() < Duration::from_secs(3));
        let value: Value = response.json().await.expect("json");
        assert_eq!(value["error"]["code"], "upstream_timeout");
    }

    // Headers arrive but the first chunk never does: still 504, not an empty 200.
    let up = FakeUpstream::start(|_| Reply::Sse(vec![Step::Hang])).await;
    let proxy = start_proxy(&settings_yaml("openai", &up.openai_base(), extra)).await;
    let response = post(
        &proxy,
        &json!({"messages": user("hi"), "stream": true}).to_string(),
    )
    .await;
    assert_eq!(response.status(), 504);
}

async fn stream_outcome(steps: Vec<Step>, extra: &str) -> (u16, SseTranscript) {
    let up = FakeUpstream::start(move |_| Reply::Sse(steps.clone())).await;
    let proxy = start_proxy(&settings_yaml("openai", &up.openai_base(), extra)).await;
    let response = post(
        &proxy,
        &json!({"messages": user("hi"), "stream": true}).to_string(),
    )
    .await;
    let status = response.status().as_u16();
    (status, read_sse(response).await)
}

fn started() -> Vec<Step> {
    vec![
        Step::Data(chunk(json!({"role": "assistant", "content": ""}), None)),
        Step::Data(chunk(json!({"content": "partial"}), None)),
    ]
}

#[tokio::test]
async fn failures_after_the_stream_began_become_error_events_without_done() {
    let cases: Vec<(&str, Vec<Step>, &str)> = vec![
        ("cut connection", [started(), vec![Step::Sleep(Duration::from_millis(100)), Step::Cut]].concat(), "upstream_protocol_error"),
        ("closed without [DONE]", started(), "upstream_protocol_error"),
        ("invalid chunk", [started(), vec![Step::Data("{not json".into())]].concat(), "upstream_protocol_error"),
        (
            "error line",
            [started(), vec![Step::Data(json!({"error": {"message": "overloaded", "type": "server_error", "code": "overloaded"}}).to_string())]].concat(),
            "overloaded",
        ),
    ];
    for (name, steps, code) in cases {
        let (status, sse) = stream_outcome(steps, "").await;
        assert_eq!(status, 200, "{name}");
        assert!(
            !sse.ends_with_done(),
            "{name}: no [DONE] after a failure: {}",
            sse.raw
        );
        let last: Value = serde_json::from_str(sse.data.last().expect("events")).expect("json");
        assert_error_shape(&last);
        assert_eq!(last["error"]["code"], code, "{name}");
        let chunks = sse.json();
        assert!(
            chunks.iter().all(|c| c["choices"]
                .get(0)
                .is_none_or(|ch| ch["finish_reason"].is_null())),
            "{name}: no fabricated finish_reason"
        );
        assert_eq!(sse.content(), "partial", "{name}");
    }
}

#[tokio::test]
async fn idle_gap_longer_than_idle_timeout_ends_the_stream_with_an_error() {
    let (status, sse) = stream_outcome(
        [started(), vec![Step::Hang]].concat(),
        "    idle_timeout_secs: 0.3\n",
    )
    .await;
    assert_eq!(status, 200);
    assert!(!sse.ends_with_done());
    let last: Value = serde_json::from_str(sse.data.last().expect("events")).expect("json");
    assert_eq!(last["error"]["code"], "upstream_timeout");
}

#[tokio::test]
async fn first_chunk_error_line_is_an_http_error() {
    let (status, _) = stream_outcome(
        vec![Step::Data(
            json!({"error": {"message": "bad model", "type": "invalid_request_error"}}).to_string(),
        )],
        "",
    )
    .await;
    assert_eq!(status, 502);
}

#[tokio::test]
async fn unknown_paths_methods_and_unavailable_providers_are_openai_errors() {
    let up = FakeUpstream::start(|_| Reply::Sse(openai_text(&["x"]))).await;
    let extra = "  keyless:\n    kind: openai\n    base_url: \"http://127.0.0.1:9/v1\"\n    api_key_env: NOT_SET_ANYWHERE\n";
    let proxy = start_proxy(&settings_yaml("openai", &up.openai_base(), extra)).await;
    let response = client()
        .get(proxy.url("/v1/nope"))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 404);
    assert_error_shape(&response.json().await.expect("json"));
    let response = client()
        .get(proxy.url("/v1/chat/completions"))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 405);
    assert_error_shape(&response.json().await.expect("json"));
    let response = post(
        &proxy,
        &json!({"model": "keyless/m", "messages": user("hi")}).to_string(),
    )
    .await;
    assert_eq!(response.status(), 400);
    let value: Value = response.json().await.expect("json");
    assert!(
        value["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("NOT_SET_ANYWHERE"))
    );
}

#[tokio::test]
async fn hostile_inputs_get_4xx_never_5xx_or_a_hang() {
    let up = FakeUpstream::start(|req| {
        if req.body["stream"] == true {
            Reply::Sse(openai_text(&["x"]))
        } else {
            Reply::json(completion(
                json!({"role": "assistant", "content": "x"}),
                "stop",
            ))
        }
    })
    .await;
    let proxy = start_proxy(&settings_yaml("openai", &up.openai_base(), "")).await;
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let inputs: Vec<String> = vec![
        String::new(),
        "null".into(),
        "\"messages\"".into(),
        "{\"messages\": null}".into(),
        "{\"messages\": [null]}".into(),
        "{\"messages\": [[]]}".into(),
        "{\"messages\": [{\"role\": 1, \"content\": \"x\"}]}".into(),
        "{\"messages\": [{\"role\": \"user\", \"content\": [1, 2]}]}".into(),
        "{\"messages\": [{\"role\": \"assistant\", \"tool_calls\": \"x\"}]}".into(),
        "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"temperature\": 1e999}".into(),
        "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"tools\": [1]}".into(),
        "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"model\": \"\\u0000/\\u0000\"}".into(),
        format!("{{\"messages\": {deep}}}"),
        "\u{feff}{\"messages\": []}".into(),
        "{\"messages\": [{\"role\": \"user\", \"content\": \"\\ud800\"}]}".into(),
    ];
    for input in inputs {
        let response = tokio::time::timeout(Duration::from_secs(5), post(&proxy, &input))
            .await
            .expect("no hang");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        assert!(
            (400..500).contains(&status) || status == 200,
            "{status} for {input:.80}: {text}"
        );
        if status != 200 {
            assert_error_shape(&serde_json::from_str(&text).expect("error body is JSON"));
        }
    }
    // Non-UTF-8 bytes.
    let response = client()
        .post(proxy.url("/v1/chat/completions"))
        .body(vec![0xff, 0xfe, 0x00, 0x7b])
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 400);
}
