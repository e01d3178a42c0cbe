//! The real `adk-llm-proxy` binary: start-up checks, the original tool's flag spelling, the
//! per-request log line, and that no API key reaches the log at any level.

mod support;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::binary_process::start;
use support::*;
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

#[tokio::test]
async fn missing_key_and_unknown_provider_stop_start_up_with_clear_messages() {
    let (code, text) = run_to_end(&mut command(&["--provider", "openai"])).await;
    assert_ne!(code, 0);
    assert!(text.contains("OPENAI_API_KEY"), "{text}");

    let (code, text) = run_to_end(&mut command(&["-provider", "mystery"])).await;
    assert_ne!(code, 0);
    assert!(
        text.contains("mystery") && text.contains("deepseek, mock, ollama, openai"),
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

    // The prefixed environment form overrides any setting; a bad value names the key.
    let (code, text) = run_to_end(
        command(&["-provider", "ollama", "check"])
            .env("ADK_PROXY__PROVIDERS__OLLAMA__DEFAULT_MODEL", "qwen3"),
    )
    .await;
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("'qwen3'"), "{text}");
    let (code, text) = run_to_end(
        command(&["-provider", "ollama", "check"]).env("ADK_PROXY__SERVER__PORT", "abc"),
    )
    .await;
    assert_ne!(code, 0);
    assert!(text.contains("server.port"), "{text}");
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
    // L1: a request id that carries log syntax is replaced, and values are quoted.
    let forged = client()
        .get(format!("{}/v1/models", proxy.base))
        .bearer_auth(client_key)
        .header(
            "x-request-id",
            "evil method=POST path=/admin status=200 key=\"team-a\"",
        )
        .send()
        .await
        .expect("send");
    let replaced = forged.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(replaced.starts_with("req_"), "{replaced}");

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
    assert!(
        !log.contains("path=/admin") && access[2].contains(&format!("request_id=\"{replaced}\"")),
        "a client's request id forged log fields: {}",
        access[2]
    );
    let streamed = access[0];
    for field in [
        "method=\"POST\"",
        "path=\"/v1/chat/completions\"",
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

fn signal(child: &Child, name: &str) {
    let pid = child.id().expect("pid").to_string();
    let status = std::process::Command::new("kill")
        .args([&format!("-{name}"), &pid])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

#[tokio::test]
async fn refuses_public_address_without_keys() {
    let up = FakeUpstream::start(|_| Reply::Sse(openai_text(&["x"]))).await;
    let settings = write_settings(
        "public.yaml",
        &settings_yaml("openai", &up.openai_base(), ""),
    );
    let path = settings.to_str().expect("path");
    let (code, text) =
        run_to_end(command(&["--config", path, "--host", "0.0.0.0", "check"]).env("UP_KEY", "k"))
            .await;
    assert_ne!(code, 0);
    assert!(
        text.contains("auth.keys") && text.contains("0.0.0.0"),
        "{text}"
    );
    let open = write_settings(
        "public-open.yaml",
        &format!(
            "{}auth:\n  allow_unauthenticated: true\n",
            settings_yaml("openai", &up.openai_base(), "")
        ),
    );
    let (code, text) = run_to_end(
        command(&[
            "--config",
            open.to_str().expect("path"),
            "--host",
            "0.0.0.0",
            "check",
        ])
        .env("UP_KEY", "k"),
    )
    .await;
    assert_eq!(code, 0, "{text}");
}

#[tokio::test]
async fn sighup_reloads_keys_without_dropping_streams_and_json_logs_hide_keys() {
    let up = FakeUpstream::start(|_| {
        let mut steps = openai_text(&["one", "two"]);
        steps.insert(2, Step::Sleep(Duration::from_millis(800)));
        Reply::Sse(steps)
    })
    .await;
    let base = settings_yaml("openai", &up.openai_base(), "");
    let with_key =
        |var: &str| format!("{base}auth:\n  keys:\n    - name: client\n      key_env: {var}\n");
    let settings = write_settings("reload.yaml", &with_key("OLD_CLIENT_KEY"));
    let mut cmd = command(&[
        "--config",
        settings.to_str().expect("path"),
        "--port",
        "0",
        "--log-format",
        "json",
        "--log-level",
        "trace",
    ]);
    cmd.env("UP_KEY", "sk-up-TOPSECRET")
        .env("OLD_CLIENT_KEY", "sk-old-TOPSECRET")
        .env("NEW_CLIENT_KEY", "sk-new-TOPSECRET");
    let proxy = start(cmd).await;
    let url = format!("{}/v1/chat/completions", proxy.base);
    let body = json!({"messages": [{"role": "user", "content": "hi"}], "stream": true});

    let open_stream = client()
        .post(&url)
        .bearer_auth("sk-old-TOPSECRET")
        .json(&body)
        .send()
        .await
        .expect("send");
    assert_eq!(open_stream.status(), 200);
    std::fs::write(&settings, with_key("NEW_CLIENT_KEY")).expect("rewrite settings");
    signal(&proxy.child, "HUP");
    let started = Instant::now();
    loop {
        let probe = client()
            .get(format!("{}/v1/models", proxy.base))
            .bearer_auth("sk-new-TOPSECRET")
            .send()
            .await
            .expect("send");
        if probe.status() == 200 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "new key not accepted after SIGHUP"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let old = client()
        .get(format!("{}/v1/models", proxy.base))
        .bearer_auth("sk-old-TOPSECRET")
        .send()
        .await
        .expect("send");
    assert_eq!(old.status(), 401, "the old key is gone");
    let sse = read_sse(open_stream).await;
    assert_eq!(
        sse.content(),
        "onetwo",
        "the stream opened before the reload finished"
    );
    assert!(sse.ends_with_done());

    let log = proxy.stop().await;
    assert!(
        !log.contains("TOPSECRET"),
        "a key leaked into the log:\n{log}"
    );
    let access: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["target"] == "adk_llm_proxy::access")
        .collect();
    assert!(!access.is_empty(), "JSON access lines: {log}");
    assert!(
        access
            .iter()
            .any(|v| v["key"] == "client" && v["status"] == 200 && v["stream"] == true)
    );
    assert!(log.contains("reloaded"), "{log}");
}

#[tokio::test]
async fn sigterm_drains_open_streams_within_the_grace_period() {
    let up = FakeUpstream::start(|req| {
        let pause = if req.body["model"] == "long" {
            3000
        } else {
            300
        };
        let mut steps = openai_text(&["first", "last"]);
        steps.insert(2, Step::Sleep(Duration::from_millis(pause)));
        Reply::Sse(steps)
    })
    .await;
    let yaml = settings_yaml("openai", &up.openai_base(), "")
        .replace("server:\n", "server:\n  shutdown_grace_secs: 1\n");
    let settings = write_settings("drain.yaml", &yaml);
    let mut cmd = command(&["--config", settings.to_str().expect("path"), "--port", "0"]);
    cmd.env("UP_KEY", "k");
    let mut proxy = start(cmd).await;
    let url = format!("{}/v1/chat/completions", proxy.base);
    let short = client().post(&url).json(&json!({"model": "short", "stream": true, "messages": [{"role": "user", "content": "hi"}]})).send().await.expect("send");
    let long = client().post(&url).json(&json!({"model": "long", "stream": true, "messages": [{"role": "user", "content": "hi"}]})).send().await.expect("send");
    signal(&proxy.child, "TERM");
    let short = read_sse(short).await;
    assert!(
        short.ends_with_done(),
        "a stream that ends within the grace period completes: {}",
        short.raw
    );
    let long = read_sse(long).await;
    assert!(!long.ends_with_done());
    let last: Value = serde_json::from_str(long.data.last().expect("events")).expect("json");
    assert_eq!(
        last["error"]["code"], "server_shutting_down",
        "{}",
        long.raw
    );
    let status = tokio::time::timeout(Duration::from_secs(5), proxy.child.wait())
        .await
        .expect("process exits")
        .expect("status");
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn agents_are_validated_at_start_and_reloaded_on_sighup() {
    // The shipped agents load with the shipped settings.
    let (code, text) = run_to_end(command(&["check"]).env("OPENAI_API_KEY", "sk-test")).await;
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("top-level: assistant, critic_loop, editor, fact_checker, planner, router"),
        "{text}"
    );

    let up = FakeUpstream::start(|req| {
        if req.path.ends_with("/chat/completions") {
            Reply::Sse(openai_text(&["hi"]))
        } else {
            Reply::error(404, json!({"error": "no"}))
        }
    })
    .await;
    let settings_path = write_settings(
        "agents.yaml",
        &settings_yaml("openai", &up.openai_base(), ""),
    );
    let settings = settings_path.to_str().expect("path");
    let broken = project(
        "broken-agents",
        &[(
            "agents/bad.yaml",
            "name: bad\ntools:\n  - name: no_such_tool\n",
        )],
    );
    let broken_dir = broken.join("agents");
    let broken_dir = broken_dir.to_str().expect("path");
    for args in [
        vec!["--config", settings, "--agents-dir", broken_dir, "check"],
        vec![
            "--config",
            settings,
            "-agents-dir",
            broken_dir,
            "--port",
            "0",
        ],
    ] {
        let (code, text) = run_to_end(command(&args).env("UP_KEY", "k")).await;
        assert_eq!(code, 2, "{text}");
        assert!(
            text.contains("bad.yaml: tools[0]: unknown tool 'no_such_tool'"),
            "{text}"
        );
    }
    // SIGHUP picks up a new agent file.
    let live = project(
        "live-agents",
        &[("agents/first.yaml", "name: first\ninstruction: one\n")],
    );
    let live_dir = live.join("agents");
    let mut cmd = command(&[
        "--config",
        settings,
        "--agents-dir",
        live_dir.to_str().expect("path"),
        "--port",
        "0",
    ]);
    cmd.env("UP_KEY", "k");
    let proxy = start(cmd).await;
    let ids = |list: Value| -> Vec<String> {
        list["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| m["owned_by"] == "adk-llm-proxy")
            .filter_map(|m| m["id"].as_str().map(str::to_string))
            .collect()
    };
    assert_eq!(
        ids(get_json(&format!("{}/v1/models", proxy.base), None).await),
        ["first"]
    );
    std::fs::write(
        live_dir.join("second.yaml"),
        "name: second\ninstruction: two\n",
    )
    .expect("write");
    // The same signal re-reads the pipeline stages of settings.yaml.
    std::fs::write(
        &settings_path,
        format!(
            "{}pipeline:\n  stream:\n    - stage: append\n      text: reloaded footer\n",
            settings_yaml("openai", &up.openai_base(), "")
        ),
    )
    .expect("rewrite settings");
    signal(&proxy.child, "HUP");
    let started = Instant::now();
    loop {
        let now = ids(get_json(&format!("{}/v1/models", proxy.base), None).await);
        if now == ["first", "second"] {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "not reloaded: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let answer = stream_from(
        &proxy.base,
        json!({"model": "plain", "stream": true, "messages": [{"role": "user", "content": "x"}]}),
    )
    .await;
    assert_eq!(answer.content(), "hi\n\nreloaded footer");
    let log = proxy.stop().await;
    assert!(log.contains("reloaded agents on SIGHUP"), "{log}");
    assert!(
        log.contains("reloaded the pipeline stages on SIGHUP"),
        "{log}"
    );
}

/// The README's first command on a machine with no provider key and no Ollama: the shipped
/// settings and agents with `--provider mock` stream the planner's plan as reasoning and an
/// answer as content.
#[tokio::test]
async fn the_first_command_works_without_any_provider() {
    let mut cmd = command(&["--provider", "mock", "--port", "0"]);
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("OLLAMA_HOST");
    let proxy = start(cmd).await;
    let answer = stream_from(&proxy.base, json!({"model": "planner", "stream": true, "messages": [{"role": "user", "content": "How do I boil an egg?"}]})).await;
    assert!(
        answer.reasoning().contains("[planning_step]")
            && answer.reasoning().contains("boil an egg"),
        "{}",
        answer.raw
    );
    assert_eq!(answer.content(), "Mock answer: How do I boil an egg?");
    assert!(answer.raw.ends_with("data: [DONE]\n\n"), "{}", answer.raw);
    let log = proxy.stop().await;
    assert!(
        log.contains("agent=\"planner\"") && log.contains("llm_calls=2"),
        "{log}"
    );
}

/// L6: a password in base_url is not printed in the start-up line.
#[tokio::test]
async fn the_start_up_line_hides_base_url_credentials() {
    let settings = write_settings(
        "creds.yaml",
        "defaults:\n  provider: up\nproviders:\n  up: { kind: openai, base_url: \"http://admin:s3cret-pw@127.0.0.1:9/v1\", default_model: m }\n",
    );
    let proxy = start(command(&[
        "--config",
        settings.to_str().expect("path"),
        "--port",
        "0",
    ]))
    .await;
    let log = proxy.stop().await;
    assert!(log.contains("base_url=http://***@127.0.0.1:9/v1"), "{log}");
    assert!(!log.contains("s3cret-pw"), "{log}");
}

/// L3 and L9: during a shutdown `/ready` keeps answering (503) instead of refusing connections,
/// a new request gets 503, and a non-streaming request still waiting for its upstream when the
/// grace period ends gets a 503 answer — then the process exits.
#[tokio::test]
async fn draining_answers_probes_and_every_waiting_request() {
    let up = FakeUpstream::start(|_| Reply::Hang).await;
    let yaml = settings_yaml("openai", &up.openai_base(), "")
        .replace("server:\n", "server:\n  shutdown_grace_secs: 1\n");
    let settings = write_settings("drain-probes.yaml", &yaml);
    let mut cmd = command(&["--config", settings.to_str().expect("path"), "--port", "0"]);
    cmd.env("UP_KEY", "k");
    let mut proxy = start(cmd).await;
    let url = format!("{}/v1/chat/completions", proxy.base);
    let waiting = tokio::spawn({
        let url = url.clone();
        async move {
            let started = Instant::now();
            let response = client()
                .post(&url)
                .json(&json!({"messages": [{"role": "user", "content": "hi"}]}))
                .send()
                .await
                .expect("an answer, not a dropped connection");
            (response.status().as_u16(), started.elapsed())
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    signal(&proxy.child, "TERM");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let ready = client()
        .get(format!("{}/ready", proxy.base))
        .send()
        .await
        .expect("/ready answers while draining");
    assert_eq!(ready.status(), 503);
    let late = client()
        .post(&url)
        .json(&json!({"messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .expect("a new request is answered");
    assert_eq!(late.status(), 503);
    let (status, took) = waiting.await.expect("task");
    assert_eq!(status, 503);
    assert!(took < Duration::from_secs(3), "{took:?}");
    let exit = tokio::time::timeout(Duration::from_secs(5), proxy.child.wait())
        .await
        .expect("process exits")
        .expect("status");
    assert!(exit.success(), "{exit:?}");
}

/// The SSE answer of the binary at `base` to a chat request.
async fn stream_from(base: &str, body: Value) -> SseTranscript {
    let response = client()
        .post(format!("{base}/v1/chat/completions"))
        .json(&body)
        .send()
        .await
        .expect("send");
    read_sse(response).await
}

/// `server.worker_threads` sets the async workers (it was read and then ignored: the runtime was
/// built with one worker per core whatever the file said); the start-up line says how many.
#[tokio::test]
async fn worker_threads_setting_sizes_the_runtime() {
    let wanted = std::thread::available_parallelism().map_or(1, |n| n.get()) + 1;
    let settings = write_settings(
        "workers.yaml",
        &format!(
            "server:\n  worker_threads: {wanted}\ndefaults:\n  provider: up\nproviders:\n  up: {{ kind: openai, base_url: \"http://127.0.0.1:9/v1\", default_model: m }}\n"
        ),
    );
    let proxy = start(command(&[
        "--config",
        settings.to_str().expect("path"),
        "--port",
        "0",
    ]))
    .await;
    let log = proxy.stop().await;
    assert!(log.contains(&format!("workers={wanted} ")), "{log}");
}
