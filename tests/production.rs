//! Production features over HTTP: client keys, rate limits, cache, retries, fallbacks, the
//! circuit breaker, request ids, readiness and metrics.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use support::*;

fn answer_by_mode(req: &Recorded) -> Reply {
    if req.path.ends_with("/models") {
        return Reply::json(json!({"object": "list", "data": [
            {"id": "gpt-a", "object": "model", "created": 1, "owned_by": "o"},
            {"id": "secret-model", "object": "model", "created": 1, "owned_by": "o"}
        ]}));
    }
    if req.body["stream"] == true {
        let mut steps = openai_text(&["cached ", "answer"]);
        steps.insert(steps.len() - 1, Step::Data(usage_chunk(10, 5)));
        Reply::Sse(steps)
    } else {
        Reply::json(completion(
            json!({"role": "assistant", "content": "cached answer"}),
            "stop",
        ))
    }
}

const AUTH: &str = "auth:\n  keys:\n    - name: team-a\n      key_env: TEAM_A_KEY\n      models: [\"gpt-*\", \"up/gpt-*\"]\n    - name: limited\n      key_sha256: \"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824\"\n      rpm: 2\n";

async fn authed_proxy(up: &FakeUpstream) -> Proxy {
    let yaml = format!("{}{AUTH}", settings_yaml("openai", &up.openai_base(), ""));
    start_proxy_with_env(&yaml, &[("UP_KEY", "sk-up"), ("TEAM_A_KEY", "sk-team-a")]).await
}

#[tokio::test]
async fn keys_are_required_and_restrict_models() {
    let up = FakeUpstream::start(answer_by_mode).await;
    let proxy = authed_proxy(&up).await;
    let body = json!({"model": "gpt-a", "messages": user("hi")});
    let none = post_chat(&proxy, &body).await;
    assert_eq!(none.status(), 401);
    let value: Value = none.json().await.expect("json");
    assert_eq!(value["error"]["code"], "invalid_api_key");
    let wrong = client()
        .post(proxy.url("/v1/chat/completions"))
        .bearer_auth("sk-wrong")
        .json(&body)
        .send()
        .await
        .expect("send");
    assert_eq!(wrong.status(), 401);
    let ok = client()
        .post(proxy.url("/v1/chat/completions"))
        .bearer_auth("sk-team-a")
        .json(&body)
        .send()
        .await
        .expect("send");
    assert_eq!(ok.status(), 200);
    let forbidden = client()
        .post(proxy.url("/v1/chat/completions"))
        .bearer_auth("sk-team-a")
        .json(&json!({"model": "secret-model", "messages": user("hi")}))
        .send()
        .await
        .expect("send");
    assert_eq!(forbidden.status(), 403);
    let value: Value = forbidden.json().await.expect("json");
    assert_eq!(value["error"]["code"], "model_not_allowed");
    assert_eq!(
        up.requests()
            .iter()
            .filter(|r| r.path.ends_with("/chat/completions"))
            .count(),
        1,
        "refused requests never reach the upstream"
    );
    // The sha256-configured key ("hello") works; health stays open.
    let hashed = client()
        .post(proxy.url("/v1/chat/completions"))
        .bearer_auth("hello")
        .json(&body)
        .send()
        .await
        .expect("send");
    assert_eq!(hashed.status(), 200);
    assert_eq!(
        client()
            .get(proxy.url("/health"))
            .send()
            .await
            .expect("send")
            .status(),
        200
    );
    assert_eq!(
        client()
            .get(proxy.url("/v1/models"))
            .send()
            .await
            .expect("send")
            .status(),
        401
    );
}

