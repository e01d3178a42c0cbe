//! The floor a proxy built on this stack cannot go below: a forwarder with the same libraries as
//! the proxy (tokio with two workers, hyper's HTTP/1 server with `TCP_NODELAY`, an axum router,
//! reqwest's pooled client) and none of its work — it reads the request body, posts it to the
//! upstream unchanged and streams the answer back. A bench runs it as a child process (its own
//! executable, re-run with `BENCH_FLOOR_UPSTREAM` set), so its CPU per request is read from
//! `/proc` exactly as the proxy's is, in the same run. The proxy's CPU above this row is what its
//! features cost; the floor itself is the HTTP stack and the two loopback hops. It runs on the
//! bench executable's allocator (glibc's), not the proxy's mimalloc: with mimalloc as the bench's
//! global allocator the floor's share of direct rose from 30–33 % to 31–40 %, but the client
//! and fake upstream (same process) slowed every row, direct by a fifth, so the rows were no
//! longer comparable with earlier runs.

use std::process::Stdio;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use tokio::io::AsyncBufReadExt;

const ENV: &str = "BENCH_FLOOR_UPSTREAM";

/// When this process was started as the floor forwarder, serves until killed and returns true.
pub fn serve_if_asked() -> bool {
    let Ok(upstream) = std::env::var(ENV) else {
        return false;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(serve(upstream));
    true
}

/// Starts the floor forwarder in front of `upstream` (`http://host:port`); returns the child
/// and its base URL.
pub async fn start(upstream: &str) -> (tokio::process::Child, String) {
    let mut child = tokio::process::Command::new(std::env::current_exe().expect("own executable"))
        .env(ENV, upstream)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the floor forwarder");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    tokio::io::BufReader::new(stdout)
        .read_line(&mut line)
        .await
        .expect("floor address");
    let address = line.trim().trim_start_matches("address=").to_string();
    (child, format!("http://{address}"))
}

async fn serve(upstream: String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    println!("address={}", listener.local_addr().expect("address"));
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .build()
        .expect("client");
    let app = axum::Router::new()
        .fallback(forward)
        .with_state((client, upstream));
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let connection = hyper::server::conn::http1::Builder::new().serve_connection(
            hyper_util::rt::TokioIo::new(tcp),
            hyper_util::service::TowerToHyperService::new(app.clone()),
        );
        tokio::spawn(connection);
    }
}

async fn forward(
    State((client, upstream)): State<(reqwest::Client, String)>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 64 << 20).await else {
        return status(400);
    };
    let sent = client
        .post(format!("{upstream}{}", parts.uri.path()))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await;
    let Ok(answer) = sent else {
        return status(502);
    };
    let mut response = Response::builder().status(answer.status().as_u16());
    if let Some(kind) = answer.headers().get("content-type") {
        response = response.header("content-type", kind.clone());
    }
    response
        .body(Body::from_stream(answer.bytes_stream()))
        .unwrap_or_else(|_| status(500))
}

fn status(code: u16) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() =
        http::StatusCode::from_u16(code).unwrap_or(http::StatusCode::BAD_GATEWAY);
    response
}
