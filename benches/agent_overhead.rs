//! Agent runtime overhead: what running a request through agents costs on top of plain proxying,
//! per model step and per server-side tool call, with an instant fake upstream, in one run.
//!
//! Run: `cargo bench --bench agent_overhead` (env `BENCH_SECS`, default 3 s per path, run as
//! `BENCH_ROUNDS` (default 6) interleaved slices;
//! `BENCH_PROFILE=<path>` runs one path alone, printing the proxy's pid for a profiler). Each path
//! is measured with one client sending streaming requests back to back (the whole stream read);
//! each path's added time is measured against the direct calls that return the same upstream
//! replies, and differences between paths isolate each cost:
//!
//! | path        | what one request does                                   |
//! |-------------|---------------------------------------------------------|
//! | direct      | 1 upstream call, no proxy                               |
//! | proxy       | transparent default agent = plain proxying, 1 call      |
//! | stages      | plain proxying with system_prompt, redact, link, redact_output, stats |
//! | one_step    | LlmAgent with an instruction: 1 call through the runtime |
//! | two_steps   | SequentialAgent of two LlmAgents: 2 calls               |
//! | tool_step   | LlmAgent + `current_time`: call, tool, call             |
//! | tool_step_none | tool_step on the proxy with `runtime.replay: none` (the two proxies' own difference) |
//! | chat20_none | tool_step with a 20-turn chat history, `runtime.replay: none` |
//! | chat20_miss | the same with the replay on, but answers that match no turn (nothing put back) |
//! | chat20_all  | the same with the history replay on (20 earlier tool rounds put back) |
//!
//! `chat20_all − chat20_none`, less the two proxy processes' own difference
//! (`tool_step − tool_step_none`), is the replay's cost: loading the turns' events, matching the
//! client's 20 answers to them, and 40 more messages in each model call's request.

mod common;
#[path = "../tests/support/fake_upstream.rs"]
mod fake_upstream;

use std::time::{Duration, Instant};

use fake_upstream::{Reply, Step, chunk, openai_text, usage_chunk};
use futures_util::StreamExt;
use serde_json::{Value, json};

const PIECES: usize = 20;

fn upstream_reply(req: &fake_upstream::Recorded) -> Reply {
    let offers_clock = req.body["tools"]
        .as_array()
        .is_some_and(|t| t.iter().any(|t| t["function"]["name"] == "current_time"));
    let after_tool = req.body["messages"]
        .as_array()
        .and_then(|m| m.last())
        .is_some_and(|m| m["role"] == "tool");
    if offers_clock && !after_tool {
        return Reply::Sse(vec![
            Step::Data(chunk(json!({"role": "assistant", "content": null}), None)),
            Step::Data(chunk(
                json!({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                    "function": {"name": "current_time", "arguments": "{\"timezone\":\"UTC\"}"}}]}),
                None,
            )),
            Step::Data(chunk(json!({}), Some("tool_calls"))),
            Step::Data(usage_chunk(10, 5)),
            Step::Data("[DONE]".into()),
        ]);
    }
    let pieces: Vec<String> = (0..PIECES).map(|i| format!("tok{i} ")).collect();
    let refs: Vec<&str> = pieces.iter().map(String::as_str).collect();
    let mut steps = openai_text(&refs);
    steps.insert(steps.len() - 1, Step::Data(usage_chunk(10, 20)));
    Reply::Sse(steps)
}

/// A request body; `with_clock` offers the `current_time` tool, so the fake answers with a call
/// to it (the direct baseline of a tool-calling model step).
fn body(model: &str, with_clock: bool) -> Value {
    let mut body = json!({"model": model, "stream": true,
        "messages": [{"role": "user", "content": "Say something."}]});
    if with_clock {
        body["tools"] = json!([{"type": "function", "function": {"name": "current_time",
            "parameters": {"type": "object", "properties": {}}}}]);
    }
    body
}

