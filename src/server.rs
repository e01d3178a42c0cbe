//! Binding and serving, with a graceful stop on Ctrl-C / SIGTERM.

use std::time::Duration;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::net::TcpListener;

use crate::api::{AppState, router};
use crate::config::Config;

/// Connections the kernel may hold for us before `accept`. Tokio's default (1024) overflowed when
/// 2,000 clients connected at once: the kernel dropped their SYNs and each of them waited for
/// the 1-second SYN retry (`cargo bench --bench load` counts listen-queue overflows). The kernel
/// caps this at `net.core.somaxconn` (4096 by default); raise that for larger bursts.
pub const LISTEN_BACKLOG: u32 = 65_535;

/// Binds the configured address. Separate from [`serve`] so callers learn a bind failure (port in
/// use) before anything else happens, and tests can bind port 0.
pub async fn bind(config: &Config) -> std::io::Result<TcpListener> {
    let host = config.server.host.as_str();
    let mut last_error = None;
    for addr in tokio::net::lookup_host((host, config.server.port)).await? {
        match listen(addr) {
            Ok(listener) => return Ok(listener),
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::AddrNotAvailable,
            format!("{host} resolves to no address"),
        )
    }))
}

/// A listening socket at `addr` with [`LISTEN_BACKLOG`] (and `SO_REUSEADDR`, as std sets it, so
/// a restart does not wait for old connections in TIME_WAIT).
pub fn listen(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Serves until Ctrl-C / SIGTERM, then drains: `/ready` turns 503 and health probes keep being
/// answered until the process exits; a new model request gets 503; open requests get
/// `server.shutdown_grace_secs` to finish — at the deadline a stream ends with an error event
/// and a request still waiting for its answer gets a 503 (`api::drain`). Returns once no request
/// is open, or a second after the grace period, whichever first.
pub async fn serve(listener: TcpListener, state: AppState) -> std::io::Result<()> {
    let lifecycle = state.lifecycle.clone();
    let grace = Duration::from_secs_f64(state.config.server.shutdown_grace_secs);
    let server = serve_until(listener, state, std::future::pending());
    tokio::pin!(server);
    tokio::select! {
        result = &mut server => return result,
        _ = shutdown_signal() => {}
    }
    lifecycle.begin_shutdown(grace);
    tokio::select! {
        result = &mut server => result,
        _ = lifecycle.idle() => Ok(()),
        _ = tokio::time::sleep(grace + Duration::from_secs(1)) => {
            tracing::warn!("shutdown grace period over; exiting with requests still open");
            Ok(())
        }
    }
}

/// Serves until `shutdown` resolves (then stops accepting; open connections finish on their
/// own tasks).
///
/// The accept loop is the proxy's own rather than `axum::serve`, for three limits a public
/// server needs (each connection is a file descriptor and a task):
/// - a client has `server.header_read_timeout_secs` to send a request's headers, also on an idle
///   kept-alive connection: slowloris sockets are closed, not held for minutes;
/// - at most `server.max_connections` connections are served normally (never more than half the
///   process's file descriptors, the rest being for upstream connections and files);
/// - the next [`RESERVED_CONNECTIONS`] connections are served by a router that answers only
///   `/health`, `/ready` and `/metrics` (anything else gets 503), so probes and monitoring keep
///   working under a flood; connections beyond that are closed at once.
///
/// Sockets get `TCP_NODELAY`: SSE writes many small chunks, and Nagle's algorithm meeting the
/// client's delayed ACK would hold each one back ~40 ms.
pub async fn serve_until(
    listener: TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let max = effective_max_connections(state.config.server.max_connections);
    let memory_return = tokio::spawn(crate::memory_return::watch(state.lifecycle.clone()));
    let _stop_memory_return = AbortOnDrop(memory_return);
    let _stop_metrics_upkeep = AbortOnDrop(tokio::spawn(crate::observe::metrics::keep_up()));
    let header_timeout = Duration::from_secs_f64(state.config.server.header_read_timeout_secs);
    let app = router(state.clone());
    let reserve = crate::api::reserve_router(state);
    let open = Arc::new(AtomicUsize::new(0));
    tokio::pin!(shutdown);
    loop {
        let (tcp, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors (EMFILE) and the like: back off, keep serving.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => return Ok(()),
        };
        let count = open.load(Ordering::Acquire);
        let service = if count < max {
            app.clone()
        } else if count < max + RESERVED_CONNECTIONS {
            reserve.clone()
        } else {
            ::metrics::counter!(crate::observe::metrics::CONNECTIONS_REFUSED).increment(1);
            drop(tcp);
            continue;
        };
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
        let guard = OpenConnection::new(open.clone());
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(header_timeout);
        let connection = builder
            .serve_connection(
                hyper_util::rt::TokioIo::new(tcp),
                hyper_util::service::TowerToHyperService::new(service),
            )
            .with_upgrades();
        tokio::spawn(async move {
            let _guard = guard;
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    }
}

/// Aborts a background task when the server stops.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Connections beyond `max_connections` that still get health, readiness and metrics answers.
pub const RESERVED_CONNECTIONS: usize = 64;

/// Counts an open connection for as long as it lives.
struct OpenConnection(Arc<AtomicUsize>);

impl OpenConnection {
    fn new(open: Arc<AtomicUsize>) -> Self {
        open.fetch_add(1, Ordering::AcqRel);
        Self(open)
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// `configured`, but never more than half the file descriptors the process may open (after
/// raising the soft limit to the hard one): each proxied request also holds an upstream socket.
fn effective_max_connections(configured: usize) -> usize {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit only read and write the struct passed by pointer.
        let fds = unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
                if limit.rlim_cur < limit.rlim_max {
                    let raised = libc::rlimit {
                        rlim_cur: limit.rlim_max,
                        rlim_max: limit.rlim_max,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                        limit = raised;
                    }
                }
                Some(limit.rlim_cur as usize)
            } else {
                None
            }
        };
        if let Some(fds) = fds {
            let cap = (fds.saturating_sub(128) / 2).max(16);
            if cap < configured {
                tracing::info!(
                    configured,
                    cap,
                    "server.max_connections lowered to half the file descriptor limit"
                );
                return cap;
            }
        }
    }
    configured
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!(
        "shutting down: new requests get 503, open ones may finish within the grace period"
    );
}
