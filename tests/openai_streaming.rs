//! Proxy core against an OpenAI-compatible upstream: streaming fidelity, tools, reasoning,
//! routing, buffering, disconnects, keep-alives and the model list.

mod support;

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};
use support::*;

#[tokio::test]
async fn stream_keeps_openai_contract_and_unknown_fields() {
    let up = FakeUpstream::start(|_| {
        let mut steps = vec![
            Step::Raw(": upstream comment\n\n".into()),
            // No role in the first chunk, a vendor field in the delta, `created` drifting.
            Step::Data(chunk(json!({"content": "Hel", "x_vendor": {"k": 1}}), None)),
        ];
        let mut later: Value =
            serde_json::from_str(&chunk(json!({"content": "lo"}), None)).expect("json");
        later["created"] = json!(1700000099);
        steps.push(Step::Data(later.to_string()));
        steps.push(Step::Data(chunk(json!({}), Some("stop"))));
        steps.push(Step::Data("[DONE]".into()));
        Reply::Sse(steps)
    })
    .await;
    let proxy = start_proxy(&settings_yaml("openai", &up.openai_base(), "")).await;
    let response = post_chat(
        &proxy,
        &json!({"model": "gpt-x", "messages": user("hi"), "stream": true}),
    )
    .await;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "text/event-stream");
    assert_eq!(headers["cache-control"], "no-cache");
    assert_eq!(headers["x-accel-buffering"], "no");
    let sse = read_sse(response).await;
    assert!(!sse.raw.contains("event:"), "no event lines: {}", sse.raw);
    assert!(sse.ends_with_done());
    let chunks = sse.json();
    assert_eq!(chunks.len(), 3);
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(chunks[0]["choices"][0]["delta"]["x_vendor"]["k"], 1);
    assert_eq!(chunks[0]["system_fingerprint"], "fp_test");
    for (i, c) in chunks.iter().enumerate() {
        assert_eq!(c["id"], "chatcmpl-up1");
        assert_eq!(c["created"], 1700000000, "created stable");
        assert_eq!(c["model"], "up-model");
        assert_eq!(c["object"], "chat.completion.chunk");
        let finish = &c["choices"][0]["finish_reason"];
        if i + 1 < chunks.len() {
            assert!(finish.is_null(), "finish_reason null before the end");
        } else {
            assert_eq!(finish, "stop");
        }
    }
    assert_eq!(sse.content(), "Hello");
}

#[tokio::test]
async fn request_fields_reach_upstream_unchanged_and_nothing_is_invented() {
    let up = FakeUpstream::start(|_| Reply::Sse(openai_text(&["ok"]))).await;
    let proxy = start_proxy(&settings_yaml("openai", &up.openai_base(), "")).await;
    let body = json!({
        "model": "up/gpt-x",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}], "name": "ann"}],
        "stream": true,
        "temperature": 0.3,
        "x_custom": {"nested": [1, 2, 3]},
        "metadata": {"chat_id": "c1"}
    });
    let response = post_chat(&proxy, &body).await;
    let _ = read_sse(response).await;
    let got = up.last_request();
    assert_eq!(got.path, "/v1/chat/completions");
    assert_eq!(got.headers["authorization"], "Bearer sk-upstream-secret");
    let mut expected = body.clone();
    expected["model"] = json!("gpt-x");
    assert_eq!(
        got.body, expected,
        "upstream saw exactly the client's body, model renamed"
    );
}

