//! Load run: many concurrent streaming clients against the fake upstream, first directly, then
//! through the release proxy binary, in one run. Reports completed streams, errors, time to first
//! token (p50/p99) for both paths with the proxy's added milliseconds, and the proxy's peak RSS.
//!
//! Run: `cargo bench --bench load` (env: `LOAD_CLIENTS`, default 2000; `LOAD_SECS` per path,
//! default 60; `LOAD_RSS_EVERY` seconds between RSS samples of the proxy, default 5; `LOAD_AFTER`
//! seconds after the load at which to read the proxy's RSS and open descriptors, default "5").
//! For a soak, set `LOAD_SECS` to the time wanted and `LOAD_DIRECT_SECS` to a short baseline:
//! the proxy's RSS over the run is printed, with its idle value before and the values after. Each upstream stream is 10 chunks 100 ms apart, like a model writing ~10 tok/s
//! per client, so the run measures holding thousands of live streams, not raw throughput.

mod common;
#[path = "../tests/support/fake_upstream.rs"]
mod fake_upstream;

use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_upstream::{Reply, Step, chunk};
use futures_util::StreamExt;
use serde_json::json;

/// Long enough for the proxy's quiet-time trim (`memory_return`: looks every 2 s, trims after a
/// whole quiet look).
const QUIET_TRIM: Duration = Duration::from_secs(5);

fn main() {
    let clients: usize = std::env::var("LOAD_CLIENTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    let secs: u64 = std::env::var("LOAD_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);

    let upstream = common::spawn_upstream(|_| {
        let mut steps = vec![Step::Data(chunk(
            json!({"role": "assistant", "content": ""}),
            None,
        ))];
        for i in 0..10 {
            steps.push(Step::Sleep(Duration::from_millis(100)));
            steps.push(Step::Data(chunk(
                json!({"content": format!("tok{i} ")}),
                None,
            )));
        }
        steps.push(Step::Data(chunk(json!({}), Some("stop"))));
        steps.push(Step::Data("[DONE]".into()));
        Reply::Sse(steps)
    });

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let (mut child, proxy) = common::start_proxy(&format!("http://{upstream}/v1")).await;
        let before = TcpCounters::read();
        // `LOAD_DIRECT_SECS` shortens the baseline for a soak of the proxy (default: `LOAD_SECS`).
        let direct_secs: u64 = std::env::var("LOAD_DIRECT_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(secs);
        let direct = run(&format!("http://{upstream}/v1/chat/completions"), clients, Duration::from_secs(direct_secs)).await;
        let middle = TcpCounters::read();
        let pid = child.id();
        let rss_idle = common::rss_kib(pid);
        // Idle again after a few requests: the code that serves them is then resident too (the
        // binary's pages count in RSS), as in any proxy that has served before the load comes.
        let warm_url = format!("{proxy}/v1/chat/completions");
        let _ = run(&warm_url, 4, Duration::from_millis(1500)).await;
        tokio::time::sleep(crate::QUIET_TRIM).await;
        let rss_warm = common::rss_kib(pid);
        let every: u64 = std::env::var("LOAD_RSS_EVERY").ok().and_then(|s| s.parse().ok()).unwrap_or(5);
        let samples = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        // The proxy's RSS every `every` seconds while it carries the load.
        let sampler = {
            let samples = samples.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(every.max(1)));
                tick.tick().await;
                loop {
                    tick.tick().await;
                    samples.lock().expect("samples").push(common::rss_kib(pid).unwrap_or(0));
                }
            })
        };
        let proxied = run(&format!("{proxy}/v1/chat/completions"), clients, Duration::from_secs(secs)).await;
        sampler.abort();
        let after = TcpCounters::read();
        // The proxy's RSS at each of these seconds after the load (`LOAD_AFTER`, default "5"): the
        // pool closes idle upstream connections 90–180 s after their last use and quiet trims
        // follow every 30 s up to 182 s (`memory_return`), so "5,100,185" shows where memory
        // settles.
        let marks: Vec<u64> = std::env::var("LOAD_AFTER")
            .unwrap_or_else(|_| "5".into())
            .split(',')
            .filter_map(|s| s.trim().parse().ok())
            .collect();
        let ended = Instant::now();
        let mut rss_after = Vec::new();
        for mark in marks {
            let at = ended + Duration::from_secs(mark);
            tokio::time::sleep_until(at.into()).await;
            let fds = pid
                .and_then(|pid| std::fs::read_dir(format!("/proc/{pid}/fd")).ok())
                .map_or(0, |dir| dir.count());
            rss_after.push(format!("{mark} s after {} ({fds} fds open)", mib_of(common::rss_kib(pid))));
        }
        let rss = common::peak_rss_kib(child.id());
        println!("\nload: {clients} concurrent streaming clients, {secs} s per path (10 chunks × 100 ms per stream)\n");
        println!("{:>8} | {:>9} {:>7} | {:>10} {:>10} | {:>16} {:>13}", "path", "streams", "errors", "ttft p50", "ttft p99", "listen overflows", "SYN retrans");
        for (name, r, counters) in [("direct", &direct, middle.since(&before)), ("proxy", &proxied, after.since(&middle))] {
            println!(
                "{:>8} | {:>9} {:>7} | {:>8.2}ms {:>8.2}ms | {:>16} {:>13}",
                name, r.completed, r.errors, r.ttft_p50, r.ttft_p99, counters.listen_overflows, counters.syn_retransmits
            );
        }
        println!(
            "\nadded ttft: p50 {:+.2} ms, p99 {:+.2} ms; proxy peak RSS {}",
            proxied.ttft_p50 - direct.ttft_p50,
            proxied.ttft_p99 - direct.ttft_p99,
            rss.map(|k| format!("{:.1} MiB", k as f64 / 1024.0)).unwrap_or_else(|| "unknown".into())
        );
        let series: Vec<String> = samples.lock().expect("samples").iter().map(|k| mib_of(Some(*k))).collect();
        println!(
            "proxy RSS (MiB): idle {}, after a few requests {} → every {every} s under load [{}] → {}",
            mib_of(rss_idle),
            mib_of(rss_warm),
            series.join(" "),
            rss_after.join(", ")
        );
        let _ = child.kill().await;
    });
}

