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
    let mut request = client()
        .post(proxy.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("send")
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
