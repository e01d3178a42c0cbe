//! The real `adk-llm-proxy` binary: start-up checks, the original tool's flag spelling, the
//! per-request log line, and that no API key reaches the log at any level.

mod support;

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use support::*;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_adk-llm-proxy");

fn write_settings(name: &str, yaml: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("adk-llm-proxy-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, yaml).expect("write settings");
    path
}

fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("RUST_LOG")
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .env_remove("DEEPSEEK_API_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

async fn run_to_end(cmd: &mut Command) -> (i32, String) {
    let output = tokio::time::timeout(Duration::from_secs(20), cmd.output())
        .await
        .expect("binary exits")
        .expect("binary runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

/// A running binary whose stderr is collected; `base` is parsed from its "listening" line.
struct Running {
    child: Child,
    log: Arc<Mutex<String>>,
    base: String,
}

async fn start(mut cmd: Command) -> Running {
    let mut child = cmd.spawn().expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let log = Arc::new(Mutex::new(String::new()));
    let sink = log.clone();
    tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let mut log = sink.lock().expect("lock");
            log.push_str(&line);
            log.push('\n');
        }
    });
    let started = Instant::now();
    loop {
        let text = log.lock().expect("lock").clone();
        if let Some(pos) = text.find("address=") {
            let addr: String = text[pos + 8..]
                .chars()
                .take_while(|c| !c.is_whitespace())
                .collect();
            return Running {
                child,
                log,
                base: format!("http://{addr}"),
            };
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "proxy did not start: {text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

impl Running {
    async fn stop(mut self) -> String {
        let _ = self.child.kill().await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.log.lock().expect("lock").clone()
    }
}

#[tokio::test]
async fn missing_key_and_unknown_provider_stop_start_up_with_clear_messages() {
    let (code, text) = run_to_end(&mut command(&["--provider", "openai"])).await;
    assert_ne!(code, 0);
    assert!(text.contains("OPENAI_API_KEY"), "{text}");

    let (code, text) = run_to_end(&mut command(&["-provider", "mystery"])).await;
    assert_ne!(code, 0);
    assert!(
        text.contains("mystery") && text.contains("deepseek, ollama, openai"),
        "{text}"
    );

    let bad = write_settings("bad.yaml", "server:\n  prot: 1\nproviders: {}\n");
    let (code, text) = run_to_end(&mut command(&["--config", bad.to_str().expect("path")])).await;
    assert_ne!(code, 0);
    assert!(text.contains("bad.yaml") && text.contains("prot"), "{text}");

    let (code, text) = run_to_end(&mut command(&["--help"])).await;
    assert_eq!(code, 0);
    for flag in [
        "--provider",
        "--model",
        "--host",
        "--port",
        "--config",
        "--log-level",
    ] {
        assert!(text.contains(flag), "--help mentions {flag}");
    }

    let (code, text) = run_to_end(
        command(&["-provider", "ollama", "-model", "mistral", "check"])
            .env("OLLAMA_HOST", "127.0.0.1:1"),
    )
    .await;
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("ollama") && text.contains("mistral"));
}

#[tokio::test]
async fn single_dash_flags_serve_and_log_one_line_per_request_without_keys() {
    let up = FakeUpstream::start(|req| {
        if req.body["stream"] == true {
            let mut steps = openai_text(&["Hi", "!"]);
            steps.insert(steps.len() - 1, Step::Data(usage_chunk(5, 2)));
            Reply::Sse(steps)
        } else {
            Reply::json(completion(
                json!({"role": "assistant", "content": "Hi"}),
                "stop",
            ))
        }
    })
    .await;
    let settings = write_settings(
        "serve.yaml",
        &settings_yaml("openai", &up.openai_base(), ""),
    );
    let upstream_key = "sk-upstream-TOPSECRET-123";
    let client_key = "sk-client-TOPSECRET-456";
    let mut cmd = command(&[
        "-config",
        settings.to_str().expect("path"),
        "-provider",
        "up",
        "-model",
        "m1",
        "-port",
        "0",
        "-log-level",
        "trace",
    ]);
    cmd.env("UP_KEY", upstream_key);
    let proxy = start(cmd).await;

    let stream = client()
        .post(format!("{}/v1/chat/completions", proxy.base))
        .bearer_auth(client_key)
        .json(&json!({"messages": [{"role": "user", "content": "hello"}], "stream": true, "stream_options": {"include_usage": true}}))
        .send()
        .await
        .expect("send");
    let sse = read_sse(stream).await;
    assert_eq!(sse.content(), "Hi!");
    assert_eq!(
        up.last_request().body["model"],
        "m1",
        "-model sets the default model"
    );
    assert_eq!(
        up.last_request().headers["authorization"],
        format!("Bearer {upstream_key}")
    );
    let whole = client()
        .post(format!("{}/v1/chat/completions", proxy.base))
        .bearer_auth(client_key)
        .json(&json!({"messages": [{"role": "user", "content": "hello"}]}))
        .send()
        .await
        .expect("send");
    assert_eq!(whole.status(), 200);
    let _ = whole.bytes().await;
    let _ = client()
        .get(format!("{}/v1/models", proxy.base))
        .bearer_auth(client_key)
        .send()
        .await;

    tokio::time::sleep(Duration::from_millis(200)).await;
    let log = proxy.stop().await;
    assert!(log.lines().count() > 20, "trace logging is on: {log}");
    assert!(
        !log.contains("TOPSECRET"),
        "an API key leaked into the log:\n{log}"
    );
    let access: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("adk_llm_proxy::access"))
        .collect();
    assert_eq!(access.len(), 3, "one line per request: {access:#?}");
    let streamed = access[0];
    for field in [
        "method=POST",
        "path=/v1/chat/completions",
        "status=200",
        "provider=\"up\"",
        "model=\"m1\"",
        "stream=true",
        "latency_ms=",
        "ttft_ms=",
        "prompt_tokens=5",
        "completion_tokens=2",
    ] {
        assert!(streamed.contains(field), "{field} missing in: {streamed}");
    }
    assert!(
        access[1].contains("stream=false") && access[1].contains("prompt_tokens=9"),
        "{}",
        access[1]
    );
}
