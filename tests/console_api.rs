//! The console's JSON API over HTTP: who may open it (keyless loopback, console keys as Bearer
//! or a browser login cookie, closed on a keyless public bind, switched off), that changes come
//! only from its own origin and no CORS reaches it, sessions of all three stores with their
//! timeline, the live feeds, the agent tree — and that no secret appears in any answer.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};
use support::*;

const KEYS: &str = "auth:\n  keys:\n    - { name: ops, key: sk-ops-console, console: true }\n    - { name: app, key: sk-app-client }\n";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

async fn proxy_with(up: &FakeUpstream, extra: &str) -> Proxy {
    start_proxy(&agent_settings(&up.openai_base(), &repo(), extra)).await
}

/// With more lines under `server:` (the test settings already have that section).
async fn proxy_with_server(up: &FakeUpstream, server: &str, extra: &str) -> Proxy {
    let yaml = agent_settings(&up.openai_base(), &repo(), extra).replacen(
        "server:\n",
        &format!("server:\n{server}"),
        1,
    );
    start_proxy(&yaml).await
}

async fn get(proxy: &Proxy, path: &str, auth: Option<&str>) -> reqwest::Response {
    let mut request = client().get(proxy.url(path));
    if let Some(key) = auth {
        request = request.bearer_auth(key);
    }
    request.send().await.expect("send")
}

/// One `planner` turn in session `id`, as a chat client with `key` sends it.
async fn planner_turn(proxy: &Proxy, key: Option<&str>, id: &str) {
    let mut request = client()
        .post(proxy.url("/v1/chat/completions"))
        .header("x-session-id", id)
        .json(&json!({"model": "planner", "stream": true,
            "messages": [{"role": "user", "content": "How do I say hello?"}]}));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.expect("send");
    assert_eq!(response.status(), 200);
    let _ = response.text().await;
}

#[tokio::test]
async fn keyless_loopback_is_open_to_the_machine_and_a_public_keyless_bind_is_closed() {
    let up = FakeUpstream::start(dialect_upstream).await;
    let proxy = proxy_with(&up, "").await;
    let me: Value = get(&proxy, "/console/api/whoami", None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(me["viewer"], "this machine");
    let page = get(&proxy, "/console", None).await;
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    assert!(
        page.headers()["content-security-policy"]
            .to_str()
            .unwrap_or("")
            .contains("frame-ancestors 'none'")
    );
    assert!(page.text().await.expect("html").contains("console.js"));

    let public = proxy_with_server(
        &up,
        "  host: 0.0.0.0\n",
        "auth:\n  allow_unauthenticated: true\n",
    )
    .await;
    let refused = get(&public, "/console/api/sessions", None).await;
    assert_eq!(refused.status(), 403);
    let error: Value = refused.json().await.expect("json");
    assert_eq!(error["error"]["code"], "console_closed");

    let off = proxy_with(&up, "console:\n  enabled: false\n").await;
    assert_eq!(get(&off, "/console", None).await.status(), 404);
    assert_eq!(get(&off, "/console/api/whoami", None).await.status(), 404);
}

#[tokio::test]
async fn with_keys_only_console_keys_get_in_by_bearer_or_a_strict_cookie() {
    let up = FakeUpstream::start(dialect_upstream).await;
    let proxy = proxy_with(&up, KEYS).await;
    assert_eq!(
        get(&proxy, "/console/api/sessions", None).await.status(),
        401
    );
    let refused = get(&proxy, "/console/api/sessions", Some("sk-app-client")).await;
    assert_eq!(refused.status(), 403);
    let error: Value = refused.json().await.expect("json");
    assert_eq!(error["error"]["code"], "console_not_allowed");
    assert_eq!(
        get(&proxy, "/console/api/sessions", Some("sk-ops-console"))
            .await
            .status(),
        200
    );
    // The page itself holds no data and loads for anyone; its API asks for the login.
    assert_eq!(get(&proxy, "/console", None).await.status(), 200);

    let login = |key: &str| {
        client()
            .post(proxy.url("/console/api/login"))
            .json(&json!({"key": key}))
            .send()
    };
    assert_eq!(login("sk-app-client").await.expect("send").status(), 401);
    let ok = login("sk-ops-console").await.expect("send");
    assert_eq!(ok.status(), 200);
    let cookie = ok.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_string();
    for attribute in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/console",
        "Max-Age=43200",
    ] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(
        !cookie.contains("sk-ops-console"),
        "the key is never the cookie"
    );
    let token = cookie.split(';').next().expect("pair").to_string();
    let with_cookie = |path: &str| {
        client()
            .get(proxy.url(path))
            .header("cookie", token.clone())
            .send()
    };
    let me: Value = with_cookie("/console/api/whoami")
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(me["viewer"], "ops");
    // The cookie opens the console only, never the API.
    let api = client()
        .get(proxy.url("/v1/models"))
        .header("cookie", token.clone())
        .send()
        .await
        .expect("send");
    assert_eq!(api.status(), 401);

    // A page on another origin cannot make the console do anything.
    let cross = client()
        .post(proxy.url("/console/api/chat"))
        .header("cookie", token.clone())
        .header("origin", "http://evil.example")
        .json(&json!({"model": "planner", "messages": [], "session_id": "x"}))
        .send()
        .await
        .expect("send");
    assert_eq!(cross.status(), 403);
    let cross_site = client()
        .post(proxy.url("/console/api/logout"))
        .header("cookie", token.clone())
        .header("sec-fetch-site", "cross-site")
        .json(&json!({}))
        .send()
        .await
        .expect("send");
    assert_eq!(cross_site.status(), 403);

    let out = client()
        .post(proxy.url("/console/api/logout"))
        .header("cookie", token.clone())
        .json(&json!({}))
        .send()
        .await
        .expect("send");
    assert_eq!(out.status(), 204);
    assert_eq!(
        with_cookie("/console/api/whoami")
            .await
            .expect("send")
            .status(),
        401,
        "a logged-out token is dead"
    );
}

