//! Pre- and post-processing stages over HTTP: what the upstream received, what the client saw,
//! and when it saw it.

mod support;

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};
use support::*;

/// The error that stops a server with these settings (file name `s.yaml`) from starting.
async fn start_up_error(yaml: &str) -> String {
    let settings = adk_llm_proxy::config::parse_settings(yaml, "s.yaml").expect("parse");
    let config = adk_llm_proxy::config::Config::from_settings(
        std::path::Path::new("s.yaml"),
        settings,
        &Default::default(),
        &|_| Some("k".to_string()),
    )
    .expect("config");
    adk_llm_proxy::api::AppState::build(config)
        .await
        .err()
        .expect("start-up refused")
}

fn with_pipeline(up: &FakeUpstream, pipeline: &str) -> String {
    format!(
        "{}pipeline:\n{pipeline}",
        settings_yaml("openai", &up.openai_base(), "")
    )
}

fn streamed(
    pieces: &'static [&'static str],
) -> impl Fn(&Recorded) -> Reply + Send + Sync + 'static {
    move |req| {
        if req.body["stream"] != true {
            return Reply::json(completion(
                json!({"role": "assistant", "content": pieces.concat()}),
                "stop",
            ));
        }
        let mut steps = openai_text(pieces);
        steps.insert(steps.len() - 1, Step::Data(usage_chunk(7, 3)));
        Reply::Sse(steps)
    }
}

async fn stream_chat(proxy: &Proxy, messages: Value) -> SseTranscript {
    read_sse(
        post_chat(
            proxy,
            &json!({"messages": messages, "stream": true, "stream_options": {"include_usage": true}}),
        )
        .await,
    )
    .await
}

#[tokio::test]
async fn request_stages_shape_what_the_model_sees() {
    let up = FakeUpstream::start(streamed(&["ok"])).await;
    let today = jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::system())
        .strftime("%Y-%m-%d")
        .to_string();
    let proxy = start_proxy(&with_pipeline(
        &up,
        r#"  request:
    - stage: system_prompt
      text: "Today is {date}. You serve {model}."
    - stage: inject_context
      text: ["The office opens at 9."]
      max_chars: 200
    - stage: trim_history
      max_messages: 2
    - stage: system_prompt
      text: never applied
      enabled: false
"#,
    ))
    .await;
    let sse = stream_chat(
        &proxy,
        json!([
            {"role": "system", "content": "Be kind."},
            {"role": "user", "content": "one"}, {"role": "assistant", "content": "two"},
            {"role": "user", "content": "three"}, {"role": "assistant", "content": "four"},
            {"role": "user", "content": "five"}
        ]),
    )
    .await;
    assert_eq!(sse.content(), "ok");
    let messages = up.last_request().body["messages"].clone();
    let texts: Vec<&str> = messages
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["content"].as_str())
        .collect();
    assert!(
        texts[0].starts_with(&format!("Today is {today}")),
        "{texts:?}"
    );
    assert!(texts[0].ends_with("You serve test-model."));
    assert_eq!(texts[1], "Be kind.");
    assert!(texts[2].contains("The office opens at 9."));
    assert_eq!(
        &texts[3..],
        ["four", "five"],
        "history trimmed to the last two"
    );
    assert!(
        sse.reasoning()
            .contains("[pipeline] added context from 1 source")
    );
    assert!(
        sse.reasoning()
            .contains("[pipeline] trimmed the history: 3 older messages left out")
    );
}

