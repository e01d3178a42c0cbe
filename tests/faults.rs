//! Fault injection: every way an upstream can fail, streaming and not, in one binary of its own
//! so the process-wide `active_streams` gauge can be checked to return to zero afterwards.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::*;

#[derive(Clone, Copy, Debug)]
enum Fault {
    Status(u16),
    ResetMidStream,
    GarbageMidStream,
    MalformedChunk,
    NeverAnswers,
    Slow,
}

fn script(fault: Fault, stream: bool) -> Reply {
    let started = vec![
        Step::Data(chunk(json!({"role": "assistant", "content": ""}), None)),
        Step::Data(chunk(json!({"content": "partial"}), None)),
        Step::Sleep(Duration::from_millis(30)),
    ];
    match fault {
        Fault::Status(status) => Reply::Json {
            status,
            body: json!({"error": {"message": format!("injected {status}"), "type": "test", "param": null, "code": null}}),
            headers: if status == 429 {
                vec![("retry-after".into(), "3".into())]
            } else {
                vec![]
            },
        },
        Fault::ResetMidStream if stream => Reply::Sse([started, vec![Step::Cut]].concat()),
        Fault::GarbageMidStream if stream => Reply::Sse(
            [
                started,
                vec![
                    Step::Raw("\u{1}\u{2}garbage\n\n".into()),
                    Step::Data("not json at all".into()),
                ],
            ]
            .concat(),
        ),
        Fault::MalformedChunk if stream => Reply::Sse(
            [
                started,
                vec![Step::Data("{\"choices\": [{\"delta\": ".into())],
            ]
            .concat(),
        ),
        Fault::ResetMidStream | Fault::GarbageMidStream | Fault::MalformedChunk => {
            Reply::Sse(vec![Step::Raw("{\"id\": \"trunc".into())])
        }
        Fault::NeverAnswers => Reply::Hang,
        Fault::Slow if stream => {
            let mut steps = openai_text(&["slow", " but", " fine"]);
            for i in (1..steps.len()).rev() {
                steps.insert(i, Step::Sleep(Duration::from_millis(150)));
            }
            Reply::Sse(steps)
        }
        Fault::Slow => Reply::Sse(vec![
            Step::Sleep(Duration::from_millis(400)),
            Step::Raw(
                completion(
                    json!({"role": "assistant", "content": "slow but fine"}),
                    "stop",
                )
                .to_string(),
            ),
        ]),
    }
}

fn fault_of(body: &Value) -> (Fault, bool) {
    let name = body["model"].as_str().unwrap_or("");
    let fault = match name {
        "reset" => Fault::ResetMidStream,
        "garbage" => Fault::GarbageMidStream,
        "malformed" => Fault::MalformedChunk,
        "hang" => Fault::NeverAnswers,
        "slow" => Fault::Slow,
        other => Fault::Status(other.parse().unwrap_or(500)),
    };
    (fault, body["stream"] == true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_gives_a_clear_outcome_and_leaks_nothing() {
    let up = FakeUpstream::start(|req| {
        let (fault, stream) = fault_of(&req.body);
        script(fault, stream)
    })
    .await;
    let extra = "    first_byte_timeout_secs: 0.5\n    response_timeout_secs: 1\n    idle_timeout_secs: 2\n";
    let proxy = start_proxy(&settings_yaml("openai", &up.openai_base(), extra)).await;
    let http = client();
    let mut hangs = 0;
    for stream in [true, false] {
        for model in [
            "400",
            "401",
            "429",
            "500",
            "503",
            "reset",
            "garbage",
            "malformed",
            "hang",
            "slow",
        ] {
            let response = tokio::time::timeout(
                Duration::from_secs(5),
                http.post(proxy.url("/v1/chat/completions"))
                    .json(&json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]}))
                    .send(),
            )
            .await
            .expect("the proxy answers within 5 s")
            .expect("send");
            let status = response.status().as_u16();
            let what = format!("{model} stream={stream}");
            match model {
                "400" | "401" | "429" | "500" | "503" => {
                    assert_eq!(status.to_string(), model, "{what}");
                    if model == "429" {
                        assert_eq!(response.headers()["retry-after"], "3");
                    }
                    let value: Value = response.json().await.expect("json");
                    assert_eq!(
                        value["error"]["message"],
                        format!("injected {model}"),
                        "{what}"
                    );
                }
                "hang" => {
                    hangs += 1;
                    assert_eq!(status, 504, "{what}");
                }
                "slow" => {
                    assert_eq!(status, 200, "{what}");
                    let text = response.text().await.expect("body");
                    assert!(
                        text.contains("slow") && text.contains("fine"),
                        "{what}: {text}"
                    );
                }
                _ if stream => {
                    assert_eq!(status, 200, "{what}: the stream had begun");
                    let sse = SseTranscript::parse(response.text().await.expect("body"));
                    assert!(!sse.ends_with_done(), "{what}: no [DONE] after a failure");
                    let last: Value =
                        serde_json::from_str(sse.data.last().expect("events")).expect("json");
                    assert!(last["error"]["message"].is_string(), "{what}: {}", sse.raw);
                    assert_eq!(sse.content(), "partial", "{what}");
                }
                _ => {
                    assert_eq!(status, 502, "{what}");
                    let value: Value = response.json().await.expect("json");
                    assert_eq!(value["error"]["code"], "upstream_protocol_error", "{what}");
                }
            }
        }
    }

    // Nothing leaked: abandoned upstream requests were closed, no stream is counted as open,
    // and the proxy still serves.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        up.hangs_abandoned(),
        hangs,
        "every timed-out upstream request was closed"
    );
    let metrics = get_text(&proxy.url("/metrics")).await;
    let gauge = metrics
        .lines()
        .find(|l| l.starts_with("adk_proxy_active_streams"))
        .expect("active streams gauge");
    assert!(gauge.ends_with(" 0"), "{gauge}");
    assert!(
        metrics.contains("adk_proxy_upstream_errors_total"),
        "upstream errors are counted"
    );
    let ok = http
        .post(proxy.url("/v1/chat/completions"))
        .json(&json!({"model": "slow", "stream": true, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .expect("send");
    assert_eq!(ok.status(), 200);
    assert!(read_sse(ok).await.ends_with_done());
}
