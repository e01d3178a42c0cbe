//! Readiness and graceful shutdown.
//!
//! On SIGTERM/SIGINT the server stops accepting connections and `/ready` turns 503 so a load
//! balancer drains this replica; open streams may finish during the grace period, after which
//! each ends itself with an error event (never a silent cut) and the process exits.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::time::Instant;

pub struct Lifecycle {
    deadline: watch::Sender<Option<Instant>>,
    in_flight: Arc<InFlightCount>,
}

#[derive(Default)]
struct InFlightCount {
    count: AtomicUsize,
    /// Requests answered since start (for noticing that the proxy went quiet after work).
    finished: std::sync::atomic::AtomicU64,
    idle: Notify,
}

/// One request being answered; dropped when its response body ends (the request log holds it).
pub struct InFlight(Arc<InFlightCount>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.finished.fetch_add(1, Ordering::Relaxed);
        if self.0.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self {
            deadline: watch::channel(None).0,
            in_flight: Arc::default(),
        }
    }
}

impl Lifecycle {
    /// Starts draining: streams get `grace` to finish.
    pub fn begin_shutdown(&self, grace: Duration) {
        let deadline = Instant::now() + grace;
        self.deadline.send_replace(Some(deadline));
    }

    /// Counts a request until the returned guard is dropped.
    pub fn track(&self) -> InFlight {
        self.in_flight.count.fetch_add(1, Ordering::AcqRel);
        InFlight(self.in_flight.clone())
    }

    /// Resolves once no tracked request is open.
    pub async fn idle(&self) {
        loop {
            let notified = self.in_flight.idle.notified();
            if self.in_flight.count.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Requests open now, and requests answered since start.
    pub fn activity(&self) -> (usize, u64) {
        (
            self.in_flight.count.load(Ordering::Acquire),
            self.in_flight.finished.load(Ordering::Relaxed),
        )
    }

    pub fn is_draining(&self) -> bool {
        self.deadline.borrow().is_some()
    }

    /// Resolves as soon as a shutdown begins: for streams that are no work to finish (the
    /// console's live feeds), so watching does not hold a shutdown up.
    pub fn draining(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.deadline.subscribe();
        async move {
            while rx.borrow_and_update().is_none() {
                if rx.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        }
    }

    /// Resolves when open streams must end (never, unless a shutdown began).
    pub fn streams_must_end(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.deadline.subscribe();
        async move {
            loop {
                let deadline = *rx.borrow_and_update();
                if let Some(deadline) = deadline {
                    tokio::time::sleep_until(deadline).await;
                    return;
                }
                if rx.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        }
    }
}