#[tokio::test]
async fn redact_and_guard_before_the_model() {
    let up = FakeUpstream::start(streamed(&["fine"])).await;
    let proxy = start_proxy(&with_pipeline(
        &up,
        r#"  request:
    - stage: redact
      builtins: [email, phone, api_key]
    - stage: guard
      rules:
        - name: secrets
          keywords: [password, "private key"]
          action: block
          message: "I can't help with credentials. Ask your admin."
        - name: internal
          pattern: '(?i)project\s+zeus'
          action: rewrite
          replacement: "[internal project]"
"#,
    ))
    .await;
    let sse = stream_chat(
        &proxy,
        user("Write to ann@example.org or +49 30 1234 5678 about Project Zeus, key sk-abcdefghijklmnopqrstu"),
    )
    .await;
    assert_eq!(sse.content(), "fine");
    let sent = up.last_request().body["messages"][0]["content"].clone();
    assert_eq!(
        sent,
        "Write to [REDACTED] or [REDACTED] about [internal project], key [REDACTED]"
    );
    let reasoning = sse.reasoning();
    assert!(
        reasoning.contains("[pipeline] redacted 1 API key, 1 e-mail address, 1 phone number"),
        "{reasoning}"
    );
    assert!(reasoning.contains("guard: request rewritten by rule 'internal'"));

    let calls = up.requests().len();
    let sse = stream_chat(&proxy, user("what is the admin password?")).await;
    assert!(sse.ends_with_done());
    assert_eq!(
        sse.content(),
        "I can't help with credentials. Ask your admin."
    );
    assert!(
        sse.reasoning()
            .contains("guard: request blocked by rule 'secrets'")
    );
    let whole: Value = post_chat(&proxy, &json!({"messages": user("my private key is…")}))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        whole["choices"][0]["message"]["content"],
        "I can't help with credentials. Ask your admin."
    );
    assert_eq!(whole["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        up.requests().len(),
        calls,
        "a blocked request never reaches the model"
    );
}

/// Content pieces with the time each arrived.
async fn timed_content(response: reqwest::Response) -> Vec<(Instant, String)> {
    let mut out = Vec::new();
    let mut buffer = String::new();
    let mut body = response.bytes_stream();
    while let Some(Ok(bytes)) = body.next().await {
        buffer.push_str(&String::from_utf8_lossy(&bytes));
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            if let Some(data) = event.trim().strip_prefix("data: ")
                && let Ok(chunk) = serde_json::from_str::<Value>(data)
                && let Some(text) = chunk["choices"][0]["delta"]["content"].as_str()
            {
                out.push((Instant::now(), text.to_string()));
            }
        }
    }
    out
}

const LINK_STAGE: &str = r#"  stream:
    - stage: link
      pattern: '#(\d+)'
      url: 'https://tracker.example.com/issue/$1'
"#;

#[tokio::test]
async fn links_are_made_across_two_and_three_chunks() {
    for pieces in [&["See #1", "23 now"][..], &["See #", "12", "3 now"][..]] {
        let pieces: &'static [&'static str] = Box::leak(pieces.to_vec().into_boxed_slice());
        let up = FakeUpstream::start(streamed(pieces)).await;
        let proxy = start_proxy(&with_pipeline(&up, LINK_STAGE)).await;
        let sse = stream_chat(&proxy, user("x")).await;
        assert_eq!(
            sse.content(),
            "See [#123](https://tracker.example.com/issue/123) now",
            "{pieces:?}"
        );
        let usage = sse
            .json()
            .last()
            .map(|c| c["usage"]["total_tokens"].clone());
        assert_eq!(usage, Some(json!(10)), "usage still comes last");
    }
}

#[tokio::test]
async fn text_that_cannot_match_is_not_held_back() {
    let up = FakeUpstream::start(|_| {
        Reply::Sse(vec![
            Step::Data(chunk(
                json!({"role": "assistant", "content": "Hello "}),
                None,
            )),
            Step::Sleep(Duration::from_millis(400)),
            Step::Data(chunk(json!({"content": "issue #4"}), None)),
            Step::Sleep(Duration::from_millis(400)),
            Step::Data(chunk(json!({"content": "2 done"}), None)),
            Step::Data(chunk(json!({}), Some("stop"))),
            Step::Data("[DONE]".into()),
        ])
    })
    .await;
    let proxy = start_proxy(&with_pipeline(&up, LINK_STAGE)).await;
    let sent = Instant::now();
    let pieces =
        timed_content(post_chat(&proxy, &json!({"messages": user("x"), "stream": true})).await)
            .await;
    let text: String = pieces.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(
        text,
        "Hello issue [#42](https://tracker.example.com/issue/42) done"
    );
    let (hello_at, hello) = &pieces[0];
    assert_eq!(hello, "Hello ");
    assert!(
        hello_at.duration_since(sent) < Duration::from_millis(300),
        "'Hello ' was not held"
    );
    let (issue_at, issue) = &pieces[1];
    assert_eq!(issue, "issue ", "only '#4' waits for more");
    assert!(issue_at.duration_since(sent) < Duration::from_millis(700));
}

