//! OpenTelemetry: with `OTEL_EXPORTER_OTLP_ENDPOINT` set, the binary exports one span per chat
//! request to the collector (a loopback fake here), with GenAI attributes and the caller's trace.

#![cfg(feature = "otel")]

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::*;
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::test]
async fn chat_requests_become_otlp_spans_with_genai_attributes() {
    let collector = FakeUpstream::start(|_| Reply::json(json!({}))).await;
    let up = FakeUpstream::start(|_| {
        let mut steps = openai_text(&["hi"]);
        steps.insert(steps.len() - 1, Step::Data(usage_chunk(7, 3)));
        Reply::Sse(steps)
    })
    .await;
    let dir = std::env::temp_dir().join(format!("adk-llm-proxy-otel-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let settings = dir.join("settings.yaml");
    std::fs::write(&settings, settings_yaml("openai", &up.openai_base(), "")).expect("write");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_adk-llm-proxy"))
        .args(["--config", settings.to_str().expect("path"), "--port", "0"])
        .env("UP_KEY", "k")
        .env(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://{}", collector.addr),
        )
        .env("OTEL_SERVICE_NAME", "proxy-under-test")
        .env_remove("RUST_LOG")
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let address = loop {
        let line = lines
            .next_line()
            .await
            .expect("read")
            .expect("proxy exited early");
        if let Some(pos) = line.find("address=") {
            break line[pos + 8..]
                .chars()
                .take_while(|c| !c.is_whitespace())
                .collect::<String>();
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    let response = client()
        .post(format!("http://{address}/v1/chat/completions"))
        .header("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        .json(&json!({"model": "traced-model", "stream": true, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .expect("send");
    let _ = read_sse(response).await;
    // An agent run (the shipped `assistant`): its span names the agent and the session.
    let response = client()
        .post(format!("http://{address}/v1/chat/completions"))
        .header("X-Session-Id", "otel-chat")
        .json(&json!({"model": "assistant", "stream": true, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 200);
    let _ = read_sse(response).await;

    let started = Instant::now();
    let export = loop {
        if let Some(r) = collector
            .requests()
            .into_iter()
            .find(|r| r.path == "/v1/traces")
        {
            break r;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no OTLP export within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let agent_span = loop {
        let found = collector
            .requests()
            .into_iter()
            .filter(|r| r.path == "/v1/traces")
            .find(|r| r.body.to_string().contains("gen_ai.agent.name"));
        if let Some(r) = found {
            break r.body.to_string();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no agent span within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        agent_span.contains(r#"{"key":"gen_ai.agent.name","value":{"stringValue":"assistant"}}"#),
        "{agent_span}"
    );
    assert!(
        agent_span
            .contains(r#"{"key":"gen_ai.conversation.id","value":{"stringValue":"otel-chat"}}"#),
        "{agent_span}"
    );
    let _ = child.kill().await;
    let resource = &export.body["resourceSpans"][0];
    assert_eq!(
        resource["resource"]["attributes"][0]["value"]["stringValue"],
        "proxy-under-test"
    );
    let span = &resource["scopeSpans"][0]["spans"][0];
    assert_eq!(span["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(span["parentSpanId"], "00f067aa0ba902b7");
    assert_eq!(span["name"], "chat traced-model");
    let attrs: Vec<(String, Value)> = span["attributes"]
        .as_array()
        .expect("attributes")
        .iter()
        .map(|a| {
            (
                a["key"].as_str().unwrap_or("").to_string(),
                a["value"].clone(),
            )
        })
        .collect();
    let get = |k: &str| {
        attrs
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or(Value::Null)
    };
    assert_eq!(get("gen_ai.operation.name")["stringValue"], "chat");
    assert_eq!(get("gen_ai.provider.name")["stringValue"], "up");
    assert_eq!(get("gen_ai.request.model")["stringValue"], "traced-model");
    assert_eq!(get("gen_ai.usage.input_tokens")["intValue"], "7");
    assert_eq!(get("gen_ai.usage.output_tokens")["intValue"], "3");
    assert_eq!(span["status"]["code"], 1);
}
