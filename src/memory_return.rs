//! Giving memory back after load. Allocators keep freed memory for reuse: with glibc, after 2,000
//! streams the proxy stayed at ~125 MiB with nothing open (11 MiB before the load). Once the
//! proxy has been quiet for a whole check interval after answering requests — nothing open,
//! nothing finished since the last look — it asks the allocator to return what is free
//! (`allocator::return_free_memory`).
//! Busy proxies never trim (something is always open or just finished), an idle one trims once,
//! so the cost (a few milliseconds on a blocking thread for a large heap) is paid only when
//! nobody waits for it.

use std::sync::Arc;
use std::time::Duration;

use crate::lifecycle::Lifecycle;

/// How long the proxy must be quiet before freed memory is returned.
pub const QUIET: Duration = Duration::from_secs(2);

/// Whether the `looks`-th quiet look in a row after a trim for work trims again. The pool drops
/// idle upstream connections 90–180 s after their last use (`llm::http`: it checks every 90 s),
/// and their buffers are then free too; so a quiet period trims again after 10 s and then every
/// 30 s until 182 s. An idle proxy's trim with nothing to give back costs microseconds.
fn late_trim(looks: u32) -> bool {
    looks == 5 || (looks > 1 && looks <= 91 && (looks - 1) % 15 == 0)
}

/// What the watcher remembers between looks.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Watch {
    /// Requests finished at the previous look.
    finished: u64,
    /// Whether requests finished since the last trim.
    worked: bool,
    /// Looks in a row with nothing open and nothing finished, since the last work.
    quiet_looks: u32,
}

impl Watch {
    /// One look at `(open, finished)`: whether to trim now.
    pub fn look(&mut self, open: usize, finished: u64) -> bool {
        let quiet = open == 0 && finished == self.finished;
        self.worked |= finished != self.finished;
        self.finished = finished;
        if !quiet {
            self.quiet_looks = 0;
            return false;
        }
        self.quiet_looks = self.quiet_looks.saturating_add(1);
        if self.worked {
            self.worked = false;
            self.quiet_looks = 1;
            return true;
        }
        // Late trims follow a trim for work (quiet_looks restarted at 1 there).
        late_trim(self.quiet_looks)
    }
}

/// Runs for the life of the server.
pub async fn watch(lifecycle: Arc<Lifecycle>) {
    let mut watch = Watch::default();
    let mut tick = tokio::time::interval(QUIET);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let (open, finished) = lifecycle.activity();
        if watch.look(open, finished) {
            trim().await;
        }
    }
}

async fn trim() {
    let _ = tokio::task::spawn_blocking(crate::allocator::return_free_memory).await;
    // Each worker collects its own heap when it next parks (`allocator::on_worker_park`); a few
    // short tasks wake the idle ones to steal them, and so to park again.
    let wakers: Vec<_> = (0..8)
        .map(|_| tokio::spawn(tokio::task::yield_now()))
        .collect();
    for waker in wakers {
        let _ = waker.await;
    }
}

#[cfg(test)]
mod tests {
    use super::Watch;

    #[test]
    fn trims_once_after_work_when_quiet_for_a_whole_look() {
        let mut watch = Watch::default();
        assert!(!watch.look(0, 0), "never worked: nothing to give back");
        assert!(!watch.look(3, 10), "busy");
        assert!(
            !watch.look(0, 13),
            "requests just finished: not quiet for a whole look yet"
        );
        assert!(watch.look(0, 13), "quiet after work: trim");
        assert!(!watch.look(0, 13), "once");
        assert!(!watch.look(1, 13), "a request open");
        assert!(!watch.look(0, 14));
        assert!(watch.look(0, 14));
        // Quiet on: late trims while the pool's idle connections are closing (10 s, then every
        // 30 s up to 182 s), then no more.
        let trims: Vec<usize> = (2..=200).filter(|_| watch.look(0, 14)).collect();
        assert_eq!(trims, [5, 16, 31, 46, 61, 76, 91]);
    }
}
