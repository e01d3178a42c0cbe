//! The Redis backends, against a real `redis-server` (`.ci/run` installs and starts one and sets
//! `REDIS_URL`). Two proxies share one Redis, as two replicas behind a load balancer would: they
//! must share rate limits and cache entries. Skipped with a notice when `REDIS_URL` is unset,
//! unless `REQUIRE_REDIS=1` (set by CI) makes that a failure.

mod support;

use serde_json::{Value, json};
use support::*;

fn redis_url() -> Option<String> {
    match std::env::var("REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("REQUIRE_REDIS").as_deref() != Ok("1"),
                "REQUIRE_REDIS=1 but REDIS_URL is unset"
            );
            eprintln!(
                "skipped: REDIS_URL is not set (run .ci/run, or start redis-server and export REDIS_URL)"
            );
            None
        }
    }
}

fn shared_yaml(up: &FakeUpstream, url: &str, prefix: &str) -> String {
    format!(
        "{}limits:\n  rpm: 3\n  backend: redis\ncache:\n  backend: redis\n  ttl_secs: 60\nredis:\n  url: \"{url}\"\n  prefix: \"{prefix}\"\n",
        settings_yaml("openai", &up.openai_base(), "")
    )
}

#[tokio::test]
async fn replicas_share_rate_limits_and_cache_through_redis() {
    let Some(url) = redis_url() else { return };
    let up = FakeUpstream::start(|req| {
        if req.body["stream"] == true {
            Reply::Sse(openai_text(&["shared"]))
        } else {
            Reply::json(completion(
                json!({"role": "assistant", "content": "shared"}),
                "stop",
            ))
        }
    })
    .await;
    // A fresh prefix per run: windows and entries of earlier runs do not interfere.
    let prefix = format!(
        "adk-test-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    );
    let replica_a = start_proxy(&shared_yaml(&up, &url, &prefix)).await;
    let replica_b = start_proxy(&shared_yaml(&up, &url, &prefix)).await;

    let deterministic =
        json!({"messages": [{"role": "user", "content": "cache me"}], "temperature": 0});
    let first = client()
        .post(replica_a.url("/v1/chat/completions"))
        .json(&deterministic)
        .send()
        .await
        .expect("send");
    assert_eq!(first.headers()["x-cache"], "miss");
    assert_eq!(first.headers()["x-ratelimit-limit-requests"], "3");
    let _ = first.bytes().await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let second = client()
        .post(replica_b.url("/v1/chat/completions"))
        .json(&json!({"messages": [{"role": "user", "content": "cache me"}], "temperature": 0, "stream": true}))
        .send()
        .await
        .expect("send");
    assert_eq!(
        second.headers()["x-cache"],
        "hit",
        "replica B answers from replica A's entry"
    );
    assert_eq!(read_sse(second).await.content(), "shared");

    let plain = json!({"messages": [{"role": "user", "content": "count me"}]});
    let third = client()
        .post(replica_a.url("/v1/chat/completions"))
        .json(&plain)
        .send()
        .await
        .expect("send");
    assert_eq!(third.status(), 200);
    let fourth = client()
        .post(replica_b.url("/v1/chat/completions"))
        .json(&plain)
        .send()
        .await
        .expect("send");
    assert_eq!(
        fourth.status(),
        429,
        "the 4th request across both replicas exceeds rpm 3"
    );
    assert!(fourth.headers().contains_key("retry-after"));
    let value: Value = fourth.json().await.expect("json");
    assert_eq!(value["error"]["code"], "rate_limit_exceeded");
}

#[tokio::test]
async fn unreachable_redis_fails_start_up_clearly() {
    let up = FakeUpstream::start(|_| Reply::Sse(openai_text(&["x"]))).await;
    let port = unused_port();
    let yaml = shared_yaml(&up, &format!("redis://127.0.0.1:{port}"), "x");
    let settings = adk_llm_proxy::config::parse_settings(&yaml, "s.yaml").expect("parse");
    let config = adk_llm_proxy::config::Config::from_settings(
        std::path::Path::new("s.yaml"),
        settings,
        &Default::default(),
        &|k| (k == "UP_KEY").then(|| "k".to_string()),
    )
    .expect("config");
    let error = match adk_llm_proxy::api::AppState::build(config).await {
        Ok(_) => panic!("start-up must fail without Redis"),
        Err(error) => error,
    };
    assert!(error.contains("Redis"), "{error}");
}

#[tokio::test]
async fn replicas_share_agent_sessions_through_redis() {
    let Some(url) = redis_url() else { return };
    let up = FakeUpstream::start(script(vec![
        text_reply("first answer", 1, 1),
        text_reply("second answer", 1, 1),
    ]))
    .await;
    let root = project(
        "redis-sessions",
        &[(
            "agents/memo.yaml",
            "name: memo\ninstruction: \"Last time: {summary?}\"\noutput_key: summary\n",
        )],
    );
    let prefix = format!("adk-sessions-{}-{}", std::process::id(), unused_port());
    let settings = agent_settings(
        &up.openai_base(),
        &root,
        &format!("sessions:\n  store: redis\nredis:\n  url: \"{url}\"\n  prefix: \"{prefix}\"\n"),
    );
    let replica_a = start_proxy(&settings).await;
    let replica_b = start_proxy(&settings).await;
    let body =
        json!({"model": "memo", "messages": [{"role": "user", "content": "x"}], "stream": true});
    for replica in [&replica_a, &replica_b] {
        let response = client()
            .post(replica.url("/v1/chat/completions"))
            .header("X-Session-Id", "shared-chat")
            .json(&body)
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), 200);
        read_sse(response).await;
    }
    let requests = up.requests();
    assert_eq!(requests[0].system(), "Last time: ");
    assert_eq!(
        requests[1].system(),
        "Last time: first answer",
        "the second replica continued the session the first one stored"
    );
}

