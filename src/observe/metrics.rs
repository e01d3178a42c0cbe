//! Prometheus metrics, served at `GET /metrics`.
//!
//! Recorded once per request, from the same facts the access log line uses, so the log and the
//! metrics never disagree. The recorder is process-global (the `metrics` facade), installed once.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub const REQUESTS: &str = "adk_proxy_requests_total";
pub const REQUEST_DURATION: &str = "adk_proxy_request_duration_seconds";
pub const TIME_TO_FIRST_TOKEN: &str = "adk_proxy_time_to_first_token_seconds";
pub const ADDED_LATENCY: &str = "adk_proxy_added_latency_seconds";
pub const TOKENS: &str = "adk_proxy_tokens_total";
pub const UPSTREAM_ERRORS: &str = "adk_proxy_upstream_errors_total";
pub const RETRIES: &str = "adk_proxy_upstream_retries_total";
pub const CACHE: &str = "adk_proxy_cache_requests_total";
pub const RATE_LIMITED: &str = "adk_proxy_rate_limited_total";
pub const ACTIVE_STREAMS: &str = "adk_proxy_active_streams";
pub const CIRCUIT_OPENED: &str = "adk_proxy_circuit_opened_total";
pub const CONNECTIONS_REFUSED: &str = "adk_proxy_connections_refused_total";

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the Prometheus recorder (once per process) and returns its handle.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let latency_buckets = [
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
            ];
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_string()), &latency_buckets)
                .and_then(|b| b.install_recorder());
            match builder {
                Ok(handle) => Some(handle),
                Err(error) => {
                    tracing::warn!(%error, "metrics recorder not installed; /metrics will be empty");
                    None
                }
            }
        })
        .clone()
}

/// How often histogram samples are folded into their buckets.
pub const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Upkeeps run so far (for tests: a server that never runs them grows).
static UPKEEPS: AtomicU64 = AtomicU64::new(0);

/// Folds the histogram samples recorded since the last time into their buckets. The recorder
/// keeps every sample in a list until then (`install_recorder` leaves the upkeep to its caller),
/// so without this a proxy nobody scrapes would grow by three samples per request, forever.
pub fn upkeep() {
    if let Some(handle) = install() {
        handle.run_upkeep();
    }
    UPKEEPS.fetch_add(1, Ordering::Relaxed);
}

/// How many upkeeps have run in this process.
pub fn upkeeps() -> u64 {
    UPKEEPS.load(Ordering::Relaxed)
}

/// Runs [`upkeep`] every [`UPKEEP_EVERY`] for the life of the server.
pub async fn keep_up() {
    let mut tick = tokio::time::interval(UPKEEP_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        upkeep();
    }
}

pub fn render() -> String {
    install().map(|h| h.render()).unwrap_or_default()
}

pub fn seconds(d: Duration) -> f64 {
    d.as_secs_f64()
}
