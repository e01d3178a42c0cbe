//! Proxy overhead benchmark: the same load sent straight to a fake upstream and through the real
//! `adk-llm-proxy` binary (release build), in one run, reported as added milliseconds and ratios.
//!
//! Run: `cargo bench --bench proxy_overhead` (env `BENCH_SECS` sets seconds per measurement,
//! default 3; `BENCH_PAIRS` the number of paired Responses-vs-chat runs, default 8). The fake upstream answers instantly, so every millisecond above the direct
//! baseline is the proxy's own cost (parse, map, serialize, one extra loopback hop).

mod common;
#[path = "../tests/support/fake_upstream.rs"]
mod fake_upstream;

use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_upstream::{Reply, Step, chunk, completion, openai_text};
use futures_util::StreamExt;
use serde_json::json;

const STREAM_PIECES: usize = 20;

fn main() {
    if common::floor::serve_if_asked() {
        return;
    }
    let secs: f64 = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let per_run = Duration::from_secs_f64(secs);

    // The baseline for a Responses client: a server that speaks the Responses API itself,
    // replaying the exact events the proxy wrote for the same answer (captured once below).
    let responses_events: Arc<std::sync::OnceLock<Vec<String>>> = Arc::default();
    let events = responses_events.clone();
    // Rendered once, so neither baseline pays for building its stream per request.
    let pieces: Vec<String> = (0..STREAM_PIECES).map(|i| format!("tok{i} ")).collect();
    let refs: Vec<&str> = pieces.iter().map(String::as_str).collect();
    let chat_stream = openai_text(&refs);
    // The fake upstream gets its own single-threaded runtime on its own thread.
    let upstream = common::spawn_upstream(move |req| {
        if req.path.ends_with("/responses") {
            let steps = events
                .get()
                .into_iter()
                .flatten()
                .map(|e| Step::Raw(e.clone()));
            Reply::Sse(steps.collect())
        } else if req.body["stream"] == true {
            Reply::Sse(chat_stream.clone())
        } else {
            Reply::json(completion(
                json!({"role": "assistant", "content": "Hello there, this is a short answer."}),
                "stop",
            ))
        }
    });
    let _ = (chunk, Step::Hang); // shared helpers used by the tests, unused here

    let client_runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    client_runtime.block_on(async move {
        let (mut child, proxy) = common::start_proxy(&format!("http://{upstream}/v1")).await;
        let (mut floor_child, floor) = common::floor::start(&format!("http://{upstream}")).await;
        let floor_chat = format!("{floor}/v1/chat/completions");
        let floor_responses = format!("{floor}/v1/responses");
        let direct = format!("http://{upstream}/v1/chat/completions");
        let direct_responses = format!("http://{upstream}/v1/responses");
        let proxied = format!("{proxy}/v1/chat/completions");
        let client = reqwest::Client::builder().pool_max_idle_per_host(256).build().expect("client");
        let captured = capture_events(&client, &format!("{proxy}/v1/responses")).await;
        assert!(captured.len() > STREAM_PIECES, "the proxy's Responses stream: {captured:?}");
        let _ = responses_events.set(captured);

        // Warm up both paths (connection pools, allocator, upstream code paths).
        for url in [&direct, &proxied, &floor_chat] {
            let _ = measure_non_stream(&client, url, 8, Duration::from_millis(500), None).await;
        }
        // BENCH_PROFILE=chat|responses|plain|floor|floor-chat: only that load at c=8 (plain: not
        // streamed; floor, floor-chat: to the floor forwarder), for a profiler to attach.
        if let Ok(only) = std::env::var("BENCH_PROFILE") {
            if only == "plain" || only == "floor" {
                let (pid, url) = if only == "plain" { (child.id(), &proxied) } else { (floor_child.id(), &floor_chat) };
                println!("proxy pid {pid:?}: non-streaming requests at c=8 for {secs:.0} s");
                let p = measure_non_stream(&client, url, 8, per_run, pid).await;
                println!("{only}: p50 {:.3} ms, proxy CPU {:.0} µs/request", p.p50, p.cpu_per_request * 1e6);
                let _ = child.kill().await;
                return;
            }
            let (kind, url, pid) = match only.as_str() {
                "responses" => (StreamKind::responses(), format!("{proxy}/v1/responses"), child.id()),
                "floor-chat" => (StreamKind::chat(), floor_chat.clone(), floor_child.id()),
                _ => (StreamKind::chat(), proxied.clone(), child.id()),
            };
            // BENCH_PROFILE_CONC sets the streams' concurrency (default 8).
            let conc = std::env::var("BENCH_PROFILE_CONC").ok().and_then(|c| c.parse().ok()).unwrap_or(8usize);
            println!("proxy pid {pid:?}: {} streams at c={conc} for {secs:.0} s", kind.name);
            let p = measure_stream(&client, &url, &kind, conc, per_run, pid).await;
            println!("{}: total p50 {:.3} ms, proxy CPU {:.0} µs/request", kind.name, p.total_p50, p.cpu_per_request * 1e6);
            let _ = child.kill().await;
            return;
        }

        println!("\nadk-llm-proxy overhead vs direct-to-upstream ({secs:.0} s per measurement, instant fake upstream)\n");
        println!("floor = a forwarder on the proxy's own stack (tokio, hyper, axum, reqwest) that only passes bytes: what no feature costs");
        println!("non-stream chat.completion; CPU = the process's utime+stime per request; share = req/s ÷ direct req/s");
        println!("{:>5} | {:>10} {:>10} {:>9} | {:>10} {:>10} {:>9} | {:>10} {:>10} {:>7} | {:>9} {:>6} | {:>9} {:>9} {:>6}", "conc", "direct p50", "p99", "req/s", "proxy p50", "p99", "req/s", "added p50", "added p99", "ratio", "proxy CPU", "share", "floor p99", "floor CPU", "share");
        for concurrency in [1usize, 8, 64] {
            let d = measure_non_stream(&client, &direct, concurrency, per_run, None).await;
            let p = measure_non_stream(&client, &proxied, concurrency, per_run, child.id()).await;
            let f = measure_non_stream(&client, &floor_chat, concurrency, per_run, floor_child.id()).await;
            println!(
                "{:>5} | {:>8.3}ms {:>8.3}ms {:>9.0} | {:>8.3}ms {:>8.3}ms {:>9.0} | {:>+8.3}ms {:>+8.3}ms {:>6.2}x | {:>7.0}µs {:>5.1}% | {:>+7.3}ms {:>7.0}µs {:>5.1}%",
                concurrency, d.p50, d.p99, d.rps, p.p50, p.p99, p.rps, p.p50 - d.p50, p.p99 - d.p99, p.p50 / d.p50, p.cpu_per_request * 1e6, 100.0 * p.rps / d.rps,
                f.p99 - d.p99, f.cpu_per_request * 1e6, 100.0 * f.rps / d.rps
            );
        }

        println!("\nstreaming ({STREAM_PIECES} content chunks + role + finish + [DONE]); CPU = the process's utime+stime per request");
        println!("direct = the same answer from a server speaking the client's dialect (for responses: the proxy's own events, replayed)");
        println!("{:>9} {:>5} | {:>10} {:>10} | {:>10} {:>10} | {:>10} {:>10} {:>10} {:>7} | {:>9} | {:>10} {:>10} {:>9}", "client", "conc", "direct ttft", "total", "proxy ttft", "total", "added ttft", "ttft p99", "total", "ratio", "proxy CPU", "floor ttft", "total", "floor CPU");
        let chat = StreamKind::chat();
        let responses = StreamKind::responses();
        let responses_url = format!("{proxy}/v1/responses");
        for concurrency in [1usize, 8] {
            // The same upstream stream, to a chat-completions client and to a Responses client.
            for (kind, direct, url, floor_url) in [(&chat, &direct, &proxied, &floor_chat), (&responses, &direct_responses, &responses_url, &floor_responses)] {
                let d = measure_stream(&client, direct, kind, concurrency, per_run, None).await;
                let p = measure_stream(&client, url, kind, concurrency, per_run, child.id()).await;
                let f = measure_stream(&client, floor_url, kind, concurrency, per_run, floor_child.id()).await;
                println!(
                    "{:>9} {:>5} | {:>9.3}ms {:>8.3}ms | {:>9.3}ms {:>8.3}ms | {:>+9.3}ms {:>+8.3}ms {:>+8.3}ms {:>6.2}x | {:>7.0}µs | {:>+8.3}ms {:>+8.3}ms {:>7.0}µs",
                    kind.name, concurrency, d.ttft_p50, d.total_p50, p.ttft_p50, p.total_p50, p.ttft_p50 - d.ttft_p50, p.ttft_p99 - d.ttft_p99, p.total_p50 - d.total_p50, p.total_p50 / d.total_p50, p.cpu_per_request * 1e6,
                    f.ttft_p50 - d.ttft_p50, f.total_p50 - d.total_p50, f.cpu_per_request * 1e6
                );
            }
        }
        // Responses against chat, paired: a difference of a few microseconds is below what one
        // pair of runs can resolve on a shared machine, so the two are measured back to back,
        // in alternating order, many times, and the median of the differences is reported.
        let pairs: usize = std::env::var("BENCH_PAIRS").ok().and_then(|s| s.parse().ok()).unwrap_or(8).max(1);
        let pair_run = Duration::from_secs_f64((secs / 2.0).max(0.5));
        println!("
responses vs chat, paired: {pairs} back-to-back pairs per concurrency ({:.1} s runs, order alternating)", pair_run.as_secs_f64());
        println!("difference = responses − chat, of added total time (proxy − its direct baseline) and of proxy CPU per stream");
        println!("{:>5} | {:>14} {:>20} {:>10} | {:>14}", "conc", "median added", "range", "resp ≤ chat", "median CPU");
        for concurrency in [1usize, 8] {
            let (mut added, mut cpu) = (Vec::new(), Vec::new());
            for pair in 0..pairs {
                let mut order = [(&chat, &direct, &proxied), (&responses, &direct_responses, &responses_url)];
                if pair % 2 == 1 {
                    order.reverse();
                }
                let mut results = Vec::new();
                for (kind, direct, url) in order {
                    let d = measure_stream(&client, direct, kind, concurrency, pair_run, None).await;
                    let p = measure_stream(&client, url, kind, concurrency, pair_run, child.id()).await;
                    results.push((kind.name, p.total_p50 - d.total_p50, p.cpu_per_request));
                }
                results.sort_by_key(|(name, ..)| *name != "responses");
                added.push(results[0].1 - results[1].1);
                cpu.push(results[0].2 - results[1].2);
            }
            added.sort_by(f64::total_cmp);
            cpu.sort_by(f64::total_cmp);
            let at_most = added.iter().filter(|d| **d <= 0.0).count();
            println!(
                "{:>5} | {:>+12.3}ms {:>+8.3} … {:>+7.3}ms {:>6}/{:<3} | {:>+12.1}µs",
                concurrency, common::percentile(&added, 0.5), added[0], added[added.len() - 1], at_most, added.len(), common::percentile(&cpu, 0.5) * 1e6
            );
        }
        let rss = common::peak_rss_kib(child.id());
        println!("\nproxy peak RSS: {}", rss.map(|k| format!("{:.1} MiB", k as f64 / 1024.0)).unwrap_or_else(|| "unknown".into()));
        let _ = child.kill().await;
        let _ = floor_child.kill().await;
    });
}

/// The SSE events of one Responses stream through the proxy, each with its blank line.
async fn capture_events(client: &reqwest::Client, url: &str) -> Vec<String> {
    let body = StreamKind::responses().body;
    let text = match client
        .post(url)
        .header("content-type", "application/json")
        .body(body.as_str().to_owned())
        .send()
        .await
    {
        Ok(response) => response.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    text.split_inclusive("\n\n").map(str::to_string).collect()
}

struct NonStream {
    p50: f64,
    p99: f64,
    rps: f64,
    /// The proxy's CPU seconds per completed request (0 when not measured).
    cpu_per_request: f64,
}

async fn measure_non_stream(
    client: &reqwest::Client,
    url: &str,
    concurrency: usize,
    duration: Duration,
    proxy_pid: Option<u32>,
) -> NonStream {
    let body = Arc::new(
        json!({"model": "bench", "messages": [{"role": "user", "content": "Say hello."}]})
            .to_string(),
    );
    let cpu_before = common::cpu_seconds(proxy_pid);
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, url, body) = (client.clone(), url.to_string(), body.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                let response = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body.as_str().to_owned())
                    .send()
                    .await;
                if let Ok(response) = response
                    && response.status().is_success()
                    && response.bytes().await.is_ok()
                {
                    latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                }
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap_or_default());
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = match (cpu_before, common::cpu_seconds(proxy_pid)) {
        (Some(before), Some(after)) if !all.is_empty() => (after - before) / all.len() as f64,
        _ => 0.0,
    };
    all.sort_by(f64::total_cmp);
    NonStream {
        p50: common::percentile(&all, 0.50),
        p99: common::percentile(&all, 0.99),
        rps: all.len() as f64 / elapsed,
        cpu_per_request: cpu,
    }
}