#[tokio::test]
async fn rpm_limit_answers_429_with_openai_headers() {
    let up = FakeUpstream::start(answer_by_mode).await;
    let proxy = authed_proxy(&up).await;
    let body = json!({"model": "gpt-a", "messages": user("hi")});
    let mut statuses = Vec::new();
    let mut last = None;
    for _ in 0..3 {
        let response = client()
            .post(proxy.url("/v1/chat/completions"))
            .bearer_auth("hello")
            .json(&body)
            .send()
            .await
            .expect("send");
        statuses.push(response.status().as_u16());
        last = Some(response);
    }
    assert_eq!(statuses, vec![200, 200, 429]);
    let limited = last.expect("response");
    let headers = limited.headers().clone();
    assert_eq!(headers["x-ratelimit-limit-requests"], "2");
    assert_eq!(headers["x-ratelimit-remaining-requests"], "0");
    assert!(headers.contains_key("x-ratelimit-reset-requests"));
    let retry: u64 = headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=31).contains(&retry), "retry-after {retry}");
    let value: Value = limited.json().await.expect("json");
    assert_eq!(value["error"]["code"], "rate_limit_exceeded");
    // team-a has no limit of its own and is not affected.
    let other = client()
        .post(proxy.url("/v1/chat/completions"))
        .bearer_auth("sk-team-a")
        .json(&body)
        .send()
        .await
        .expect("send");
    assert_eq!(other.status(), 200);
}

#[tokio::test]
async fn global_concurrency_and_token_limits() {
    let up = FakeUpstream::start(|req| {
        if req.body["messages"][0]["content"] == "slow" {
            let mut steps = openai_text(&["a"]);
            steps.insert(1, Step::Sleep(Duration::from_millis(500)));
            Reply::Sse(steps)
        } else {
            answer_by_mode(req)
        }
    })
    .await;
    let yaml = format!(
        "{}limits:\n  max_concurrent: 1\n  tpm: 20\n",
        settings_yaml("openai", &up.openai_base(), "")
    );
    let proxy = start_proxy(&yaml).await;
    let slow = post_chat(&proxy, &json!({"messages": user("slow"), "stream": true})).await;
    assert_eq!(slow.status(), 200);
    let second = post_chat(&proxy, &json!({"messages": user("x")})).await;
    assert_eq!(second.status(), 429, "one stream open, limit 1");
    let _ = read_sse(slow).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Slot free again; the non-stream answer uses 12 tokens of 20 …
    let third = post_chat(&proxy, &json!({"messages": user("y")})).await;
    assert_eq!(third.status(), 200);
    assert_eq!(third.headers()["x-ratelimit-limit-tokens"], "20");
    let _ = third.bytes().await;
    let fourth = post_chat(&proxy, &json!({"messages": user("z")})).await;
    assert_eq!(fourth.status(), 200);
    let _ = fourth.bytes().await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    // … two answers used 24 > 20: the budget is spent.
    let fifth = post_chat(&proxy, &json!({"messages": user("w")})).await;
    assert_eq!(fifth.status(), 429);
    let value: Value = fifth.json().await.expect("json");
    assert_eq!(value["error"]["type"], "tokens");
}

#[tokio::test]
async fn deterministic_requests_are_cached_and_replayed_as_streams() {
    let up = FakeUpstream::start(answer_by_mode).await;
    let proxy = start_proxy(&settings_yaml("openai", &up.openai_base(), "")).await;
    let ask = |stream: bool, temperature: f64| {
        client()
            .post(proxy.url("/v1/chat/completions"))
            .json(&json!({"messages": user("same question"), "temperature": temperature, "stream": stream, "stream_options": {"include_usage": true}}))
            .send()
    };
    let first = ask(true, 0.0).await.expect("send");
    assert_eq!(first.headers()["x-cache"], "miss");
    let first_sse = read_sse(first).await;
    assert_eq!(first_sse.content(), "cached answer");
    let uploads = up.requests().len();

    let again = ask(true, 0.0).await.expect("send");
    assert_eq!(again.headers()["x-cache"], "hit");
    assert_eq!(again.headers()["content-type"], "text/event-stream");
    let sse = read_sse(again).await;
    assert!(sse.ends_with_done());
    assert_eq!(sse.content(), "cached answer");
    let chunks = sse.json();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(chunks.last().expect("usage")["usage"]["total_tokens"], 15);

    let whole = ask(false, 0.0).await.expect("send");
    assert_eq!(
        whole.headers()["x-cache"],
        "hit",
        "stream and non-stream share the entry"
    );
    let value: Value = whole.json().await.expect("json");
    assert_eq!(value["choices"][0]["message"]["content"], "cached answer");
    assert_eq!(
        up.requests().len(),
        uploads,
        "hits never reach the upstream"
    );

    let warm = ask(false, 0.7).await.expect("send");
    assert!(
        warm.headers().get("x-cache").is_none(),
        "temperature > 0 is not cached by default"
    );
    let opt_out = client()
        .post(proxy.url("/v1/chat/completions"))
        .header("cache-control", "no-cache")
        .json(&json!({"messages": user("same question"), "temperature": 0}))
        .send()
        .await
        .expect("send");
    assert!(opt_out.headers().get("x-cache").is_none());
}

