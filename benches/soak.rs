//! Soak under hostile load, loopback only and bounded in time: while 5,000 idle sockets, 500
//! slowloris sockets (a header byte a second) and a flood of rejected requests (9 MB bodies of
//! invalid messages → 400, and oversized bodies → 413) hit the release proxy, one client keeps
//! sending normal requests. Reports the normal requests' latency before, during and after the
//! attack, the proxy's RSS before, at peak and after, and how the attack's requests ended.
//!
//! Run: `cargo bench --bench soak` (env `SOAK_SECS`, attack length, default 10).

mod common;
#[path = "../tests/support/fake_upstream.rs"]
mod fake_upstream;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use fake_upstream::{Reply, completion};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const IDLE_SOCKETS: usize = 5000;
const SLOWLORIS_SOCKETS: usize = 500;
const FLOOD_TASKS: usize = 6;

fn main() {
    let secs: u64 = std::env::var("SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let upstream = common::spawn_upstream(|_| {
        Reply::json(completion(
            json!({"role": "assistant", "content": "fine"}),
            "stop",
        ))
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let (child, proxy) = common::start_proxy_with(
            &format!("http://{upstream}/v1"),
            "server:\n  header_read_timeout_secs: 5\nagents:\n  dir: \"\"\n",
        )
        .await;
        let pid = child.id();
        let addr = proxy.trim_start_matches("http://").to_string();
        let rss = || current_rss_mib(pid);

        tokio::time::sleep(Duration::from_millis(500)).await;
        let before_latency = normal_requests(&proxy, Duration::from_secs(3)).await;
        let rss_before = rss();

        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(rss_before as u64));
        let sampler = {
            let (stop, peak) = (stop.clone(), peak.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    peak.fetch_max(current_rss_mib(pid) as u64, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
        };
        let idle = open_idle(&addr, IDLE_SOCKETS).await;
        let slowloris = (0..SLOWLORIS_SOCKETS)
            .map(|_| tokio::spawn(slowloris(addr.clone(), stop.clone())))
            .collect::<Vec<_>>();
        let outcomes = Arc::new(std::sync::Mutex::new(std::collections::BTreeMap::new()));
        let flood = (0..FLOOD_TASKS)
            .map(|i| tokio::spawn(flood(addr.clone(), i % 3 == 0, stop.clone(), outcomes.clone())))
            .collect::<Vec<_>>();
        let during_latency = normal_requests(&proxy, Duration::from_secs(secs)).await;
        let health = reqwest::get(format!("{proxy}/health"))
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0);
        stop.store(true, Ordering::Relaxed);
        for task in flood.into_iter().chain(slowloris) {
            let _ = task.await;
        }
        let idle_closed_by_server = count_closed(idle).await;
        let _ = sampler.await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        let after_latency = normal_requests(&proxy, Duration::from_secs(3)).await;
        let rss_after = rss();

        println!("\nsoak: {IDLE_SOCKETS} idle + {SLOWLORIS_SOCKETS} slowloris sockets and {FLOOD_TASKS} tasks flooding rejected requests for {secs} s\n");
        println!("normal requests (one client, non-streaming):");
        for (phase, l) in [("before", &before_latency), ("during", &during_latency), ("after", &after_latency)] {
            println!(
                "  {phase:>6}: {:>6} requests, {:>3} failed, p50 {:.3} ms, p99 {:.3} ms",
                l.ok, l.failed, l.p50, l.p99
            );
        }
        println!("proxy RSS: before {rss_before} MiB, peak {} MiB, after {rss_after} MiB", peak.load(Ordering::Relaxed));
        println!("/health during the attack: {health}");
        println!("idle sockets the server had closed when the attack ended: {idle_closed_by_server} of {IDLE_SOCKETS} (header timeout 5 s)");
        println!("flood outcomes: {:?}", outcomes.lock().expect("lock"));
        drop(child);
    });
}

struct Latency {
    ok: usize,
    failed: usize,
    p50: f64,
    p99: f64,
}

async fn normal_requests(proxy: &str, length: Duration) -> Latency {
    let client = reqwest::Client::new();
    let started = Instant::now();
    let (mut times, mut failed) = (Vec::new(), 0);
    while started.elapsed() < length {
        let t = Instant::now();
        let response = client
            .post(format!("{proxy}/v1/chat/completions"))
            .json(&json!({"messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await;
        match response {
            Ok(r) if r.status().is_success() => {
                let _ = r.bytes().await;
                times.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            _ => failed += 1,
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    times.sort_by(f64::total_cmp);
    Latency {
        ok: times.len(),
        failed,
        p50: common::percentile(&times, 0.5),
        p99: common::percentile(&times, 0.99),
    }
}

async fn open_idle(addr: &str, count: usize) -> Vec<TcpStream> {
    let mut sockets = Vec::with_capacity(count);
    for _ in 0..count {
        if let Ok(socket) = TcpStream::connect(addr).await {
            sockets.push(socket);
        }
    }
    sockets
}

/// Sockets the server closed (a read returns end of file at once).
async fn count_closed(sockets: Vec<TcpStream>) -> usize {
    let mut closed = 0;
    for mut socket in sockets {
        let mut buf = [0u8; 64];
        if let Ok(Ok(0)) =
            tokio::time::timeout(Duration::from_millis(1), socket.read(&mut buf)).await
        {
            closed += 1;
        }
    }
    closed
}

async fn slowloris(addr: String, stop: Arc<AtomicBool>) {
    let Ok(mut socket) = TcpStream::connect(&addr).await else {
        return;
    };
    let header = b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nX-Slow: ";
    for byte in header.iter().cycle() {
        if stop.load(Ordering::Relaxed) || socket.write_all(&[*byte]).await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn flood(
    addr: String,
    oversized: bool,
    stop: Arc<AtomicBool>,
    outcomes: Arc<std::sync::Mutex<std::collections::BTreeMap<String, usize>>>,
) {
    let body: Vec<u8> = if oversized {
        Vec::new()
    } else {
        let mut body = b"{\"model\":\"m\",\"messages\":[".to_vec();
        for i in 0..3_000_000 {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(b"{}");
        }
        body.extend_from_slice(b"]}");
        body
    };
    while !stop.load(Ordering::Relaxed) {
        let outcome = async {
            let mut socket = TcpStream::connect(&addr).await.ok()?;
            let length = if oversized { 25_000_000 } else { body.len() };
            let head = format!(
                "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
            );
            socket.write_all(head.as_bytes()).await.ok()?;
            if !oversized {
                let _ = socket.write_all(&body).await;
            }
            let mut answer = Vec::new();
            let _ = tokio::time::timeout(Duration::from_secs(20), socket.read_to_end(&mut answer)).await;
            let text = String::from_utf8_lossy(&answer);
            Some(text.split(' ').nth(1).unwrap_or("none").to_string())
        }
        .await
        .unwrap_or_else(|| "connect/write failed".to_string());
        *outcomes.lock().expect("lock").entry(outcome).or_default() += 1;
    }
}

fn current_rss_mib(pid: Option<u32>) -> usize {
    common::rss_kib(pid).map_or(0, |kib| kib as usize / 1024)
}
