//! Hostile use, each finding of the attack run as a test over HTTP: what one tenant can reach
//! of another's, what a web page can make a keyless local proxy do, what bad input costs.

mod support;

use serde_json::{Value, json};
use support::*;

const TWO_TENANTS: &str = "auth:\n  keys:\n    - name: team-a\n      key: sk-team-a\n    - name: team-b\n      key: sk-team-b\n";

async fn chat_as(
    proxy: &Proxy,
    key: &str,
    body: Value,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    chat_request(proxy, Some(key), &body, headers).await
}

/// H1: a session id, a user id or `metadata.session_id` naming another key's session never
/// reaches it: the key is part of the session's owner.
#[tokio::test]
async fn one_key_cannot_read_or_write_another_keys_session() {
    let up = FakeUpstream::start(script(vec![
        text_reply("secret-of-a", 5, 2),
        text_reply("written-by-b", 5, 2),
        text_reply("written-by-b", 5, 2),
        text_reply("written-by-b", 5, 2),
        text_reply("a-again", 5, 2),
    ]))
    .await;
    let root = project(
        "tenants",
        &[(
            "agents/memo.yaml",
            "name: memo\ninstruction: \"Earlier answer: {last?} / shared: {user:note?}\"\noutput_key: last\n",
        )],
    );
    let proxy = start_proxy(&agent_settings(&up.openai_base(), &root, TWO_TENANTS)).await;
    let turn = |text: &str| json!({"model": "memo", "messages": user(text)});

    let a = chat_as(
        &proxy,
        "sk-team-a",
        turn("hello"),
        &[("X-Session-Id", "shared-1")],
    )
    .await;
    assert_eq!(a.status(), 200);

    // Key B claims A's session three ways.
    let attempts: [(Value, Vec<(&str, &str)>); 3] = [
        (
            json!({"model": "memo", "user": "key:team-a", "messages": user("b1")}),
            vec![("X-Session-Id", "shared-1")],
        ),
        (
            turn("b2"),
            vec![("X-Session-Id", "shared-1"), ("X-User-Id", "key:team-a")],
        ),
        (
            json!({"model": "memo", "user": "key:team-a", "metadata": {"session_id": "shared-1"},
                   "messages": user("b3")}),
            vec![],
        ),
    ];
    for (body, headers) in attempts {
        let b = chat_as(&proxy, "sk-team-b", body, &headers).await;
        assert_eq!(b.status(), 200);
        let seen = up.last_request().system();
        assert!(
            !seen.contains("secret-of-a"),
            "key B read A's session: {seen}"
        );
    }

    // A's next turn sees its own earlier answer, and none of B's writes.
    chat_as(
        &proxy,
        "sk-team-a",
        turn("again"),
        &[("X-Session-Id", "shared-1")],
    )
    .await;
    let seen = up.last_request().system();
    assert!(seen.contains("secret-of-a"), "A keeps its session: {seen}");
    assert!(
        !seen.contains("written-by-b"),
        "B wrote into A's session: {seen}"
    );
}

#[tokio::test]
async fn a_key_name_with_the_owner_separator_stops_start_up() {
    let settings = parse_settings_error(
        "defaults:\n  provider: m\nproviders:\n  m: { kind: mock, default_model: mock }\nauth:\n  keys:\n    - name: \"a|user:x\"\n      key: k\n",
    );
    assert!(
        settings.contains("auth.keys[0].name") && settings.contains("'|'"),
        "{settings}"
    );
}

fn parse_settings_error(yaml: &str) -> String {
    let settings = adk_llm_proxy::config::parse_settings(yaml, "s.yaml").expect("settings parse");
    adk_llm_proxy::config::Config::from_settings(
        std::path::Path::new("s.yaml"),
        settings,
        &adk_llm_proxy::config::Overrides::default(),
        &|_| None,
    )
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default()
}