#[tokio::test]
async fn errors_and_cut_streams_are_never_cached() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let up = FakeUpstream::start(move |_| {
        let n = seen.fetch_add(1, Ordering::SeqCst);
        match n {
            0 => Reply::error(
                500,
                json!({"error": {"message": "boom", "type": "server_error"}}),
            ),
            1 => Reply::Sse(vec![
                Step::Data(chunk(json!({"role": "assistant", "content": "part"}), None)),
                Step::Sleep(Duration::from_millis(50)),
                Step::Cut,
            ]),
            _ => Reply::Sse(openai_text(&["whole"])),
        }
    })
    .await;
    let proxy = start_proxy(&settings_yaml("openai", &up.openai_base(), "")).await;
    let body = json!({"messages": user("q"), "temperature": 0, "stream": true});
    let r1 = post_chat(&proxy, &body).await;
    assert_eq!(r1.status(), 500);
    let r2 = post_chat(&proxy, &body).await;
    assert!(!read_sse(r2).await.ends_with_done());
    let r3 = post_chat(&proxy, &body).await;
    assert_eq!(r3.headers()["x-cache"], "miss");
    assert_eq!(read_sse(r3).await.content(), "whole");
    let r4 = post_chat(&proxy, &body).await;
    assert_eq!(r4.headers()["x-cache"], "hit");
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn retries_recover_from_transient_failures_before_the_first_byte() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let up = FakeUpstream::start(move |_| match seen.fetch_add(1, Ordering::SeqCst) {
        0 => Reply::error(503, json!({"error": {"message": "overloaded"}})),
        1 => Reply::Json {
            status: 429,
            body: json!({"error": {"message": "slow down"}}),
            headers: vec![("retry-after".into(), "0".into())],
        },
        _ => Reply::Sse(openai_text(&["third time lucky"])),
    })
    .await;
    let extra = "    retries: 2\n    retry_backoff_ms: 10\n";
    let proxy = start_proxy(&settings_yaml("openai", &up.openai_base(), extra)).await;
    let response = post_chat(&proxy, &json!({"messages": user("hi"), "stream": true})).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-adk-provider"], "up");
    assert_eq!(read_sse(response).await.content(), "third time lucky");
    assert_eq!(calls.load(Ordering::SeqCst), 3);

    // A client error is not retried.
    let bad =
        FakeUpstream::start(|_| Reply::error(400, json!({"error": {"message": "bad"}}))).await;
    let proxy = start_proxy(&settings_yaml("openai", &bad.openai_base(), extra)).await;
    let response = post_chat(&proxy, &json!({"messages": user("hi")})).await;
    assert_eq!(response.status(), 400);
    assert_eq!(bad.requests().len(), 1);
}

#[tokio::test]
async fn fallbacks_serve_when_the_primary_fails_and_the_breaker_skips_it() {
    let primary =
        FakeUpstream::start(|_| Reply::error(502, json!({"error": {"message": "primary down"}})))
            .await;
    let backup = FakeUpstream::start(|_| Reply::Sse(openai_text(&["from backup"]))).await;
    let extra = format!(
        "    fallbacks: [\"backup/backup-model\"]\n    circuit_breaker_failures: 2\n    circuit_breaker_cooldown_secs: 60\n  backup:\n    kind: openai\n    base_url: \"{}\"\n",
        backup.openai_base()
    );
    let proxy = start_proxy(&settings_yaml("openai", &primary.openai_base(), &extra)).await;
    for _ in 0..4 {
        let response = post_chat(&proxy, &json!({"messages": user("hi"), "stream": true})).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["x-adk-provider"], "backup");
        assert_eq!(read_sse(response).await.content(), "from backup");
    }
    assert_eq!(backup.last_request().body["model"], "backup-model");
    assert_eq!(
        primary.requests().len(),
        2,
        "after 2 failures the open circuit skips the primary"
    );
}

