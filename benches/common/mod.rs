//! Shared by the benchmarks: starting the release proxy binary against a given upstream,
//! percentiles, and the proxy's peak memory.

#![allow(dead_code)]

use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};

pub async fn start_proxy(upstream_base: &str) -> (tokio::process::Child, String) {
    let dir = std::env::temp_dir().join(format!("adk-llm-proxy-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let settings = dir.join("settings.yaml");
    std::fs::write(
        &settings,
        format!("defaults: {{ provider: up, model: bench }}\nproviders:\n  up: {{ kind: openai, base_url: \"{upstream_base}\" }}\n"),
    )
    .expect("settings");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_adk-llm-proxy"))
        .args([
            "--config",
            settings.to_str().expect("path"),
            "--port",
            "0",
            "--log-level",
            std::env::var("BENCH_PROXY_LOG")
                .as_deref()
                .unwrap_or("warn,adk_llm_proxy=info"),
        ])
        .env_remove("RUST_LOG")
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn proxy");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let address = loop {
        let line = lines
            .next_line()
            .await
            .expect("read")
            .expect("proxy exited before listening");
        if let Some(pos) = line.find("address=") {
            break line[pos + 8..]
                .chars()
                .take_while(|c| !c.is_whitespace())
                .collect::<String>();
        }
    };
    // Keep draining the log (one access line per request) so the pipe never blocks the proxy.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, format!("http://{address}"))
}

pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// Peak resident memory (VmHWM) of a process, in KiB.
pub fn peak_rss_kib(pid: Option<u32>) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid?)).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}
