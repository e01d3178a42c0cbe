//! Shared test harness: the fake upstream and an in-process proxy bound to a loopback port.

#![allow(dead_code)]

pub mod anthropic_upstream;
pub mod binary_process;
pub mod dialect_upstream;
pub mod fake_upstream;

use std::collections::HashMap;
use std::path::Path;

use adk_llm_proxy::api::AppState;
use adk_llm_proxy::config::{Config, Overrides, parse_settings};
use adk_llm_proxy::server::serve_until;

#[allow(unused_imports)]
pub use anthropic_upstream::*;
#[allow(unused_imports)]
pub use dialect_upstream::*;
#[allow(unused_imports)]
pub use fake_upstream::*;

/// A running proxy; `base` is `http://127.0.0.1:<port>`.
pub struct Proxy {
    pub base: String,
}

impl Proxy {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }
}

/// Settings with one provider `up` of `kind` at `base_url`, as the default, plus extra YAML lines
/// appended under `providers.up`.
pub fn settings_yaml(kind: &str, base_url: &str, extra: &str) -> String {
    format!(
        "server:\n  keepalive_secs: 15\ndefaults:\n  provider: up\n  model: test-model\nproviders:\n  up:\n    kind: {kind}\n    base_url: \"{base_url}\"\n    api_key_env: UP_KEY\n{extra}"
    )
}

pub async fn start_proxy(yaml: &str) -> Proxy {
    start_proxy_with_env(yaml, &[("UP_KEY", "sk-upstream-secret")]).await
}

pub async fn start_proxy_with_env(yaml: &str, env: &[(&str, &str)]) -> Proxy {
    serve_state(build_state(yaml, env).await).await
}

/// The proxy's state from test settings. Unless the YAML has its own `agents:` section, no agent
/// files are loaded: the proxy-core tests run through the built-in transparent default agent.
pub async fn build_state(yaml: &str, env: &[(&str, &str)]) -> AppState {
    let yaml = if yaml.lines().any(|l| l.starts_with("agents:")) {
        yaml.to_string()
    } else {
        format!("{yaml}\nagents:\n  dir: \"\"\n")
    };
    let yaml = yaml.as_str();
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let settings = parse_settings(yaml, "test-settings.yaml").expect("test settings parse");
    let config = Config::from_settings(
        Path::new("test-settings.yaml"),
        settings,
        &Overrides::default(),
        &|k| env.get(k).cloned(),
    )
    .expect("test settings are valid");
    AppState::build(config).await.expect("state")
}

/// Serves a built state on a loopback port.
pub async fn serve_state(state: AppState) -> Proxy {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind proxy");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = serve_until(listener, state, std::future::pending()).await;
    });
    Proxy {
        base: format!("http://{addr}"),
    }
}

/// A fresh project directory with `agents/` and `prompts/` and the given files.
pub fn project(name: &str, files: &[(&str, &str)]) -> std::path::PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let root = std::env::temp_dir().join(format!("adk-{}-{n}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    for (path, text) in files {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
    std::fs::create_dir_all(root.join("agents")).expect("agents");
    std::fs::create_dir_all(root.join("prompts")).expect("prompts");
    root
}

/// Settings with provider `up` at `base_url` and the agents of project `root`; `extra` is
/// appended as top-level YAML (e.g. a `runtime:` section).
pub fn agent_settings(base_url: &str, root: &Path, extra: &str) -> String {
    format!(
        "{}agents:\n  dir: \"{}\"\n  prompts_dir: \"{}\"\n{extra}",
        settings_yaml("openai", base_url, ""),
        root.join("agents").display(),
        root.join("prompts").display()
    )
}

/// A `messages` array of one user message.
pub fn user(text: &str) -> serde_json::Value {
    serde_json::json!([{"role": "user", "content": text}])
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().build().expect("client")
}

/// `POST /v1/chat/completions` with a JSON body.
pub async fn post_chat(proxy: &Proxy, body: &serde_json::Value) -> reqwest::Response {
    client()
        .post(proxy.url("/v1/chat/completions"))
        .json(body)
        .send()
        .await
        .expect("send")
}

/// A proxy whose only upstream is a loopback port nobody listens on.
pub async fn proxy_to_nowhere() -> Proxy {
    let port = unused_port();
    start_proxy(&settings_yaml(
        "openai",
        &format!("http://127.0.0.1:{port}/v1"),
        "",
    ))
    .await
}

/// `GET url` as text (e.g. `/metrics`).
pub async fn get_text(url: &str) -> String {
    client()
        .get(url)
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("text")
}

/// The `id`s of a model list.
pub fn model_ids(list: &serde_json::Value) -> Vec<String> {
    list["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|m| m["id"].as_str().map(str::to_string))
        .collect()
}

/// `POST /v1/chat/completions` with `body`, a client key if given, and extra headers.
pub async fn chat_request(
    proxy: &Proxy,
    key: Option<&str>,
    body: &serde_json::Value,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    post_json(proxy, "/v1/chat/completions", key, body, headers).await
}

/// `POST path` with a JSON `body`, a client key if given, and extra headers.
pub async fn post_json(
    proxy: &Proxy,
    path: &str,
    key: Option<&str>,
    body: &serde_json::Value,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = client().post(proxy.url(path)).json(body);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("send")
}

/// The status of a one-message chat request for `model` with `key`.
pub async fn chat_status(proxy: &Proxy, key: &str, model: &str) -> u16 {
    let body = serde_json::json!({"model": model, "messages": user("hi")});
    chat_request(proxy, Some(key), &body, &[])
        .await
        .status()
        .as_u16()
}

/// The status of `GET path` with this `Authorization` header value.
pub async fn get_status_with_authorization(proxy: &Proxy, path: &str, authorization: &str) -> u16 {
    client()
        .get(proxy.url(path))
        .header("authorization", authorization)
        .send()
        .await
        .expect("send")
        .status()
        .as_u16()
}

/// A loopback port nobody listens on (bound, read, released): for "upstream unreachable" cases.
pub fn unused_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// `GET url` and parse the JSON answer (with an optional bearer key).
pub async fn get_json(url: &str, key: Option<&str>) -> serde_json::Value {
    let mut request = client().get(url);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    request
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json")
}