/// A tool_step request continuing a 20-turn chat whose answers are the fake's own answer text,
/// so every earlier turn of the session (each a tool round) matches one of them.
fn chat20(model: &str) -> Value {
    let answer: String = (0..PIECES).map(|i| format!("tok{i} ")).collect();
    chat20_answering(model, &answer)
}

/// The same chat with answers the session never produced: the replay looks, matches nothing.
fn chat20_answering(model: &str, answer: &str) -> Value {
    let mut messages = Vec::new();
    for turn in 0..20 {
        messages
            .push(json!({"role": "user", "content": format!("Question {turn}: what time is it?")}));
        messages.push(json!({"role": "assistant", "content": answer}));
    }
    messages.push(json!({"role": "user", "content": "And now?"}));
    json!({"model": model, "stream": true, "messages": messages})
}

async fn measure(client: &reqwest::Client, url: &str, body: &Value, run: Duration) -> Vec<f64> {
    let model = body["model"].as_str().unwrap_or("?");
    let mut latencies = Vec::new();
    let started = Instant::now();
    while started.elapsed() < run {
        let t = Instant::now();
        let response = client.post(url).json(body).send().await.expect("send");
        assert_eq!(response.status(), 200, "{model}");
        let mut stream = response.bytes_stream();
        let mut tail = Vec::new();
        while let Some(bytes) = stream.next().await {
            let bytes = bytes.expect("body");
            tail.extend_from_slice(&bytes);
            if tail.len() > 64 {
                tail.drain(..tail.len() - 64);
            }
        }
        assert!(
            String::from_utf8_lossy(&tail).contains("[DONE]"),
            "{model}: stream did not complete"
        );
        latencies.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    latencies.sort_by(f64::total_cmp);
    latencies
}

fn main() {
    let secs: f64 = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let run = Duration::from_secs_f64(secs);
    let upstream = common::spawn_upstream(upstream_reply);

    let root = std::env::temp_dir().join(format!("adk-agent-bench-{}", std::process::id()));
    let agents = root.join("agents");
    let prompts = root.join("prompts");
    std::fs::create_dir_all(&agents).expect("agents dir");
    std::fs::create_dir_all(&prompts).expect("prompts dir");
    for (file, text) in [
        ("one_step.yaml", "name: one_step\ninstruction: Be brief.\n"),
        (
            "two_steps.yaml",
            "name: two_steps\nagent_class: SequentialAgent\nsub_agents:\n  - name: step_a\n  - name: step_b\n",
        ),
        (
            "step_a.yaml",
            "name: step_a\ninstruction: Plan.\noutput_key: plan\n",
        ),
        (
            "step_b.yaml",
            "name: step_b\ninstruction: \"Answer. Plan: {plan}\"\n",
        ),
        (
            "tool_step.yaml",
            "name: tool_step\ninstruction: Use the clock.\ntools:\n  - name: current_time\n",
        ),
    ] {
        std::fs::write(agents.join(file), text).expect("agent file");
    }
    // Model "piped" gets request and stream stages, to price the pipeline on plain proxying.
    let extra = format!(
        "agents:\n  dir: \"{}\"\n  prompts_dir: \"{}\"\nmodels:\n  piped:\n    pipeline:\n      request:\n        - stage: system_prompt\n          text: \"Today is {{date}}.\"\n        - stage: redact\n      stream:\n        - stage: link\n          pattern: '#(\\d+)'\n          url: 'https://t/$1'\n        - stage: redact_output\n        - stage: stats\n",
        agents.display(),
        prompts.display()
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let (mut child, proxy) =
            common::start_proxy_with(&format!("http://{upstream}/v1"), &extra).await;
        let (mut child_none, proxy_none) = common::start_proxy_with(
            &format!("http://{upstream}/v1"),
            &format!("{extra}runtime:\n  replay: none\n"),
        )
        .await;
        let proxy_none_url = format!("{proxy_none}/v1/chat/completions");
        let client = reqwest::Client::new();
        let direct_url = format!("http://{upstream}/v1/chat/completions");
        let proxy_url = format!("{proxy}/v1/chat/completions");
        // (name, url, body, the direct calls with the same upstream replies it makes)
        let paths: Vec<(&str, &str, Value, Vec<&str>)> = vec![
            ("direct", &direct_url, body("bench", false), vec![]),
            ("direct_tool", &direct_url, body("bench", true), vec![]),
            ("proxy", &proxy_url, body("bench", false), vec!["direct"]),
            ("stages", &proxy_url, body("piped", false), vec!["direct"]),
            ("one_step", &proxy_url, body("one_step", false), vec!["direct"]),
            ("two_steps", &proxy_url, body("two_steps", false), vec!["direct", "direct"]),
            ("tool_step", &proxy_url, body("tool_step", false), vec!["direct_tool", "direct"]),
            ("tool_step_none", &proxy_none_url, body("tool_step", false), vec!["direct_tool", "direct"]),
            ("chat20_none", &proxy_none_url, chat20("tool_step"), vec!["direct_tool", "direct"]),
            ("chat20_miss", &proxy_url, chat20_answering("tool_step", "An answer typed elsewhere."), vec!["direct_tool", "direct"]),
            ("chat20_all", &proxy_url, chat20("tool_step"), vec!["direct_tool", "direct"]),
        ];
        for (_, url, body, _) in &paths {
            measure(&client, url, body, Duration::from_millis(300)).await;
        }
        // `BENCH_PROFILE=<path>`: that path alone for BENCH_SECS, for a profiler attached to the
        // printed process.
        if let Ok(only) = std::env::var("BENCH_PROFILE") {
            let Some((name, url, body, _)) = paths.iter().find(|p| p.0 == only) else {
                panic!("BENCH_PROFILE: no path '{only}'");
            };
            let pid = if **url == proxy_none_url { child_none.id() } else { child.id() };
            println!("profiling {name}: proxy pid {}", pid.unwrap_or(0));
            let lat = measure(&client, url, body, run).await;
            println!("{name}: {} requests, p50 {:.3} ms", lat.len(), common::percentile(&lat, 0.5));
            let _ = child.kill().await;
            let _ = child_none.kill().await;
            return;
        }
        println!(
            "\nagent runtime overhead ({secs:.0} s per path, 1 client, streaming, instant fake upstream, {PIECES} chunks per text answer)\n"
        );
        println!(
            "{:>14} | {:>5} | {:>8} {:>8} | {:>8} {:>8} | {:>7} | {:>8}",
            "path", "calls", "p50 ms", "p99 ms", "+p50 ms", "+p99 ms", "req/s", "proxy CPU µs/req"
        );
        // Interleaved: every path runs a slice of its time in each round, so the machine's drift
        // (other tenants, frequency, the session growing) falls on every path alike and the
        // differences between paths, which are the figures, are not differences between moments.
        let rounds: u32 = std::env::var("BENCH_ROUNDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(6);
        let (pid_all, pid_none) = (child.id(), child_none.id());
        let mut latencies: Vec<Vec<f64>> = vec![Vec::new(); paths.len()];
        let mut cpu_seconds = vec![0.0f64; paths.len()];
        for _ in 0..rounds {
            for (i, (_, url, body, _)) in paths.iter().enumerate() {
                // The proxy process serving this path, for its CPU time per request.
                let pid = if **url == proxy_none_url { pid_none } else { pid_all };
                let cpu_before = common::cpu_seconds(pid);
                let lat = measure(&client, url, body, run / rounds).await;
                if let (Some(before), Some(after)) = (cpu_before, common::cpu_seconds(pid)) {
                    cpu_seconds[i] += after - before;
                }
                latencies[i].extend(lat);
            }
        }
        let mut results: std::collections::HashMap<&str, (f64, f64)> = Default::default();
        let mut added50 = std::collections::HashMap::new();
        let mut cpu_us = std::collections::HashMap::new();
        for (i, (name, _, _, baseline)) in paths.iter().enumerate() {
            let lat = &mut latencies[i];
            lat.sort_by(f64::total_cmp);
            if !baseline.is_empty() {
                cpu_us.insert(*name, cpu_seconds[i] * 1e6 / lat.len().max(1) as f64);
            }
            let (a, b) = (common::percentile(lat, 0.5), common::percentile(lat, 0.99));
            // Added = this path minus the direct calls that return the same upstream replies.
            let base: (f64, f64) = baseline
                .iter()
                .map(|n| results[n])
                .fold((0.0, 0.0), |acc, x| (acc.0 + x.0, acc.1 + x.1));
            let (plus50, plus99) = if baseline.is_empty() { (0.0, 0.0) } else { (a - base.0, b - base.1) };
            let cpu = cpu_us.get(name).map_or("-".to_string(), |us| format!("{us:.0}"));
            println!(
                "{name:>14} | {:>5} | {a:>8.3} {b:>8.3} | {plus50:>+8.3} {plus99:>+8.3} | {:>7.0} | {cpu:>8}",
                baseline.len().max(1),
                lat.len() as f64 / secs
            );
            results.insert(name, (a, b));
            added50.insert(*name, plus50);
        }
        let get = |k: &str| added50.get(k).copied().unwrap_or(f64::NAN);
        println!("\nderived (added p50, against direct calls with the same upstream replies):");
        println!("  plain proxying                    {:+.3} ms", get("proxy"));
        println!(
            "  + 2 request and 3 stream stages   {:+.3} ms (stages − proxy)",
            get("stages") - get("proxy")
        );
        println!(
            "  a request through one LlmAgent    {:+.3} ms ({:+.3} ms more than plain proxying)",
            get("one_step"),
            get("one_step") - get("proxy")
        );
        println!(
            "  each further model step           {:+.3} ms (two_steps − one_step)",
            get("two_steps") - get("one_step")
        );
        println!(
            "  a tool round (run the tool, call the model again) {:+.3} ms (tool_step − one_step)",
            get("tool_step") - get("one_step")
        );
        let cpu = |k: &str| cpu_us.get(k).copied().unwrap_or(f64::NAN);
        // The replay's paths run on two proxy processes (replay on, replay off), and two processes
        // differ by themselves (heap layout, caches, scheduling) by about as much as the replay
        // costs. `tool_step` runs on both doing identical work; its difference between them is
        // the processes' own, and is taken out of the replay's figures.
        let process = (
            get("tool_step") - get("tool_step_none"),
            cpu("tool_step") - cpu("tool_step_none"),
        );
        println!(
            "  the two proxies' own difference   {:+.3} ms, {:+.0} µs CPU (tool_step − tool_step_none: the same work on each; taken out below)",
            process.0, process.1
        );
        println!(
            "  the history replay on a 20-turn chat {:+.3} ms, proxy CPU {:+.0} µs per request (chat20_all − chat20_none − the proxies' difference; 40 more messages to the upstream per model call)",
            get("chat20_all") - get("chat20_none") - process.0,
            cpu("chat20_all") - cpu("chat20_none") - process.1
        );
        println!(
            "    of which looking (load, match, plan; nothing put back) {:+.3} ms, {:+.0} µs CPU (chat20_miss − chat20_none − the proxies' difference)",
            get("chat20_miss") - get("chat20_none") - process.0,
            cpu("chat20_miss") - cpu("chat20_none") - process.1
        );
        println!(
            "  proxy peak RSS                    {} KiB",
            common::peak_rss_kib(child.id()).unwrap_or(0)
        );
        let _ = child.kill().await;
        let _ = child_none.kill().await;
    });
}
