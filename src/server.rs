//! Binding and serving, with a graceful stop on Ctrl-C / SIGTERM.

use std::time::Duration;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;

use crate::api::{AppState, router};
use crate::config::Config;

/// Binds the configured address. Separate from [`serve`] so callers learn a bind failure (port in
/// use) before anything else happens, and tests can bind port 0.
pub async fn bind(config: &Config) -> std::io::Result<TcpListener> {
    TcpListener::bind((config.server.host.as_str(), config.server.port)).await
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

/// Serves until `shutdown` resolves. Sockets get `TCP_NODELAY`: SSE writes many small chunks,
/// and Nagle's algorithm meeting the client's delayed ACK would hold each one back ~40 ms.
pub async fn serve_until(
    listener: TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = listener.tap_io(|tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
    });
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
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
