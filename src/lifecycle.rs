//! Readiness and graceful shutdown.
//!
//! On SIGTERM/SIGINT the server stops accepting connections and `/ready` turns 503 so a load
//! balancer drains this replica; open streams may finish during the grace period, after which
//! each ends itself with an error event (never a silent cut) and the process exits.

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

pub struct Lifecycle {
    deadline: watch::Sender<Option<Instant>>,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self {
            deadline: watch::channel(None).0,
        }
    }
}

impl Lifecycle {
    /// Starts draining: streams get `grace` to finish.
    pub fn begin_shutdown(&self, grace: Duration) {
        let deadline = Instant::now() + grace;
        self.deadline.send_replace(Some(deadline));
    }

    pub fn is_draining(&self) -> bool {
        self.deadline.borrow().is_some()
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