#[tokio::test]
async fn answers_are_redacted_footed_and_logged() {
    let up = FakeUpstream::start(streamed(&["Write to bob@exa", "mple.com", " today."])).await;
    let dir = std::env::temp_dir().join(format!("adk-answer-log-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let log = dir.join("answers.jsonl");
    let proxy = start_proxy(&with_pipeline(
        &up,
        &format!(
            r#"  stream:
    - stage: redact_output
      builtins: [email]
    - stage: append
      text: "— answered by {{model}}"
    - stage: stats
      as: footer
    - stage: log
      path: "{}"
      max_bytes: 400
"#,
            log.display()
        ),
    ))
    .await;
    let sse = stream_chat(&proxy, user("mail carol@example.org")).await;
    let content = sse.content();
    assert!(
        content.starts_with(
            "Write to [REDACTED] today.\n\n— answered by test-model\n\n---\n📊 7 in / 3 out tokens"
        ),
        "{content}"
    );
    assert_eq!(
        sse.json()
            .iter()
            .filter(|c| c["choices"][0]["finish_reason"] == "stop")
            .count(),
        1
    );
    let finish_at = sse
        .json()
        .iter()
        .position(|c| c["choices"][0]["finish_reason"] == "stop");
    let footer_at = sse.json().iter().position(|c| {
        c["choices"][0]["delta"]["content"]
            .as_str()
            .is_some_and(|t| t.contains("📊"))
    });
    assert!(
        footer_at < finish_at,
        "the footer comes before the finish chunk"
    );

    // Non-streaming gets the same treatment.
    let whole: Value = post_chat(&proxy, &json!({"messages": user("again")}))
        .await
        .json()
        .await
        .expect("json");
    let text = whole["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        text.starts_with("Write to [REDACTED] today.\n\n— answered by test-model"),
        "{text}"
    );

    // The log: one redacted line per answer, rotated past max_bytes.
    let started = Instant::now();
    while !dir.join("answers.jsonl.1").exists() && started.elapsed() < Duration::from_secs(3) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let all = format!(
        "{}{}",
        std::fs::read_to_string(dir.join("answers.jsonl.1")).unwrap_or_default(),
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    assert!(
        all.contains("\"answer\":\"Write to [REDACTED] today."),
        "{all}"
    );
    assert!(
        all.contains("mail [REDACTED]") && !all.contains("carol@"),
        "{all}"
    );
    assert!(dir.join("answers.jsonl.1").exists(), "rotated by size");
}

#[tokio::test]
async fn webhook_changes_blocks_and_fails_open_or_closed() {
    let up = FakeUpstream::start(streamed(&["answer"])).await;
    let hook = FakeUpstream::start(|req: &Recorded| {
        let text = req.body["messages"][0]["content"]
            .as_str()
            .unwrap_or("")
            .to_string();
        if text.contains("forbidden") {
            Reply::json(json!({"block": true, "message": "Blocked by policy."}))
        } else if text.contains("slow") {
            Reply::Hang
        } else {
            Reply::json(
                json!({"messages": [{"role": "user", "content": format!("{text} (checked)")}],
                "note": "policy check passed"}),
            )
        }
    })
    .await;
    let settings = |policy: &str| {
        with_pipeline(
            &up,
            &format!(
                "  request:\n    - stage: webhook\n      url: \"{}/check\"\n      timeout_ms: 300\n      on_failure: {policy}\n",
                hook.openai_base().trim_end_matches("/v1")
            ),
        )
    };
    let proxy = start_proxy(&settings("open")).await;
    let sse = stream_chat(&proxy, user("hello")).await;
    assert_eq!(sse.content(), "answer");
    assert_eq!(
        up.last_request().body["messages"][0]["content"],
        "hello (checked)"
    );
    assert!(sse.reasoning().contains("[pipeline] policy check passed"));
    assert_eq!(hook.last_request().body["phase"], "request");

    let sse = stream_chat(&proxy, user("something forbidden")).await;
    assert_eq!(sse.content(), "Blocked by policy.");

    let started = Instant::now();
    let sse = stream_chat(&proxy, user("slow one")).await;
    assert_eq!(sse.content(), "answer", "fail-open: the request goes on");
    assert!(
        sse.reasoning()
            .contains("webhook skipped: no answer within 300 ms")
    );
    assert!(started.elapsed() < Duration::from_secs(3));

    let closed = start_proxy(&settings("closed")).await;
    let response = post_chat(&closed, &json!({"messages": user("slow two")})).await;
    assert_eq!(response.status(), 503);
    let error: Value = response.json().await.expect("json");
    assert_eq!(error["error"]["code"], "pipeline_webhook_failed");
}

#[tokio::test]
async fn per_model_and_per_agent_stages_and_config_errors() {
    let up = FakeUpstream::start(streamed(&["text"])).await;
    let root = project(
        "agent-pipeline",
        &[(
            "agents/footed.yaml",
            "name: footed\ninstruction: hi\npipeline:\n  stream:\n    - stage: append\n      text: agent footer\n",
        )],
    );
    let yaml = format!(
        "{}models:\n  \"special-*\":\n    pipeline:\n      stream:\n        - stage: append\n          text: model footer\n",
        agent_settings(&up.openai_base(), &root, "")
    );
    let proxy = start_proxy(&yaml).await;
    let body = |model: &str| json!({"model": model, "messages": user("x"), "stream": true});
    assert_eq!(
        read_sse(post_chat(&proxy, &body("special-1")).await)
            .await
            .content(),
        "text\n\nmodel footer"
    );
    assert_eq!(
        read_sse(post_chat(&proxy, &body("plain")).await)
            .await
            .content(),
        "text"
    );
    assert_eq!(
        read_sse(post_chat(&proxy, &body("footed")).await)
            .await
            .content(),
        "text\n\nagent footer"
    );

    for (pipeline, expected) in [
        (
            "  stream:\n    - stage: lnk\n",
            "pipeline.stream[0].stage: unknown stream stage 'lnk'",
        ),
        (
            "  stream:\n    - stage: link\n      pattern: '(('\n      url: x\n",
            "pipeline.stream[0].pattern:",
        ),
        (
            "  request:\n    - stage: redact\n      builtins: [emails]\n",
            "pipeline.request[0].builtins: unknown pattern 'emails'",
        ),
        (
            "  request:\n    - stage: guard\n      rules:\n        - keywords: [x]\n          action: shout\n",
            "pipeline.request[0].rules[0].action: 'shout' is not one of block, rewrite",
        ),
        (
            "  request:\n    - stage: system_prompt\n      txt: hi\n",
            "pipeline.request[0].txt: unknown setting",
        ),
    ] {
        let error = start_up_error(&with_pipeline(&up, pipeline)).await;
        assert!(
            error.starts_with("s.yaml: ") && error.contains(expected),
            "{error}"
        );
    }
}

#[tokio::test]
async fn the_readme_pipeline_example_loads_and_works() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("readme");
    let section = &readme[readme.find("## Pre- and post-processing").expect("section")..];
    let start = section.find("```yaml\n").expect("yaml block") + 8;
    let example = &section[start..start + section[start..].find("```").expect("end")];
    let dir = std::env::temp_dir().join(format!("adk-readme-{}", std::process::id()));
    let example = example.replace(
        "logs/answers.jsonl",
        &dir.join("answers.jsonl").display().to_string(),
    );
    let up = FakeUpstream::start(streamed(&["Fixed in #4", "2."])).await;
    let proxy = start_proxy(&format!(
        "{}{example}",
        settings_yaml("openai", &up.openai_base(), "")
    ))
    .await;
    let sse = stream_chat(&proxy, user("Mail bob@example.com about it")).await;
    assert!(
        sse.content().starts_with("Fixed in [#42](https://youtrack.example.com/issue/PRJ-42).\n\n---\n📊 7 in / 3 out tokens"),
        "{}",
        sse.content()
    );
    let sent = up.last_request().body["messages"].clone();
    assert!(
        sent[0]["content"]
            .as_str()
            .expect("system")
            .starts_with("Today is ")
    );
    assert_eq!(sent[1]["content"], "Mail [REDACTED] about it");
    let blocked = stream_chat(&proxy, user("what's the wifi password")).await;
    assert!(
        blocked
            .content()
            .starts_with("For security reasons I can't help with credentials.")
    );
}

#[tokio::test]
async fn redact_output_across_two_and_three_chunks() {
    for pieces in [
        &["Mail bob@exam", "ple.com now"][..],
        &["Mail bob", "@examp", "le.com now"][..],
    ] {
        let pieces: &'static [&'static str] = Box::leak(pieces.to_vec().into_boxed_slice());
        let up = FakeUpstream::start(streamed(pieces)).await;
        let proxy = start_proxy(&with_pipeline(
            &up,
            "  stream:\n    - stage: redact_output\n      builtins: [email]\n      replacement: \"<email>\"\n",
        ))
        .await;
        let sse = stream_chat(&proxy, user("x")).await;
        assert_eq!(sse.content(), "Mail <email> now", "{pieces:?}");
        assert!(
            !sse.raw.contains("bob"),
            "no fragment of the address leaks: {}",
            sse.raw
        );
    }
}

#[tokio::test]
async fn stage_notes_follow_the_reasoning_mode() {
    let up = FakeUpstream::start(streamed(&["ok"])).await;
    let proxy = start_proxy(&with_pipeline(
        &up,
        "  request:\n    - stage: redact\n      builtins: [email]\n",
    ))
    .await;
    let ask = |mode: &'static str| {
        let url = proxy.url("/v1/chat/completions");
        async move {
            let response = client()
                .post(url)
                .header("X-Reasoning-Mode", mode)
                .json(&json!({"messages": user("to a@b.org"), "stream": true}))
                .send()
                .await
                .expect("send");
            read_sse(response).await
        }
    };
    let tags = ask("think_tags").await;
    assert_eq!(
        tags.content(),
        "<think>\n[pipeline] redacted 1 e-mail address\n</think>\nok"
    );
    let hidden = ask("hidden").await;
    assert_eq!(hidden.content(), "ok");
    assert!(!hidden.raw.contains("redacted"), "{}", hidden.raw);
    let openrouter = ask("reasoning").await;
    assert!(
        openrouter
            .raw
            .contains(r#""reasoning":"[pipeline] redacted 1 e-mail address\n""#),
        "{}",
        openrouter.raw
    );
}

#[tokio::test]
async fn all_builtin_patterns_on_a_russian_answer() {
    let up = FakeUpstream::start(streamed(&[
        "Номер карты 4111 1111 ",
        "1111 1111, ключ sk-abcdefghijklmnop",
        "qrstu, почта ivan@example.ru.",
    ]))
    .await;
    let proxy = start_proxy(&with_pipeline(
        &up,
        "  stream:\n    - stage: redact_output\n",
    ))
    .await;
    let sse = stream_chat(&proxy, user("x")).await;
    assert_eq!(
        sse.content(),
        "Номер карты [REDACTED], ключ [REDACTED], почта [REDACTED]."
    );
    let first = sse
        .json()
        .iter()
        .find_map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_string)
        })
        .unwrap_or_default();
    assert_eq!(
        first, "Номер карты ",
        "text before a possible match is not held"
    );
}

