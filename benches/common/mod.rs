//! Shared by the benchmarks: starting the release proxy binary against a given upstream,
//! percentiles, and the proxy's peak memory.

#![allow(dead_code)]

pub mod floor;

use std::process::Stdio;

pub async fn start_proxy(upstream_base: &str) -> (tokio::process::Child, String) {
    start_proxy_with(upstream_base, "").await
}

/// Like [`start_proxy`], with `extra` appended to the settings (top-level YAML).
pub async fn start_proxy_with(upstream_base: &str, extra: &str) -> (tokio::process::Child, String) {
    // One directory per proxy, so a bench can run two (settings and log are per proxy).
    static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("adk-llm-proxy-bench-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let settings = dir.join("settings.yaml");
    std::fs::write(
        &settings,
        format!("defaults: {{ provider: up, model: bench }}\nproviders:\n  up: {{ kind: openai, base_url: \"{upstream_base}\" }}\n{extra}"),
    )
    .expect("settings");
    // The proxy logs (one access line per request, as in production) go to a file, not a pipe
    // the benchmark would have to drain with its own CPU.
    let log_path = dir.join("proxy.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let level = std::env::var("BENCH_PROXY_LOG").unwrap_or_else(|_| "info".to_string());
    // `BENCH_PROXY_BIN` measures another build (e.g. the previous commit's) with this harness.
    let binary = std::env::var("BENCH_PROXY_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_adk-llm-proxy").to_string());
    let mut command = tokio::process::Command::new(binary);
    if let Ok(workers) = std::env::var("BENCH_PROXY_WORKERS") {
        command.env("ADK_PROXY__SERVER__WORKER_THREADS", workers);
    }
    let child = command
        .args([
            "--config",
            settings.to_str().expect("path"),
            "--port",
            "0",
            "--log-level",
            &level,
        ])
        .env_remove("RUST_LOG")
        .stderr(Stdio::from(log))
        .kill_on_drop(true)
        .spawn()
        .expect("spawn proxy");
    let started = std::time::Instant::now();
    let address = loop {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        if let Some(pos) = text.find("address=") {
            break text[pos + 8..]
                .chars()
                .take_while(|c| !c.is_whitespace())
                .collect::<String>();
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "proxy did not start: {text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    (child, format!("http://{address}"))
}

pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// Resident memory now (VmRSS) of a process, in KiB.
pub fn rss_kib(pid: Option<u32>) -> Option<u64> {
    status_kib(pid, "VmRSS:")
}

fn status_kib(pid: Option<u32>, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid?)).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Peak resident memory (VmHWM) of a process, in KiB.
pub fn peak_rss_kib(pid: Option<u32>) -> Option<u64> {
    status_kib(pid, "VmHWM:")
}

/// Runs a fake upstream on its own single-threaded runtime and thread, so it does not share a
/// scheduler with the load generator; returns its address.
pub fn spawn_upstream(
    script: impl Fn(&crate::fake_upstream::Recorded) -> crate::fake_upstream::Reply
    + Send
    + Sync
    + 'static,
) -> std::net::SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let up = crate::fake_upstream::FakeUpstream::start_unrecorded(script).await;
            tx.send(up.addr).expect("send addr");
            std::future::pending::<()>().await;
        });
    });
    rx.recv().expect("upstream address")
}

/// CPU time (user + system) a process has used, in seconds, from `/proc/<pid>/stat`; `None`
/// where there is no procfs. Read before and after a measured window to get the CPU per request.
#[allow(dead_code)]
pub fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid?)).ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // SAFETY: sysconf has no preconditions and _SC_CLK_TCK is a valid name.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (per_second > 0).then(|| ticks / per_second as f64)
}

/// Finds a marker in a body read frame by frame, without keeping the body: a client that costs
/// the same per byte whatever the dialect, so the proxy is what a measurement compares.
pub struct MarkerScan {
    finder: memchr::memmem::Finder<'static>,
    /// The last `marker.len() - 1` bytes seen, for a marker split across two frames.
    tail: Vec<u8>,
    pub found: bool,
}

impl MarkerScan {
    pub fn new(marker: &'static str) -> Self {
        Self {
            finder: memchr::memmem::Finder::new(marker.as_bytes()),
            tail: Vec::new(),
            found: false,
        }
    }

    /// Feeds the next frame; returns whether the marker has been seen by now.
    pub fn feed(&mut self, frame: &[u8]) -> bool {
        if self.found {
            return true;
        }
        let keep = self.finder.needle().len().saturating_sub(1);
        // Across the boundary: the previous frames' last bytes and this frame's first.
        let seam = self.tail.len();
        self.tail.extend_from_slice(&frame[..frame.len().min(keep)]);
        self.found = self.finder.find(&self.tail).is_some() || self.finder.find(frame).is_some();
        // Keep the stream's last `keep` bytes.
        if frame.len() >= keep {
            self.tail.clear();
            self.tail.extend_from_slice(&frame[frame.len() - keep..]);
        } else {
            self.tail.truncate(seam + frame.len());
            let excess = self.tail.len().saturating_sub(keep);
            self.tail.drain(..excess);
        }
        self.found
    }
}
