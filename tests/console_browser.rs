//! The console in a real browser: the proxy binary with the shipped agents, against the scripted
//! upstream, driven by headless Chromium through playwright-core (tests/browser/console_check.mjs).
//! Skipped where there is no Chromium or no `npm install` in tests/browser, unless
//! `REQUIRE_BROWSER=1` (CI) makes that a failure. Screenshots go to `target/console-shots/`.

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use support::binary_process::{Running, start};
use support::*;
use tokio::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Why the browser test cannot run here, if it cannot.
fn missing_browser() -> Option<String> {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        return Some(format!("no Chromium at {chromium}"));
    }
    if !repo()
        .join("tests/browser/node_modules/playwright-core")
        .exists()
    {
        return Some("playwright-core is not installed (npm ci --prefix tests/browser)".into());
    }
    None
}

/// True when the browser test can run; otherwise says why (a failure under `REQUIRE_BROWSER=1`).
fn browser_available() -> bool {
    match missing_browser() {
        None => true,
        Some(why) => {
            assert!(
                std::env::var("REQUIRE_BROWSER").as_deref() != Ok("1"),
                "REQUIRE_BROWSER=1 but {why}"
            );
            eprintln!("skipped: {why}");
            false
        }
    }
}

/// The binary with the shipped agents against `up`, and `extra` settings.
async fn proxy_binary(up: &FakeUpstream, name: &str, extra: &str) -> Running {
    let dir = std::env::temp_dir().join(format!("adk-console-browser-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let settings = dir.join(name);
    std::fs::write(&settings, agent_settings(&up.openai_base(), &repo(), extra)).expect("settings");
    let mut command = Command::new(env!("CARGO_BIN_EXE_adk-llm-proxy"));
    command
        .args(["--config", settings.to_str().expect("path"), "--port", "0"])
        .env("UP_KEY", "sk-upstream-secret")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    start(command).await
}

/// Runs a browser script with `args`; asserts it passed, showing its output and the proxy's log.
async fn run_browser_check(script: &str, args: &[&str], proxy: Running) -> String {
    let output = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        Command::new("node")
            .arg(repo().join(script))
            .args(args)
            .output(),
    )
    .await
    .expect("the browser check finishes in time")
    .expect("node runs");
    let log = proxy.stop().await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("all checks passed"),
        "browser check failed:\n{stdout}\n{stderr}\nproxy log:\n{log}"
    );
    log
}

fn shots_dir() -> PathBuf {
    let shots = repo().join("target/console-shots");
    std::fs::create_dir_all(&shots).expect("shots dir");
    shots
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_shows_live_requests_a_session_timeline_and_an_agent_tree() {
    if !browser_available() {
        return;
    }
    let up = FakeUpstream::start(dialect_upstream).await;
    let proxy = proxy_binary(&up, "open.yaml", "").await;
    let base = proxy.base.clone();
    let shots = shots_dir();
    let log = run_browser_check(
        "tests/browser/console_check.mjs",
        &[&base, shots.to_str().expect("path")],
        proxy,
    )
    .await;
    // The playground's turn is an ordinary request of the proxy, with its log line.
    assert!(
        log.contains("path=\"/console/api/chat\"") && log.contains("agent=\"planner\""),
        "{log}"
    );
    for shot in [
        "console-live",
        "console-session",
        "console-agents",
        "console-playground",
    ] {
        assert!(
            shots.join(format!("{shot}.png")).exists(),
            "{shot}.png saved"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_login_takes_only_console_keys_and_keeps_the_key_out_of_the_page() {
    if !browser_available() {
        return;
    }
    let up = FakeUpstream::start(dialect_upstream).await;
    let keys = "auth:\n  keys:\n    - { name: ops, key: sk-ops-console-key, console: true }\n    - { name: app, key: sk-app-key }\n";
    let proxy = proxy_binary(&up, "keys.yaml", keys).await;
    let base = proxy.base.clone();
    let shots = shots_dir();
    run_browser_check(
        "tests/browser/console_login_check.mjs",
        &[
            &base,
            "sk-ops-console-key",
            "sk-app-key",
            shots.to_str().expect("path"),
        ],
        proxy,
    )
    .await;
    assert!(shots.join("console-login.png").exists());
}
