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

/// Quiet looks after which a quiet period gets a second trim: idle upstream connections are
/// dropped from the pool after 90 s (`llm::http`), and their buffers are then free too.
const LATE_LOOKS: u32 = 50;

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
        // The late trim follows a trim for work (quiet_looks restarted at 1 there).
        self.quiet_looks == LATE_LOOKS
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
        // Quiet on: one late trim once the pool's idle connections are gone, then no more.
        let trims = (0..200).filter(|_| watch.look(0, 14)).count();
        assert_eq!(trims, 1);
    }
}
