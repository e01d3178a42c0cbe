//! The cost of writing one streamed answer in each client dialect, in-process (no sockets): the
//! same 20-chunk answer encoded as chat-completions SSE (the baseline) and as Responses events,
//! per stream and per chunk. `proxy_overhead` measures the same over HTTP; this isolates the
//! renderer from the kernel and the runtime.
//!
//! Each dialect is timed twice: warm (stream after stream, everything in cache) and cold (a
//! buffer the size of this machine's L2 written between streams, as the client, the upstream
//! and the kernel do between the streams of a chat UI that sends one request at a time). Cold is
//! the figure that predicts the proxy's cost at concurrency 1; warm hides what a renderer
//! touches.
//!
//! Run: `cargo bench --bench dialect_render` (env `BENCH_ITERS`, default 20000 streams;
//! `BENCH_EVICT_MIB`, the buffer written between cold streams, default 4).

use std::time::Instant;

use adk_llm_proxy::dialect::SseDialect;
use adk_llm_proxy::dialect::chat::ChatSse;
use adk_llm_proxy::dialect::responses::request::ResponsesRequest;
use adk_llm_proxy::dialect::responses::stream::ToolItems;
use adk_llm_proxy::dialect::responses::{ResponsesOut, ResponsesSse};
use adk_llm_proxy::wire::{ChatChunk, Delta};

const PIECES: usize = 20;

fn chunks() -> Vec<ChatChunk> {
    let mut out = Vec::new();
    let delta = |content: Option<String>, role: bool| Delta {
        role: role.then(|| "assistant".to_string()),
        content,
        ..Delta::default()
    };
    out.push(ChatChunk::built(
        "chatcmpl-1",
        1,
        "bench",
        Some(delta(None, true)),
        None,
    ));
    for i in 0..PIECES {
        out.push(ChatChunk::built(
            "chatcmpl-1",
            1,
            "bench",
            Some(delta(Some(format!("tok{i} ")), false)),
            None,
        ));
    }
    out.push(ChatChunk::built(
        "chatcmpl-1",
        1,
        "bench",
        Some(Delta::default()),
        Some("stop".into()),
    ));
    out
}

/// Seconds per stream and bytes per stream; with `evict`, that buffer is written between streams
/// (outside the timing).
fn run<D: SseDialect>(
    make: impl Fn() -> D,
    chunks: &[ChatChunk],
    iters: usize,
    mut evict: Option<&mut [u8]>,
) -> (f64, usize) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mut bytes = 0;
    let mut spent = std::time::Duration::ZERO;
    for i in 0..iters {
        if let Some(buffer) = evict.as_deref_mut() {
            for byte in buffer.iter_mut().step_by(64) {
                *byte = byte.wrapping_add(i as u8);
            }
            std::hint::black_box(&buffer);
        }
        let started = Instant::now();
        let mut dialect = make();
        for chunk in chunks {
            let mut out = Vec::with_capacity(256);
            dialect.chunk(chunk, &mut out);
            bytes += out.len();
        }
        let mut out = Vec::with_capacity(256);
        runtime.block_on(dialect.finish(&mut out));
        bytes += out.len();
        drop((dialect, out));
        spent += started.elapsed();
    }
    (spent.as_secs_f64() / iters as f64, bytes / iters)
}

fn main() {
    let iters: usize = std::env::var("BENCH_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    let chunks = chunks();
    let request = ResponsesRequest::parse(
        br#"{"model":"bench","input":"Say hello.","stream":true,"store":false}"#,
    )
    .expect("request");
    let evict_mib: usize = std::env::var("BENCH_EVICT_MIB")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4);
    let mut evict = vec![0u8; evict_mib << 20];
    // Cold streams take longer per stream; fewer of them give as steady a mean.
    let cold_iters = (iters / 5).max(1);
    let make_responses = || {
        let id = "resp_0123456789abcdef0123456789abcdef0123456789abcdef";
        ResponsesSse::new(ResponsesOut::new(&request, id, 1, ToolItems::McpCall, None))
    };
    let (chat, chat_bytes) = run(|| ChatSse, &chunks, iters, None);
    let (responses, responses_bytes) = run(make_responses, &chunks, iters, None);
    let (chat_cold, _) = run(|| ChatSse, &chunks, cold_iters, Some(&mut evict));
    let (responses_cold, _) = run(make_responses, &chunks, cold_iters, Some(&mut evict));
    println!(
        "\none streamed answer ({PIECES} content chunks), rendered in-process: warm ({iters} streams) and cold ({cold_iters} streams, {evict_mib} MiB written between them)\n"
    );
    println!(
        "{:>10} | {:>12} {:>12} | {:>12} {:>12} | {:>8}",
        "dialect", "warm stream", "per chunk", "cold stream", "per chunk", "bytes"
    );
    let per_chunk = |seconds: f64| seconds * 1e6 / chunks.len() as f64;
    for (name, warm, cold, bytes) in [
        ("chat", chat, chat_cold, chat_bytes),
        ("responses", responses, responses_cold, responses_bytes),
    ] {
        println!(
            "{:>10} | {:>10.2}µs {:>10.2}µs | {:>10.2}µs {:>10.2}µs | {:>8}",
            name,
            warm * 1e6,
            per_chunk(warm),
            cold * 1e6,
            per_chunk(cold),
            bytes
        );
    }
    println!(
        "\nresponses / chat: {:.2}x warm, {:.2}x cold, {:.2}x bytes",
        responses / chat,
        responses_cold / chat_cold,
        responses_bytes as f64 / chat_bytes as f64
    );

    // The request side: a body parsed into the internal chat request.
    let chat_body =
        br#"{"model":"bench","stream":true,"messages":[{"role":"user","content":"Say hello."}]}"#;
    let responses_body = br#"{"model":"bench","stream":true,"store":false,"input":"Say hello."}"#;
    let time = |f: &dyn Fn()| {
        let started = Instant::now();
        for _ in 0..iters {
            f();
        }
        started.elapsed().as_secs_f64() / iters as f64
    };
    let chat_in = time(&|| {
        let _ = std::hint::black_box(adk_llm_proxy::api::validate::chat_request(chat_body));
    });
    let responses_in = time(&|| {
        let request = ResponsesRequest::parse(responses_body).expect("parses");
        let chat = request.to_chat(&[]);
        let echo = request.echo_json("resp_0", 1);
        let _ = std::hint::black_box((chat, echo));
    });
    println!(
        "\nrequest parsed into the internal form: chat {:.2}µs, responses {:.2}µs (with its echo)",
        chat_in * 1e6,
        responses_in * 1e6
    );
}