#[tokio::test]
async fn no_cors_reaches_the_console_even_when_the_api_allows_an_origin() {
    let up = FakeUpstream::start(dialect_upstream).await;
    let proxy =
        proxy_with_server(&up, "  cors_allow_origins: [\"http://chat.example\"]\n", "").await;
    let preflight = |path: &str| {
        client()
            .request(reqwest::Method::OPTIONS, proxy.url(path))
            .header("origin", "http://chat.example")
            .header("access-control-request-method", "POST")
            .send()
    };
    let api = preflight("/v1/chat/completions").await.expect("send");
    assert!(api.headers().contains_key("access-control-allow-origin"));
    let console = preflight("/console/api/chat").await.expect("send");
    assert!(
        !console
            .headers()
            .contains_key("access-control-allow-origin"),
        "{:?}",
        console.headers()
    );
}

/// The timeline of a `planner` session as the console API gives it.
async fn check_session_views(proxy: &Proxy, auth: Option<&str>, user: &str) {
    let id = format!("console-{}", std::process::id());
    planner_turn(proxy, auth, &id).await;
    let listed: Value = get(proxy, &format!("/console/api/sessions?q={id}"), auth)
        .await
        .json()
        .await
        .expect("json");
    let found = &listed["sessions"][0];
    assert_eq!(found["agent"], "planner");
    assert_eq!(found["user"], user);
    assert_eq!(found["turns"], 1);
    assert_eq!(found["events"], 3);
    let query = format!(
        "/console/api/session?agent=planner&user={}&id={id}",
        urlencode(user)
    );
    let session: Value = get(proxy, &query, auth).await.json().await.expect("json");
    let authors: Vec<&str> = session["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["author"].as_str())
        .collect();
    assert_eq!(authors, ["user", "planning_step", "answering_step"]);
    assert_eq!(
        session["events"][1]["content"]["parts"][0]["text"],
        "1. Say hello"
    );
    assert_eq!(session["events"][2]["shown_as_answer"], true);
    assert_eq!(session["state"]["session"]["plan"], "1. Say hello");
    assert_eq!(session["turns"][0]["answered_by"], "answering_step");
    assert_eq!(session["next_agent"], "planner");
    let missing = get(
        proxy,
        &format!("/console/api/session?agent=planner&user=nobody&id={id}"),
        auth,
    )
    .await;
    assert_eq!(missing.status(), 404);
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn sessions_of_every_store_open_with_their_timeline() {
    let up = FakeUpstream::start(dialect_upstream).await;
    let memory = proxy_with(&up, KEYS).await;
    check_session_views(&memory, Some("sk-ops-console"), "key:ops").await;

    let dir = std::env::temp_dir().join(format!("adk-console-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let sqlite = proxy_with(
        &up,
        &format!(
            "sessions:\n  store: sqlite\n  sqlite_path: \"{}\"\n",
            dir.join("sessions.db").display()
        ),
    )
    .await;
    check_session_views(&sqlite, None, "anonymous").await;

    match std::env::var("REDIS_URL") {
        Ok(url) if !url.is_empty() => {
            let redis = proxy_with(
                &up,
                &format!(
                    "redis:\n  url: \"{url}\"\n  prefix: \"adk-console-{}\"\nsessions:\n  store: redis\n",
                    std::process::id()
                ),
            )
            .await;
            check_session_views(&redis, None, "anonymous").await;
        }
        _ => {
            assert!(
                std::env::var("REQUIRE_REDIS").as_deref() != Ok("1"),
                "REQUIRE_REDIS=1 but REDIS_URL is unset"
            );
            eprintln!("skipped the Redis store: REDIS_URL is not set");
        }
    }
}

/// The `data:` payloads of an SSE response, as they come.
fn data_lines(response: reqwest::Response) -> impl futures_util::Stream<Item = Value> {
    let mut buffer = String::new();
    response.bytes_stream().flat_map(move |bytes| {
        buffer.push_str(&String::from_utf8_lossy(&bytes.unwrap_or_default()));
        let mut out = Vec::new();
        while let Some(cut) = buffer.find("\n\n") {
            let block: String = buffer.drain(..cut + 2).collect();
            if let Some(data) = block.trim().strip_prefix("data: ")
                && let Ok(value) = serde_json::from_str::<Value>(data)
            {
                out.push(value);
            }
        }
        futures_util::stream::iter(out)
    })
}

#[tokio::test]
async fn live_feeds_carry_requests_and_a_running_sessions_events() {
    let up = FakeUpstream::start(dialect_upstream).await;
    let proxy = proxy_with(&up, "").await;
    let requests = get(&proxy, "/console/api/live", None).await;
    assert_eq!(requests.headers()["content-type"], "text/event-stream");
    let mut requests = Box::pin(data_lines(requests));
    let session_feed = get(
        &proxy,
        "/console/api/session/live?agent=planner&user=anonymous&id=watched",
        None,
    )
    .await;
    let mut events = Box::pin(data_lines(session_feed));
    // The subscriptions are registered once the answers' headers arrived.
    planner_turn(&proxy, None, "watched").await;

    let record = tokio::time::timeout(Duration::from_secs(5), requests.next())
        .await
        .expect("a record in time")
        .expect("record");
    assert_eq!(record["agent"], "planner");
    assert_eq!(record["status"], 200);
    assert_eq!(record["outcome"], "completed");
    assert_eq!(record["session_id"], "watched");
    assert_eq!(record["session_user"], "anonymous");
    assert!(record["ttft_ms"].as_f64().is_some());
    assert!(record["completion_tokens"].as_u64().is_some());

    let mut authors = Vec::new();
    while authors.len() < 3 {
        let event = tokio::time::timeout(Duration::from_secs(5), events.next())
            .await
            .expect("an event in time")
            .expect("event");
        authors.push(event["author"].as_str().unwrap_or("").to_string());
    }
    assert_eq!(authors, ["user", "planning_step", "answering_step"]);

    // A console read is not a model request: Live does not list it.
    let _ = get(&proxy, "/console/api/sessions", None).await;
    planner_turn(&proxy, None, "second").await;
    let next = tokio::time::timeout(Duration::from_secs(5), requests.next())
        .await
        .expect("a record in time")
        .expect("record");
    assert_eq!(next["session_id"], "second");
}

#[tokio::test]
async fn the_agent_tree_and_every_answer_keep_secrets_out() {
    let up = FakeUpstream::start(dialect_upstream).await;
    let proxy = proxy_with(&up, KEYS).await;
    planner_turn(&proxy, Some("sk-ops-console"), "secrets").await;
    let agents: Value = get(&proxy, "/console/api/agents", Some("sk-ops-console"))
        .await
        .json()
        .await
        .expect("json");
    let roots: Vec<&str> = agents["roots"]
        .as_array()
        .expect("roots")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        roots.contains(&"router") && roots.contains(&"planner"),
        "{roots:?}"
    );
    let router = &agents["agents"]["router"];
    assert_eq!(router["kind"], "LlmAgent");
    assert_eq!(
        router["sub_agents"],
        json!(["code_expert", "writing_expert"])
    );
    assert_eq!(
        router["instruction_source"],
        "file:prompts/router/router.md"
    );
    assert_eq!(agents["agents"]["planner"]["kind"], "SequentialAgent");
    assert!(agents["reload_error"].is_null());

    for path in [
        "/console/api/whoami",
        "/console/api/agents",
        "/console/api/models",
        "/console/api/sessions",
        "/console/api/session?agent=planner&user=key%3Aops&id=secrets",
    ] {
        let text = get(&proxy, path, Some("sk-ops-console"))
            .await
            .text()
            .await
            .expect("body");
        for secret in ["sk-upstream-secret", "sk-ops-console", "sk-app-client"] {
            assert!(!text.contains(secret), "{path} shows {secret}: {text}");
        }
    }
}

#[tokio::test]
async fn a_watching_page_does_not_hold_a_shutdown_up() {
    let up = FakeUpstream::start(dialect_upstream).await;
    let state = build_state(
        &agent_settings(&up.openai_base(), &repo(), ""),
        &[("UP_KEY", "sk-upstream-secret")],
    )
    .await;
    let proxy = serve_state(state.clone()).await;
    let live = get(&proxy, "/console/api/live", None).await;
    assert_eq!(live.status(), 200);
    state.lifecycle.begin_shutdown(Duration::from_secs(60));
    // Streams of answers get the grace period; a live feed ends at once.
    let ended = tokio::time::timeout(Duration::from_secs(3), live.text()).await;
    assert!(ended.is_ok(), "the live feed ended when the shutdown began");
}