#[tokio::test]
async fn an_agents_request_stages_run_before_each_of_its_model_calls() {
    let up = FakeUpstream::start(streamed(&["step text"])).await;
    let files = [
        (
            "agents/steps.yaml",
            "name: steps\nagent_class: SequentialAgent\nsub_agents:\n  - name: first\n  - name: second\n",
        ),
        (
            "agents/first.yaml",
            "name: first\ninstruction: first instruction\npipeline:\n  request:\n    - stage: system_prompt\n      text: \"RULE for {agent}\"\n",
        ),
        (
            "agents/second.yaml",
            "name: second\ninstruction: second instruction\npipeline:\n  request:\n    - stage: guard\n      rules:\n        - keywords: [forbidden]\n          message: Not in this step.\n",
        ),
    ];
    let root = project("step-stages", &files);
    let proxy = start_proxy(&agent_settings(&up.openai_base(), &root, "")).await;
    let ask = |text: &str| json!({"model": "steps", "stream": true, "messages": user(text)});
    let sse = read_sse(post_chat(&proxy, &ask("hello")).await).await;
    assert_eq!(sse.content(), "step text");
    let requests = up.requests();
    assert_eq!(requests.len(), 2);
    assert!(
        requests[0]
            .system()
            .starts_with("RULE for first\nfirst instruction"),
        "{}",
        requests[0].system()
    );
    assert_eq!(
        requests[1].system(),
        "second instruction",
        "stages belong to their agent"
    );

    let sse = read_sse(post_chat(&proxy, &ask("something forbidden")).await).await;
    assert_eq!(sse.content(), "Not in this step.");
    assert!(
        sse.reasoning()
            .contains("[second] [pipeline] guard: request blocked"),
        "{}",
        sse.reasoning()
    );
    assert_eq!(
        up.requests().len(),
        3,
        "the blocked step made no model call"
    );

    // Stream stages belong to the answer, so only a top-level agent may have them.
    let bad = project(
        "step-stream-stages",
        &[
            files[0],
            files[1],
            (
                "agents/second.yaml",
                "name: second\ninstruction: x\npipeline:\n  stream:\n    - stage: stats\n",
            ),
        ],
    );
    let error = start_up_error(&agent_settings(&up.openai_base(), &bad, "")).await;
    assert!(
        error.contains("second.yaml: pipeline.stream:") && error.contains("only a top-level agent"),
        "{error}"
    );
}