/// M1: a key's model globs match the routed identity, so a provider prefix cannot widen them.
#[tokio::test]
async fn a_provider_prefix_does_not_bypass_a_keys_model_globs() {
    let up = FakeUpstream::start(|req: &Recorded| {
        if req.path.ends_with("/embeddings") {
            Reply::json(json!({"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.1]}]}))
        } else {
            Reply::json(completion(json!({"role": "assistant", "content": "ok"}), "stop"))
        }
    })
    .await;
    let base = up.openai_base();
    let yaml = format!(
        "defaults:\n  provider: up\n  model: gpt-4o-mini\nproviders:\n  up: {{ kind: openai, base_url: \"{base}\" }}\n  deepseek: {{ kind: openai, base_url: \"{base}\" }}\n  ollama: {{ kind: openai, base_url: \"{base}\" }}\nauth:\n  keys:\n    - {{ name: gpt, key: sk-gpt, models: [\"gpt-4o*\"] }}\n    - {{ name: fake, key: sk-fake, models: [fake-model] }}\n    - {{ name: ds, key: sk-ds, models: [\"deepseek/*\"] }}\n"
    );
    let proxy = start_proxy(&yaml).await;
    let status = |key: &'static str, model: &'static str| chat_status(&proxy, key, model);
    assert_eq!(status("sk-gpt", "gpt-4o-mini").await, 200);
    assert_eq!(status("sk-gpt", "up/gpt-4o-mini").await, 200);
    assert_eq!(status("sk-gpt", "deepseek/gpt-4o-mini").await, 403);
    assert_eq!(status("sk-fake", "fake-model").await, 200);
    assert_eq!(status("sk-fake", "deepseek/fake-model").await, 403);
    assert_eq!(status("sk-fake", "ollama/fake-model").await, 403);
    assert_eq!(status("sk-ds", "deepseek/gpt-4o-mini").await, 200);
    assert_eq!(status("sk-ds", "gpt-4o-mini").await, 403);
    let body = json!({"model": "deepseek/fake-model", "input": "x"});
    let embeddings = post_json(&proxy, "/v1/embeddings", Some("sk-fake"), &body, &[]).await;
    assert_eq!(embeddings.status(), 403);
}

/// L7: the authentication scheme is case-insensitive (RFC 9110).
#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let proxy = start_proxy(&format!(
        "{}{TWO_TENANTS}",
        "defaults:\n  provider: m\nproviders:\n  m: { kind: mock, default_model: mock }\n"
    ))
    .await;
    for scheme in ["Bearer", "BEARER", "bearer", "bEaReR"] {
        let authorization = format!("{scheme} sk-team-a");
        let status = get_status_with_authorization(&proxy, "/v1/models", &authorization).await;
        assert_eq!(status, 200, "{scheme}");
    }
    let wrong = get_status_with_authorization(&proxy, "/v1/models", "Basic sk-team-a").await;
    assert_eq!(wrong, 401);
}

/// L6: credentials in a provider's base_url are never shown to a client (502 body) and a query
/// in base_url stops start-up instead of producing malformed request URLs.
#[tokio::test]
async fn base_url_credentials_stay_out_of_answers_and_a_query_is_refused() {
    let port = unused_port();
    let proxy = start_proxy(&settings_yaml(
        "openai",
        &format!("http://admin:s3cret-pw@127.0.0.1:{port}/v1"),
        "",
    ))
    .await;
    let response = post_chat(&proxy, &json!({"messages": user("hi")})).await;
    assert_eq!(response.status(), 502);
    let body = response.text().await.expect("body");
    assert!(
        !body.contains("s3cret-pw") && !body.contains("admin:"),
        "{body}"
    );

    let error = parse_settings_error(
        "defaults:\n  provider: up\nproviders:\n  up: { kind: openai, base_url: \"http://h/v1?key=s3cret\", default_model: m }\n",
    );
    assert!(
        error.contains("providers.up.base_url") && error.contains("query"),
        "{error}"
    );
}

const MOCK_ONLY: &str =
    "defaults:\n  provider: m\nproviders:\n  m: { kind: mock, default_model: mock }\n";

async fn post_raw(proxy: &Proxy, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    let mut request = client()
        .post(proxy.url("/v1/chat/completions"))
        .body(body.to_string());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("send");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

/// M2: a keyless local proxy refuses what a foreign web page can send it: a cross-origin POST
/// (also the preflight-free `text/plain` kind) and a rebound host name.
#[tokio::test]
async fn a_keyless_proxy_refuses_foreign_web_pages_and_rebound_hosts() {
    let proxy = start_proxy(&format!(
        "{MOCK_ONLY}server:\n  cors_allow_origins: [\"https://chat.example.com\"]\n"
    ))
    .await;
    let body = r#"{"messages":[{"role":"user","content":"hi"}]}"#;
    let json = ("content-type", "application/json");

    let (status, text) = post_raw(
        &proxy,
        &[
            ("origin", "https://evil.example"),
            ("content-type", "text/plain"),
        ],
        body,
    )
    .await;
    assert_eq!(status, 415, "{text}");
    let (status, text) = post_raw(&proxy, &[("origin", "https://evil.example"), json], body).await;
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("server.cors_allow_origins"), "{text}");
    let (status, _) = post_raw(
        &proxy,
        &[("origin", "https://chat.example.com"), json],
        body,
    )
    .await;
    assert_eq!(status, 200, "a configured origin is served");
    let (status, _) = post_raw(&proxy, &[("origin", "http://localhost:3000"), json], body).await;
    assert_eq!(status, 200, "a page on this machine is the user's own");
    let (status, text) =
        post_raw(&proxy, &[("host", "rebound.evil.example:8001"), json], body).await;
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("server.allowed_hosts"), "{text}");
    let (status, _) = post_raw(&proxy, &[("host", "localhost:8001"), json], body).await;
    assert_eq!(status, 200);
    let (status, _) = post_raw(&proxy, &[], body).await;
    assert_eq!(status, 200, "curl without a content type still works");
    let (status, text) = post_raw(
        &proxy,
        &[("content-type", "application/x-www-form-urlencoded")],
        body,
    )
    .await;
    assert_eq!(status, 415, "{text}");
    let health = client()
        .get(proxy.url("/health"))
        .header("host", "10.0.0.7:8001")
        .send()
        .await
        .expect("send");
    assert_eq!(health.status(), 200, "probes may use any host name");
}

