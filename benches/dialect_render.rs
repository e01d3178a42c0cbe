//! The cost of writing one streamed answer in each client dialect, in-process (no sockets): the
//! same 20-chunk answer encoded as chat-completions SSE (the baseline) and as Responses events,
//! per stream and per chunk. `proxy_overhead` measures the same over HTTP; this isolates the
//! renderer from the kernel and the runtime.
//!
//! Run: `cargo bench --bench dialect_render` (env `BENCH_ITERS`, default 20000 streams).

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

fn run<D: SseDialect>(make: impl Fn() -> D, chunks: &[ChatChunk], iters: usize) -> (f64, usize) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mut bytes = 0;
    let started = Instant::now();
    for _ in 0..iters {
        let mut dialect = make();
        for chunk in chunks {
            let mut out = Vec::with_capacity(256);
            dialect.chunk(chunk, &mut out);
            bytes += out.len();
        }
        let mut out = Vec::with_capacity(256);
        runtime.block_on(dialect.finish(&mut out));
        bytes += out.len();
    }
    (
        started.elapsed().as_secs_f64() / iters as f64,
        bytes / iters,
    )
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
    let (chat, chat_bytes) = run(|| ChatSse, &chunks, iters);
    let (responses, responses_bytes) = run(
        || {
            let id = "resp_0123456789abcdef0123456789abcdef0123456789abcdef";
            ResponsesSse::new(ResponsesOut::new(&request, id, 1, ToolItems::McpCall, None))
        },
        &chunks,
        iters,
    );
    println!(
        "\none streamed answer ({PIECES} content chunks), rendered in-process, {iters} streams each\n"
    );
    println!(
        "{:>10} | {:>12} {:>12} {:>8}",
        "dialect", "per stream", "per chunk", "bytes"
    );
    println!(
        "{:>10} | {:>10.2}µs {:>10.2}µs {:>8}",
        "chat",
        chat * 1e6,
        chat * 1e6 / chunks.len() as f64,
        chat_bytes
    );
    println!(
        "{:>10} | {:>10.2}µs {:>10.2}µs {:>8}",
        "responses",
        responses * 1e6,
        responses * 1e6 / chunks.len() as f64,
        responses_bytes
    );
    println!(
        "\nresponses / chat: {:.2}x time, {:.2}x bytes",
        responses / chat,
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