#[tokio::test]
async fn request_id_readiness_and_metrics() {
    let up = FakeUpstream::start(answer_by_mode).await;
    let proxy = start_proxy(&settings_yaml("openai", &up.openai_base(), "")).await;
    let echoed = client()
        .post(proxy.url("/v1/chat/completions"))
        .header("x-request-id", "req-from-client-1")
        .json(&json!({"model": "metrics-model", "messages": user("hi"), "stream": true}))
        .send()
        .await
        .expect("send");
    assert_eq!(echoed.headers()["x-request-id"], "req-from-client-1");
    let _ = read_sse(echoed).await;
    let generated = client()
        .get(proxy.url("/health"))
        .send()
        .await
        .expect("send");
    assert!(
        generated.headers()["x-request-id"]
            .to_str()
            .is_ok_and(|v| v.starts_with("req_"))
    );
    let ready: Value = get_json(&proxy.url("/ready"), None).await;
    assert_eq!(ready["status"], "ready");
    let _ = client()
        .post(proxy.url("/v1/chat/completions"))
        .body("{")
        .send()
        .await;

    tokio::time::sleep(Duration::from_millis(100)).await;
    let text = get_text(&proxy.url("/metrics")).await;
    let line = |needle: &[&str]| {
        text.lines()
            .find(|l| !l.starts_with('#') && needle.iter().all(|n| l.contains(n)))
            .unwrap_or_else(|| panic!("no metrics line with {needle:?} in:\n{text}"))
            .to_string()
    };
    assert!(
        line(&[
            "adk_proxy_requests_total",
            "model=\"metrics-model\"",
            "status=\"200\""
        ])
        .ends_with(" 1")
    );
    assert!(
        line(&[
            "adk_proxy_tokens_total",
            "direction=\"out\"",
            "model=\"metrics-model\""
        ])
        .ends_with(" 5")
    );
    line(&[
        "adk_proxy_time_to_first_token_seconds_bucket",
        "model=\"metrics-model\"",
    ]);
    line(&[
        "adk_proxy_request_duration_seconds_count",
        "model=\"metrics-model\"",
    ]);
    line(&["adk_proxy_added_latency_seconds"]);
    line(&["adk_proxy_requests_total", "status=\"400\""]);
    // The gauge is process-wide and other tests stream concurrently: tests/faults.rs checks it
    // returns to 0 in a binary of its own.
    line(&["adk_proxy_active_streams"]);
}

#[tokio::test]
async fn cors_only_for_configured_origins() {
    let up = FakeUpstream::start(answer_by_mode).await;
    let closed = start_proxy(&settings_yaml("openai", &up.openai_base(), "")).await;
    let response = client()
        .post(closed.url("/v1/chat/completions"))
        .header("origin", "https://evil.example")
        .json(&json!({"messages": user("hi")}))
        .send()
        .await
        .expect("send");
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none(),
        "no CORS unless configured"
    );

    let yaml = settings_yaml("openai", &up.openai_base(), "").replace(
        "server:\n",
        "server:\n  cors_allow_origins: [\"https://chat.example.com\"]\n",
    );
    let open = start_proxy(&yaml).await;
    let preflight = client()
        .request(reqwest::Method::OPTIONS, open.url("/v1/chat/completions"))
        .header("origin", "https://chat.example.com")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .expect("send");
    assert!(preflight.status().is_success());
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://chat.example.com"
    );
    let other = client()
        .request(reqwest::Method::OPTIONS, open.url("/v1/chat/completions"))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .expect("send");
    assert!(other.headers().get("access-control-allow-origin").is_none());
}