/// M3 and L2 over HTTP: a long match arriving one character per chunk neither holds the answer
/// back nor burns CPU, and a 900-character key sent a character at a time is redacted whole.
#[tokio::test]
async fn long_matches_one_character_per_chunk_are_redacted_in_linear_time() {
    let digits: String = (0..30_000)
        .map(|i| char::from(b'0' + (i % 10) as u8))
        .collect();
    let key = format!("sk-{}", "Ab1".repeat(300));
    let text = format!("n={digits} key {key} done");
    let pieces: Vec<&'static str> = text
        .char_indices()
        .map(|(i, c)| &*Box::leak(text[i..i + c.len_utf8()].to_string().into_boxed_str()))
        .collect();
    let pieces: &'static [&'static str] = Box::leak(pieces.into_boxed_slice());
    let up = FakeUpstream::start(streamed(pieces)).await;
    let proxy = start_proxy(&with_pipeline(
        &up,
        "  stream:\n    - stage: redact_output\n      builtins: [api_key]\n      patterns: [\"\\\\d{5,}\"]\n      replacement: \"[gone]\"\n",
    ))
    .await;
    let started = std::time::Instant::now();
    let sse = stream_chat(&proxy, user("x")).await;
    assert_eq!(
        sse.content(),
        "n=[gone] key [gone] done",
        "{}",
        &sse.raw[..500.min(sse.raw.len())]
    );
    assert!(!sse.raw.contains("Ab1Ab1"), "no part of the key leaks");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}