/// Concurrency slots in Redis are leases: when a replica dies mid-stream, the key's next
/// request is admitted within the lease time (not throttled until a counter expires).
#[tokio::test]
async fn a_crashed_replicas_concurrency_slot_frees_itself_within_the_lease() {
    let Some(url) = redis_url() else { return };
    let up = FakeUpstream::start(|req: &Recorded| {
        let mut steps = openai_text(&["first", "last"]);
        if req.body["model"] == "slow" {
            steps.insert(2, Step::Sleep(std::time::Duration::from_secs(30)));
        }
        Reply::Sse(steps)
    })
    .await;
    let prefix = format!("adk-lease-{}", std::process::id());
    let yaml = format!(
        "{}limits:\n  backend: redis\n  concurrency_lease_secs: 1.5\nredis:\n  url: \"{url}\"\n  prefix: \"{prefix}\"\nauth:\n  keys:\n    - {{ name: one, key: sk-one, max_concurrent: 1 }}\n",
        settings_yaml("openai", &up.openai_base(), "")
    );
    let dir = std::env::temp_dir().join(format!("adk-lease-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let settings = dir.join("lease.yaml");
    std::fs::write(&settings, format!("{yaml}agents:\n  dir: \"\"\n")).expect("settings");
    let port = unused_port();
    let mut replica_a = tokio::process::Command::new(env!("CARGO_BIN_EXE_adk-llm-proxy"))
        .args([
            "--config",
            settings.to_str().expect("path"),
            "--port",
            &port.to_string(),
        ])
        .env("UP_KEY", "k")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("replica A starts");
    let a = Proxy {
        base: format!("http://127.0.0.1:{port}"),
    };
    let started = std::time::Instant::now();
    while client().get(a.url("/health")).send().await.is_err() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "replica A did not start"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let body = json!({"model": "slow", "stream": true, "messages": user("hi")});
    let mut open = chat_request(&a, Some("sk-one"), &body, &[]).await;
    assert_eq!(open.status(), 200);
    let _ = open.chunk().await;

    let b = start_proxy_with_env(&yaml, &[("UP_KEY", "k")]).await;
    let quick = json!({"model": "quick", "stream": true, "messages": user("hi")});
    let held = chat_request(&b, Some("sk-one"), &quick, &[]).await;
    let status = held.status();
    let text = held.text().await.unwrap_or_default();
    assert_eq!(
        status, 429,
        "the slot is held while replica A streams: {text}"
    );
    // Past two lease times the running stream still holds its slot: the lease is renewed.
    tokio::time::sleep(std::time::Duration::from_millis(3200)).await;
    let status = chat_request(&b, Some("sk-one"), &quick, &[]).await.status();
    assert_eq!(status, 429, "a running request's lease is renewed");
    replica_a.kill().await.expect("kill replica A");
    let crashed = std::time::Instant::now();
    loop {
        let status = chat_request(&b, Some("sk-one"), &quick, &[]).await.status();
        if status == 200 {
            break;
        }
        assert_eq!(status, 429);
        assert!(
            crashed.elapsed() < std::time::Duration::from_secs(4),
            "the crashed replica's slot did not expire within the lease"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