struct Streamed {
    ttft_p50: f64,
    ttft_p99: f64,
    total_p50: f64,
    /// The proxy's CPU seconds per completed stream (0 when not measured).
    cpu_per_request: f64,
}

/// A client dialect: its request body and the marker of a whole stream.
struct StreamKind {
    name: &'static str,
    body: Arc<String>,
    done: &'static str,
}

impl StreamKind {
    fn chat() -> Self {
        Self {
            name: "chat",
            body: Arc::new(json!({"model": "bench", "stream": true, "messages": [{"role": "user", "content": "Say hello."}]}).to_string()),
            done: "[DONE]",
        }
    }

    fn responses() -> Self {
        Self {
            name: "responses",
            body: Arc::new(
                json!({"model": "bench", "stream": true, "store": false, "input": "Say hello."})
                    .to_string(),
            ),
            done: "response.completed",
        }
    }
}

async fn measure_stream(
    client: &reqwest::Client,
    url: &str,
    kind: &StreamKind,
    concurrency: usize,
    duration: Duration,
    proxy_pid: Option<u32>,
) -> Streamed {
    let body = kind.body.clone();
    let done = kind.done;
    let cpu_before = common::cpu_seconds(proxy_pid);
    let deadline = Instant::now() + duration;
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, url, body) = (client.clone(), url.to_string(), body.clone());
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                let Ok(response) = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body.as_str().to_owned())
                    .send()
                    .await
                else {
                    continue;
                };
                let mut stream = response.bytes_stream();
                let (mut first_token, mut end) = (
                    common::MarkerScan::new("tok0"),
                    common::MarkerScan::new(done),
                );
                let mut ttft = None;
                while let Some(Ok(bytes)) = stream.next().await {
                    if ttft.is_none() && first_token.feed(&bytes) {
                        ttft = Some(t.elapsed().as_secs_f64() * 1000.0);
                    }
                    end.feed(&bytes);
                }
                if let (Some(ttft), true) = (ttft, end.found) {
                    samples.push((ttft, t.elapsed().as_secs_f64() * 1000.0));
                }
            }
            samples
        }));
    }
    let mut ttft = Vec::new();
    let mut total = Vec::new();
    for task in tasks {
        for (a, b) in task.await.unwrap_or_default() {
            ttft.push(a);
            total.push(b);
        }
    }
    let cpu = match (cpu_before, common::cpu_seconds(proxy_pid)) {
        (Some(before), Some(after)) if !total.is_empty() => (after - before) / total.len() as f64,
        _ => 0.0,
    };
    ttft.sort_by(f64::total_cmp);
    total.sort_by(f64::total_cmp);
    Streamed {
        ttft_p50: common::percentile(&ttft, 0.5),
        ttft_p99: common::percentile(&ttft, 0.99),
        total_p50: common::percentile(&total, 0.5),
        cpu_per_request: cpu,
    }
}