/// M2's trade-off: with client keys, a page without the key gets 401 anyway, so origins and
/// host names are not checked (a browser UI on another origin needs only CORS).
#[tokio::test]
async fn with_keys_the_key_decides_not_the_origin() {
    let proxy = start_proxy(&format!("{MOCK_ONLY}{TWO_TENANTS}")).await;
    let body = r#"{"messages":[{"role":"user","content":"hi"}]}"#;
    let (status, _) = post_raw(
        &proxy,
        &[
            ("origin", "https://evil.example"),
            ("content-type", "application/json"),
        ],
        body,
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = post_raw(
        &proxy,
        &[
            ("origin", "https://ui.example"),
            ("content-type", "application/json"),
            ("authorization", "Bearer sk-team-a"),
        ],
        body,
    )
    .await;
    assert_eq!(status, 200);
}

/// M7: random model names (refused or not) do not grow `/metrics`: label values come from a
/// bounded set and everything else is `other`.
#[tokio::test]
async fn random_model_names_do_not_grow_the_metrics() {
    let up = FakeUpstream::start(|_: &Recorded| {
        Reply::error(
            404,
            json!({"error": {"message": "no such model", "type": "invalid_request_error"}}),
        )
    })
    .await;
    let proxy = start_proxy(&format!(
        "{}auth:\n  keys:\n    - {{ name: narrow, key: sk-narrow, models: [\"gpt-4o*\"] }}\n    - {{ name: wide, key: sk-wide }}\n",
        settings_yaml("openai", &up.openai_base(), "")
    ))
    .await;
    assert_eq!(chat_status(&proxy, "sk-narrow", "warm-up").await, 403);
    assert_eq!(chat_status(&proxy, "sk-wide", "warm-up").await, 404);
    let before = get_text(&proxy.url("/metrics")).await.lines().count();
    for i in 0..150 {
        let model = format!("random-{i}");
        assert_eq!(chat_status(&proxy, "sk-narrow", &model).await, 403);
        assert_eq!(chat_status(&proxy, "sk-wide", &model).await, 404);
    }
    let metrics = get_text(&proxy.url("/metrics")).await;
    let after = metrics.lines().count();
    assert!(
        after <= before + 10,
        "metrics grew from {before} to {after} lines"
    );
    assert!(
        !metrics.contains("random-"),
        "a client's model name became a label"
    );
    assert!(metrics.contains("model=\"other\""), "{metrics}");
}

/// L8, the documented rule: an allowed agent may call the models its YAML names (the operator
/// granted it), a key without the agent is refused, and a model the client names is checked.
#[tokio::test]
async fn an_allowed_agent_uses_its_own_model_but_client_models_are_checked() {
    let up = FakeUpstream::start(script(vec![text_reply("from the agent", 3, 2)])).await;
    let root = project(
        "agent-grant",
        &[(
            "agents/pricey.yaml",
            "name: pricey\ninstruction: Be thorough.\nmodel: up/expensive-model\n",
        )],
    );
    let proxy = start_proxy(&agent_settings(
        &up.openai_base(),
        &root,
        "auth:\n  keys:\n    - { name: granted, key: sk-granted, models: [pricey, cheap-model] }\n    - { name: other, key: sk-other, models: [cheap-model] }\n",
    ))
    .await;
    let ok = chat_as(
        &proxy,
        "sk-granted",
        json!({"model": "pricey", "messages": user("hi")}),
        &[],
    )
    .await;
    assert_eq!(ok.status(), 200);
    assert_eq!(up.last_request().body["model"], "expensive-model");
    let refused = chat_as(
        &proxy,
        "sk-other",
        json!({"model": "pricey", "messages": user("hi")}),
        &[],
    )
    .await;
    assert_eq!(refused.status(), 403);
    let direct = chat_as(
        &proxy,
        "sk-granted",
        json!({"model": "up/expensive-model", "messages": user("hi")}),
        &[],
    )
    .await;
    assert_eq!(direct.status(), 403, "the model itself is not granted");
}

/// An upstream that never reports usage (llama.cpp's server): the client that asked still gets
/// a usage chunk, marked as an estimate, and `tpm` limits are charged with it.
#[tokio::test]
async fn usage_is_estimated_when_the_upstream_sends_none_and_limits_are_charged() {
    let answer = "word ".repeat(200);
    let up = FakeUpstream::start(move |req: &Recorded| {
        if req.body["stream"] == true {
            let mut steps = vec![Step::Data(chunk(json!({"role": "assistant"}), None))];
            steps.push(Step::Data(chunk(json!({"content": answer.clone()}), None)));
            steps.push(Step::Data(chunk(json!({}), Some("stop"))));
            steps.push(Step::Data("[DONE]".into()));
            Reply::Sse(steps)
        } else {
            Reply::json(json!({"id": "x", "object": "chat.completion", "created": 1, "model": "m",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.clone()}, "finish_reason": "stop"}]}))
        }
    })
    .await;
    let proxy = start_proxy(&format!(
        "{}auth:\n  keys:\n    - {{ name: small, key: sk-small, tpm: 300 }}\n",
        settings_yaml("openai", &up.openai_base(), "")
    ))
    .await;
    let asked = read_sse(
        chat_as(
            &proxy,
            "sk-small",
            json!({"messages": user("hi"), "stream": true, "stream_options": {"include_usage": true}}),
            &[],
        )
        .await,
    )
    .await;
    let usage = asked
        .json()
        .iter()
        .find(|c| c["usage"].is_object())
        .map(|c| c["usage"].clone())
        .expect("a usage chunk arrives");
    assert_eq!(usage["estimated"], true, "{usage}");
    assert_eq!(
        usage["completion_tokens"], 250,
        "1000 bytes ≈ 250 tokens: {usage}"
    );

    let whole: Value = chat_as(&proxy, "sk-small", json!({"messages": user("hi")}), &[])
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(whole["usage"]["estimated"], true, "{whole}");

    // 2 × ~250 estimated tokens against a 300 tpm budget: the next request is refused.
    let limited = chat_as(&proxy, "sk-small", json!({"messages": user("hi")}), &[]).await;
    assert_eq!(limited.status(), 429);
}

