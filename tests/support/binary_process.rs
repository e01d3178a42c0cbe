//! The real binary as a child process: its log collected, its address read from the
//! "listening" line (so `--port 0` works), stopped with a kill.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A running binary whose stderr is collected; `base` is parsed from its "listening" line.
pub struct Running {
    pub child: Child,
    pub log: Arc<Mutex<String>>,
    pub base: String,
}

pub async fn start(mut cmd: Command) -> Running {
    let mut child = cmd.spawn().expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let log = Arc::new(Mutex::new(String::new()));
    let sink = log.clone();
    tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let mut log = sink.lock().expect("lock");
            log.push_str(&line);
            log.push('\n');
        }
    });
    let started = Instant::now();
    loop {
        let text = log.lock().expect("lock").clone();
        let found = text
            .find("address=")
            .map(|pos| pos + 8)
            .or_else(|| text.find("\"address\":\"").map(|pos| pos + 11));
        if let Some(start) = found {
            let addr: String = text[start..]
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '"')
                .collect();
            return Running {
                child,
                log,
                base: format!("http://{addr}"),
            };
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "proxy did not start: {text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

impl Running {
    pub async fn stop(mut self) -> String {
        let _ = self.child.kill().await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.log.lock().expect("lock").clone()
    }
}