/// KiB as MiB with one decimal, or "?" where unknown.
fn mib_of(kib: Option<u64>) -> String {
    kib.map(|k| format!("{:.1}", k as f64 / 1024.0))
        .unwrap_or_else(|| "?".into())
}

/// The kernel's TCP counters that show connections waiting for a retry: accept queue overflows
/// (`TcpExt: ListenOverflows`) and retransmitted SYNs (`TcpExt: TCPSynRetrans`). Machine-wide, so
/// read around each path's run.
#[derive(Debug, Default, Clone, Copy)]
struct TcpCounters {
    listen_overflows: u64,
    syn_retransmits: u64,
}

impl TcpCounters {
    fn read() -> Self {
        let text = std::fs::read_to_string("/proc/net/netstat").unwrap_or_default();
        let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("TcpExt:")).collect();
        let mut counters = Self::default();
        if let [names, values, ..] = lines.as_slice() {
            for (name, value) in names.split_whitespace().zip(values.split_whitespace()) {
                let value = value.parse().unwrap_or(0);
                match name {
                    "ListenOverflows" => counters.listen_overflows = value,
                    "TCPSynRetrans" => counters.syn_retransmits = value,
                    _ => {}
                }
            }
        }
        counters
    }

    fn since(&self, earlier: &Self) -> Self {
        Self {
            listen_overflows: self
                .listen_overflows
                .saturating_sub(earlier.listen_overflows),
            syn_retransmits: self.syn_retransmits.saturating_sub(earlier.syn_retransmits),
        }
    }
}

struct LoadResult {
    completed: usize,
    errors: usize,
    ttft_p50: f64,
    ttft_p99: f64,
}

async fn run(url: &str, clients: usize, duration: Duration) -> LoadResult {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()
        .expect("client");
    let body = Arc::new(
        json!({"model": "bench", "stream": true, "messages": [{"role": "user", "content": "hi"}]})
            .to_string(),
    );
    let deadline = Instant::now() + duration;
    let mut tasks = Vec::with_capacity(clients);
    for _ in 0..clients {
        let (http, url, body) = (http.clone(), url.to_string(), body.clone());
        tasks.push(tokio::spawn(async move {
            let (mut ttfts, mut errors) = (Vec::new(), 0usize);
            while Instant::now() < deadline {
                let started = Instant::now();
                let response = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body.as_str().to_owned())
                    .send()
                    .await;
                let Ok(response) = response.map_err(|_| errors += 1) else {
                    continue;
                };
                if !response.status().is_success() {
                    errors += 1;
                    continue;
                }
                let mut stream = response.bytes_stream();
                let (mut seen, mut ttft) = (String::new(), None);
                while let Some(item) = stream.next().await {
                    let Ok(bytes) = item else { break };
                    seen.push_str(&String::from_utf8_lossy(&bytes));
                    if ttft.is_none() && seen.contains("tok0") {
                        ttft = Some(started.elapsed().as_secs_f64() * 1000.0);
                    }
                }
                match (ttft, seen.contains("[DONE]")) {
                    (Some(ttft), true) => ttfts.push(ttft),
                    _ => errors += 1,
                }
            }
            (ttfts, errors)
        }));
    }
    let (mut all, mut errors) = (Vec::new(), 0);
    for task in tasks {
        if let Ok((ttfts, errs)) = task.await {
            all.extend(ttfts);
            errors += errs;
        }
    }
    all.sort_by(f64::total_cmp);
    LoadResult {
        completed: all.len(),
        errors,
        ttft_p50: common::percentile(&all, 0.5),
        ttft_p99: common::percentile(&all, 0.99),
    }
}