/// 1,500 clients connecting at once all get through the handshake before the proxy accepts any:
/// the listen queue holds them. With tokio's default backlog (1024) the kernel dropped the rest
/// of the SYNs and those clients waited a second for the retry (`cargo bench --bench load`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_connections_waits_in_the_listen_queue_not_for_a_syn_retry() {
    let listener =
        adk_llm_proxy::server::listen("127.0.0.1:0".parse().expect("addr")).expect("listen");
    let addr = listener.local_addr().expect("addr");
    // The kernel caps the queue at net.core.somaxconn (4096 by default since Linux 5.4).
    let somaxconn: usize = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(4096);
    let clients = 1500.min(somaxconn);
    let mut connects = Vec::new();
    for _ in 0..clients {
        connects.push(tokio::spawn(async move {
            tokio::time::timeout(
                std::time::Duration::from_millis(700),
                tokio::net::TcpStream::connect(addr),
            )
            .await
        }));
    }
    let mut connected = Vec::new();
    for connect in connects {
        if let Ok(Ok(Ok(stream))) = connect.await {
            connected.push(stream);
        }
    }
    assert_eq!(
        connected.len(),
        clients,
        "connections that got no SYN-ACK within 700 ms"
    );
    drop(listener);
}

/// The Prometheus recorder keeps every histogram sample in a list until an upkeep folds it into
/// buckets; a server nobody scrapes must run the upkeep itself, or it grows by three samples per
/// request for as long as it runs.
#[tokio::test]
async fn the_server_folds_histogram_samples_without_a_scrape() {
    let upstream = FakeUpstream::start(|_| {
        Reply::json(completion(
            json!({"role": "assistant", "content": "ok"}),
            "stop",
        ))
    })
    .await;
    let state = build_state(&format!("providers:\n  up: {{ kind: openai, base_url: \"{}\" }}\ndefaults: {{ provider: up, model: m }}\n", upstream.openai_base()), &[]).await;
    let before = adk_llm_proxy::observe::metrics::upkeeps();
    let _proxy = serve_state(state).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while adk_llm_proxy::observe::metrics::upkeeps() == before {
        assert!(
            std::time::Instant::now() < deadline,
            "no histogram upkeep within 3 s of the server starting"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The API answers under `/v1` and at the bare paths some clients use, route for route (each
/// prefix has its own routes; a nested router used to serve the `/v1` ones).
#[tokio::test]
async fn the_api_answers_under_v1_and_at_the_bare_paths() {
    let up = FakeUpstream::start(|req| {
        if req.path.ends_with("/embeddings") {
            Reply::json(json!({"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.5]}], "model": "m"}))
        } else if req.path.ends_with("/models") {
            Reply::json(json!({"object": "list", "data": [{"id": "m", "object": "model"}]}))
        } else {
            Reply::json(completion(json!({"role": "assistant", "content": "ok"}), "stop"))
        }
    })
    .await;
    let proxy = start_proxy(&settings_yaml("openai", &up.openai_base(), "")).await;
    for prefix in ["/v1", ""] {
        let chat: Value = client()
            .post(proxy.url(&format!("{prefix}/chat/completions")))
            .json(&json!({"model": "m", "messages": user("hi")}))
            .send()
            .await
            .expect("chat")
            .json()
            .await
            .expect("chat json");
        assert_eq!(
            chat["choices"][0]["message"]["content"], "ok",
            "{prefix}: {chat}"
        );
        let embeddings = client()
            .post(proxy.url(&format!("{prefix}/embeddings")))
            .json(&json!({"model": "m", "input": "hi"}))
            .send()
            .await
            .expect("embeddings");
        assert_eq!(embeddings.status(), 200, "{prefix}/embeddings");
        let models = client()
            .get(proxy.url(&format!("{prefix}/models")))
            .send()
            .await
            .expect("models");
        assert_eq!(models.status(), 200, "{prefix}/models");
        let missing = client()
            .get(proxy.url(&format!("{prefix}/responses/resp_missing")))
            .send()
            .await
            .expect("responses");
        assert_eq!(missing.status(), 404, "{prefix}/responses/{{id}}");
        let body: Value = missing.json().await.expect("error json");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            !message.is_empty() && !message.contains("Unknown path"),
            "{prefix}: the responses route, not the fallback, answers: {body}"
        );
    }
    let unknown = client()
        .get(proxy.url("/v2/models"))
        .send()
        .await
        .expect("unknown");
    assert_eq!(unknown.status(), 404);
}