/// M8: slowloris sockets are closed after the header timeout, connections past the cap are
/// refused, and a reserve keeps `/health` and `/metrics` answering while the cap is reached.
#[tokio::test]
async fn idle_sockets_time_out_and_probes_answer_at_the_connection_cap() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let proxy = start_proxy(&format!(
        "{MOCK_ONLY}server:\n  max_connections: 20\n  header_read_timeout_secs: 1\n"
    ))
    .await;
    let addr = proxy.base.trim_start_matches("http://").to_string();
    let mut slow = Vec::new();
    for _ in 0..20 {
        let mut socket = tokio::net::TcpStream::connect(&addr)
            .await
            .expect("connect");
        socket
            .write_all(b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\n")
            .await
            .expect("write");
        slow.push(socket);
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    // The cap is reached: a probe still answers, a model request gets 503.
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let health = fresh
        .get(proxy.url("/health"))
        .send()
        .await
        .expect("probe answered");
    assert_eq!(health.status(), 200);
    let metrics = fresh
        .get(proxy.url("/metrics"))
        .send()
        .await
        .expect("metrics answered");
    assert_eq!(metrics.status(), 200);
    let busy = fresh
        .post(proxy.url("/v1/chat/completions"))
        .json(&json!({"messages": user("hi")}))
        .send()
        .await
        .expect("answered");
    assert_eq!(busy.status(), 503);
    // The header timeout closes every slow socket.
    for socket in &mut slow {
        let closed = tokio::time::timeout(std::time::Duration::from_secs(3), async {
            let mut buf = [0u8; 512];
            loop {
                match socket.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => continue,
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "the server closes a slow socket");
    }
    drop(slow);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let served = fresh
        .post(proxy.url("/v1/chat/completions"))
        .json(&json!({"messages": user("hi")}))
        .send()
        .await
        .expect("answered");
    assert_eq!(
        served.status(),
        200,
        "capacity is back once the sockets are gone"
    );
}