#[tokio::test]
async fn include_usage_ends_with_usage_chunk_even_when_upstream_glues_it() {
    let up = FakeUpstream::start(|req| {
        if req.body["model"] == "glued" {
            let mut last: Value =
                serde_json::from_str(&chunk(json!({}), Some("stop"))).expect("json");
            last["usage"] = json!({"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6});
            Reply::Sse(vec![
                Step::Data(chunk(json!({"role": "assistant", "content": "a"}), None)),
                Step::Data(last.to_string()),
                Step::Data("[DONE]".into()),
            ])
        } else {
            let mut steps = openai_text(&["a"]);
            steps.insert(steps.len() - 1, Step::Data(usage_chunk(4, 2)));
            Reply::Sse(steps)
        }
    })
    .await;
    let proxy = start_proxy(&settings_yaml("openai", &up.openai_base(), "")).await;
    for model in ["standard", "glued"] {
        let response = post_chat(&proxy, &json!({"model": model, "messages": user("hi"), "stream": true, "stream_options": {"include_usage": true}})).await;
        let sse = read_sse(response).await;
        assert!(sse.ends_with_done(), "{model}");
        let chunks = sse.json();
        let last = chunks.last().expect("chunks");
        assert_eq!(
            last["choices"],
            json!([]),
            "{model}: usage chunk has no choices"
        );
        assert_eq!(last["usage"]["total_tokens"], 6, "{model}");
        assert!(
            chunks[..chunks.len() - 1]
                .iter()
                .all(|c| c.get("usage").is_none()),
            "{model}: usage only once"
        );
    }
    assert_eq!(
        up.requests()[0].body["stream_options"]["include_usage"],
        true
    );
}

#[tokio::test]
async fn client_tool_calls_pass_through_streaming_and_not() {
    let call_start = json!({"tool_calls": [{"index": 0, "id": "call_abc", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]});
    let frag1 = json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"ci"}}]});
    let frag2 = json!({"tool_calls": [{"index": 0, "function": {"arguments": "ty\":\"Oslo\"}"}}]});
    let second = json!({"tool_calls": [{"index": 1, "id": "call_def", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}]});
    let up = FakeUpstream::start(move |req| {
        if req.body["stream"] == true {
            Reply::Sse(vec![
                Step::Data(chunk(json!({"role": "assistant", "content": null}), None)),
                Step::Data(chunk(call_start.clone(), None)),
                Step::Data(chunk(frag1.clone(), None)),
                Step::Data(chunk(frag2.clone(), None)),
                Step::Data(chunk(second.clone(), None)),
                Step::Data(chunk(json!({}), Some("tool_calls"))),
                Step::Data("[DONE]".into()),
            ])
        } else {
            Reply::json(completion(
                json!({"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_abc", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}
                ]}),
                "tool_calls",
            ))
        }
    })
    .await;
    let proxy = start_proxy(&settings_yaml("openai", &up.openai_base(), "")).await;
    let tools = json!([{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]);
    let response = post_chat(
        &proxy,
        &json!({"messages": user("weather?"), "stream": true, "tools": tools}),
    )
    .await;
    let chunks = read_sse(response).await.json();
    let calls: Vec<Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"].get("tool_calls").cloned())
        .collect();
    assert_eq!(calls.len(), 4);
    assert_eq!(
        calls[0][0],
        json!({"index": 0, "id": "call_abc", "type": "function", "function": {"name": "get_weather", "arguments": ""}})
    );
    let args: String = calls[..3]
        .iter()
        .filter_map(|c| c[0]["function"]["arguments"].as_str().map(str::to_string))
        .collect();
    assert_eq!(args, "{\"city\":\"Oslo\"}");
    assert_eq!(calls[3][0]["index"], 1);
    assert_eq!(calls[3][0]["id"], "call_def");
    assert_eq!(
        chunks.last().expect("last")["choices"][0]["finish_reason"],
        "tool_calls"
    );
    assert_eq!(up.last_request().body["tools"], tools, "tools forwarded");

    let whole: Value = post_chat(
        &proxy,
        &json!({"messages": user("weather?"), "tools": tools}),
    )
    .await
    .json()
    .await
    .expect("json");
    assert_eq!(whole["choices"][0]["finish_reason"], "tool_calls");
    assert!(whole["choices"][0]["message"]["content"].is_null());
    assert_eq!(
        whole["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
        "{\"city\":\"Oslo\"}"
    );
    assert_eq!(whole["system_fingerprint"], "fp_test");
    assert_eq!(whole["usage"]["total_tokens"], 12);
}

#[tokio::test]
async fn reasoning_reaches_client_as_reasoning_content() {
    let up = FakeUpstream::start(|req| {
        let field = if req.body["model"] == "openrouter-style" {
            "reasoning"
        } else {
            "reasoning_content"
        };
        if req.body["stream"] == true {
            Reply::Sse(vec![
                Step::Data(chunk(
                    json!({"role": "assistant", field: "Let me think. "}),
                    None,
                )),
                Step::Data(chunk(json!({field: "Done."}), None)),
                Step::Data(chunk(json!({"content": "42"}), None)),
                Step::Data(chunk(json!({}), Some("stop"))),
                Step::Data("[DONE]".into()),
            ])
        } else {
            Reply::json(completion(
                json!({"role": "assistant", "content": "42", field: "Thought."}),
                "stop",
            ))
        }
    })
    .await;
    let proxy = start_proxy(&settings_yaml("openai", &up.openai_base(), "")).await;
    for model in ["deepseek-style", "openrouter-style"] {
        let response = post_chat(
            &proxy,
            &json!({"model": model, "messages": user("?"), "stream": true}),
        )
        .await;
        let sse = read_sse(response).await;
        assert_eq!(sse.reasoning(), "Let me think. Done.", "{model}");
        assert_eq!(sse.content(), "42");
        assert!(
            !sse.raw.contains("\"reasoning\""),
            "{model}: renamed, not duplicated"
        );

        let whole: Value = post_chat(&proxy, &json!({"model": model, "messages": user("?")}))
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(
            whole["choices"][0]["message"]["reasoning_content"], "Thought.",
            "{model}"
        );
        assert!(whole["choices"][0]["message"].get("reasoning").is_none());
    }
}

#[tokio::test]
async fn model_routing_by_provider_prefix_default_and_missing() {
    let default_up = FakeUpstream::start(|_| Reply::Sse(openai_text(&["from default"]))).await;
    let other_up = FakeUpstream::start(|_| Reply::Sse(openai_text(&["from other"]))).await;
    let extra = format!(
        "  other:\n    kind: openai\n    base_url: \"{}\"\n    default_model: other-default\n",
        other_up.openai_base()
    );
    let proxy = start_proxy(&settings_yaml("openai", &default_up.openai_base(), &extra)).await;
    let ask = |model: Option<&str>| {
        let mut body = json!({"messages": user("hi"), "stream": true});
        if let Some(model) = model {
            body["model"] = json!(model);
        }
        client()
            .post(proxy.url("/v1/chat/completions"))
            .json(&body)
            .send()
    };
    assert_eq!(
        read_sse(ask(Some("other/m-1")).await.expect("send"))
            .await
            .content(),
        "from other"
    );
    assert_eq!(other_up.last_request().body["model"], "m-1");
    assert!(
        other_up
            .last_request()
            .headers
            .get("authorization")
            .is_none(),
        "no key configured, none sent"
    );
    assert_eq!(
        read_sse(ask(Some("vendor/model")).await.expect("send"))
            .await
            .content(),
        "from default"
    );
    assert_eq!(
        default_up.last_request().body["model"],
        "vendor/model",
        "unknown prefix goes to default as is"
    );
    let _ = read_sse(ask(None).await.expect("send")).await;
    assert_eq!(
        default_up.last_request().body["model"],
        "test-model",
        "missing model = default model"
    );
    let _ = read_sse(ask(Some("other/")).await.expect("send")).await;
    assert_eq!(other_up.last_request().body["model"], "other-default");
}

#[tokio::test]
async fn chunks_are_not_buffered() {
    let mut steps = vec![Step::Data(chunk(
        json!({"role": "assistant", "content": ""}),
        None,
    ))];
    for i in 0..5 {
        steps.push(Step::Sleep(Duration::from_millis(200)));
        steps.push(Step::Data(chunk(
            json!({"content": format!("t{i} ")}),
            None,
        )));
    }
    steps.push(Step::Data(chunk(json!({}), Some("stop"))));
    steps.push(Step::Data("[DONE]".into()));
    let up = FakeUpstream::start(move |_| Reply::Sse(steps.clone())).await;
    let proxy = start_proxy(&settings_yaml("openai", &up.openai_base(), "")).await;
    let response = post_chat(&proxy, &json!({"messages": user("hi"), "stream": true})).await;
    let mut body = response.bytes_stream();
    let mut arrivals: Vec<(Instant, String)> = Vec::new();
    let mut pending = String::new();
    while let Some(Ok(bytes)) = body.next().await {
        pending.push_str(&String::from_utf8_lossy(&bytes));
        while let Some(end) = pending.find("\n\n") {
            let event: String = pending.drain(..end + 2).collect();
            if let Some(start) = event.find("\"t") {
                arrivals.push((Instant::now(), event[start + 1..start + 3].to_string()));
            }
        }
    }
    let sent = up.sent_at();
    assert_eq!(arrivals.len(), 5);
    for (k, (arrived, token)) in arrivals.iter().enumerate() {
        assert_eq!(token, &format!("t{k}"));
        // Script index of content k: role chunk at 0, then sleep/data pairs → data at 2 + 2k.
        if k + 1 < arrivals.len() {
            let (next_sent, _) = sent
                .iter()
                .find(|(_, i)| *i == 2 + 2 * (k + 1))
                .expect("next content was sent");
            assert!(
                arrived < next_sent,
                "chunk t{k} must reach the client before the upstream sends t{}",
                k + 1
            );
        }
    }
}

#[tokio::test]
async fn client_disconnect_closes_upstream_connection() {
    let mut steps = openai_text(&["a"]);
    steps.truncate(2);
    for _ in 0..100 {
        steps.push(Step::Sleep(Duration::from_millis(50)));
        steps.push(Step::Data(chunk(json!({"content": "."}), None)));
    }
    let up = FakeUpstream::start(move |_| Reply::Sse(steps.clone())).await;
    let proxy = start_proxy(&settings_yaml("openai", &up.openai_base(), "")).await;
    let response = post_chat(&proxy, &json!({"messages": user("hi"), "stream": true})).await;
    let mut body = response.bytes_stream();
    let _ = body.next().await;
    let _ = body.next().await;
    drop(body);
    let left = Instant::now();
    while up.streams_dropped_early() == 0 {
        assert!(
            left.elapsed() < Duration::from_secs(1),
            "upstream still streaming 1 s after the client left"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn keep_alive_comments_while_upstream_is_silent() {
    let up = FakeUpstream::start(|_| {
        let mut steps = openai_text(&["a", "b"]);
        steps.insert(2, Step::Sleep(Duration::from_millis(700)));
        Reply::Sse(steps)
    })
    .await;
    let yaml = settings_yaml("openai", &up.openai_base(), "")
        .replace("keepalive_secs: 15", "keepalive_secs: 0.2");
    let proxy = start_proxy(&yaml).await;
    let response = post_chat(&proxy, &json!({"messages": user("hi"), "stream": true})).await;
    let sse = read_sse(response).await;
    let count = sse.raw.matches(": keep-alive\n\n").count();
    assert!(
        (2..=4).contains(&count),
        "expected keep-alives during 700 ms of silence, got {count}: {}",
        sse.raw
    );
    assert_eq!(sse.content(), "ab");
    assert!(sse.ends_with_done());
}

#[tokio::test]
async fn models_list_get_and_routes_without_v1() {
    let up = FakeUpstream::start(|req| match req.path.as_str() {
        "/v1/models" => Reply::json(json!({"object": "list", "data": [
            {"id": "up-a", "object": "model", "created": 1, "owned_by": "org", "x_extra": true}
        ]})),
        _ => Reply::Sse(openai_text(&["x"])),
    })
    .await;
    let proxy = start_proxy(&settings_yaml("openai", &up.openai_base(), "")).await;
    for prefix in ["/v1", ""] {
        let list: Value = get_json(&proxy.url(&format!("{prefix}/models")), None).await;
        assert_eq!(list["object"], "list");
        assert_eq!(model_ids(&list), ["test-model", "up-a"]);
        assert_eq!(list["data"][1]["x_extra"], true);
        let one: Value = get_json(&proxy.url(&format!("{prefix}/models/up-a")), None).await;
        assert_eq!(one["owned_by"], "org");
        let routed = client()
            .get(proxy.url(&format!("{prefix}/models/up/some-model")))
            .send()
            .await
            .expect("send");
        assert_eq!(routed.status(), 200);
        let missing = client()
            .get(proxy.url(&format!("{prefix}/models/nope")))
            .send()
            .await
            .expect("send");
        assert_eq!(missing.status(), 404);
        let err: Value = missing.json().await.expect("json");
        assert_eq!(err["error"]["code"], "model_not_found");
        let chat = client()
            .post(proxy.url(&format!("{prefix}/chat/completions")))
            .json(&json!({"messages": user("hi"), "stream": true}))
            .send()
            .await
            .expect("send");
        assert_eq!(read_sse(chat).await.content(), "x");
    }
    let health: Value = get_json(&proxy.url("/health"), None).await;
    assert_eq!(health["status"], "ok");
}

#[tokio::test]
async fn models_list_answers_when_upstream_is_down() {
    let proxy = proxy_to_nowhere().await;
    let response = client()
        .get(proxy.url("/v1/models"))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 200);
    let list: Value = response.json().await.expect("json");
    assert_eq!(list["data"][0]["id"], "test-model");
}

#[tokio::test]
async fn upstream_that_ignores_stream_true_still_gives_a_stream() {
    let up = FakeUpstream::start(|_| {
        Reply::json(completion(
            json!({"role": "assistant", "content": "whole answer", "reasoning_content": "thought"}),
            "stop",
        ))
    })
    .await;
    let proxy = start_proxy(&settings_yaml("openai", &up.openai_base(), "")).await;
    let response = post_chat(
        &proxy,
        &json!({"messages": user("hi"), "stream": true, "stream_options": {"include_usage": true}}),
    )
    .await;
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let sse = read_sse(response).await;
    assert!(sse.ends_with_done());
    assert_eq!(sse.content(), "whole answer");
    assert_eq!(sse.reasoning(), "thought");
    let chunks = sse.json();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(chunks.last().expect("usage")["usage"]["total_tokens"], 12);
}

/// The mirror of the case above: a server that streams even when asked not to (some gateways
/// and self-hosted servers always do). The client asked for one completion and gets one,
/// assembled from the stream; a stream that breaks off is still an error, never half an answer.
#[tokio::test]
async fn upstream_that_streams_a_non_streaming_request_still_gives_one_completion() {
    let up = FakeUpstream::start(|req| {
        if req.body["messages"][0]["content"] == "cut" {
            return Reply::Sse(vec![Step::Data(chunk(json!({"content": "half"}), None))]);
        }
        let mut steps = vec![Step::Data(chunk(
            json!({"role": "assistant", "reasoning_content": "thinking"}),
            None,
        ))];
        steps.extend(openai_text(&["whole ", "answer"]));
        steps.insert(steps.len() - 1, Step::Data(usage_chunk(5, 7)));
        Reply::Sse(steps)
    })
    .await;
    let proxy = start_proxy(&settings_yaml("openai", &up.openai_base(), "")).await;
    let response = post_chat(&proxy, &json!({"messages": user("hi")})).await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .expect("header")
            .starts_with("application/json")
    );
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["choices"][0]["message"]["content"], "whole answer");
    assert_eq!(
        body["choices"][0]["message"]["reasoning_content"],
        "thinking"
    );
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert_eq!(body["usage"]["total_tokens"], 12);
    assert_eq!(
        up.last_request().body["stream"],
        Value::Null,
        "asked without stream"
    );

    let response = post_chat(&proxy, &json!({"messages": user("cut")})).await;
    assert_eq!(response.status(), 502);
    let body: Value = response.json().await.expect("json");
    let message = body["error"]["message"].as_str().expect("message");
    assert!(
        message.contains("closed the stream before it finished"),
        "{message}"
    );
}
