//! What chat UIs do around a chat (issue 12): their background tasks — Open WebUI's title, tags
//! and follow-ups, LibreChat's title — reach a model directly, not through the agent.

mod support;

use serde_json::{Value, json};
use support::*;

const PLANNER: &[(&str, &str)] = &[
    (
        "agents/planner.yaml",
        "name: planner\nagent_class: SequentialAgent\nsub_agents:\n  - name: planning_step\n  - name: answering_step\n",
    ),
    (
        "agents/planning_step.yaml",
        "name: planning_step\ninstruction: Write a plan.\noutput_key: plan\n",
    ),
    (
        "agents/answering_step.yaml",
        "name: answering_step\ninstruction: \"Follow the plan: {plan?}\"\n",
    ),
];

/// Open WebUI's task prompts (as its templates begin) wrapped around a chat history.
fn open_webui_task(first_line: &str) -> Value {
    json!([{"role": "user", "content": format!(
        "### Task:\n{first_line}\n### Guidelines:\n- Keep it short.\n### Chat History:\n<chat_history>\nUSER: Plan a weekend in Rome\nASSISTANT: Day 1: …\n</chat_history>"
    )}])
}

#[tokio::test]
async fn background_tasks_of_a_chat_ui_cost_one_plain_call_each() {
    let up = FakeUpstream::start(|req: &Recorded| {
        let system = req.system();
        let text = if system.starts_with("Write a plan.") {
            "1. Sights 2. Food"
        } else if system.starts_with("Follow the plan") {
            "Day 1: the Forum."
        } else {
            "Rome Weekend 🇮🇹"
        };
        if req.body["stream"] == true {
            let mut steps = openai_text(&[text]);
            steps.insert(steps.len() - 1, Step::Data(usage_chunk(3, 2)));
            Reply::Sse(steps)
        } else {
            Reply::json(completion(
                json!({"role": "assistant", "content": text}),
                "stop",
            ))
        }
    })
    .await;
    let root = project("ui-tasks", PLANNER);
    let proxy = start_proxy(&agent_settings(&up.openai_base(), &root, "")).await;

    // The chat message: the planner's two calls.
    let sse = read_sse(
        chat_request(
            &proxy,
            None,
            &json!({"model": "planner", "messages": user("Plan a weekend in Rome"), "stream": true}),
            &[],
        )
        .await,
    )
    .await;
    assert_eq!(sse.content(), "Day 1: the Forum.");
    assert_eq!(up.requests().len(), 2);

    // Open WebUI's title, tags and follow-ups, and LibreChat's title: one plain call each.
    // Open WebUI 0.12.4's templates (open_webui/config.py) begin with these lines.
    let tasks = [
        open_webui_task("Generate a concise title summarizing the chat history."),
        open_webui_task(
            "Generate 1-3 broad tags categorizing the main themes of the chat history, along with 1-3 more specific subtopic tags.",
        ),
        open_webui_task(
            "Predict 3-5 useful messages this user might naturally send next to advance their current objective.",
        ),
        json!([{"role": "user", "content": "Provide a concise, 5-word-or-less title for the conversation, using title case conventions. Only return the title itself.\n\nConversation:\nUser: Plan a weekend in Rome"}]),
    ];
    for messages in &tasks {
        let response = chat_request(
            &proxy,
            None,
            &json!({"model": "planner", "messages": messages, "stream": false}),
            &[],
        )
        .await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["choices"][0]["message"]["content"], "Rome Weekend 🇮🇹");
    }
    let requests = up.requests();
    assert_eq!(requests.len(), 2 + tasks.len(), "exactly one call per task");
    for (task, sent) in tasks.iter().zip(&requests[2..]) {
        assert_eq!(
            &sent.body["messages"], task,
            "the task prompt goes as the UI sent it"
        );
        assert_eq!(sent.system(), "", "no agent instruction");
        assert_eq!(sent.body["model"], "test-model");
    }

    let metrics = get_text(&proxy.url("/metrics")).await;
    for (task, count) in [("title", 2), ("tags", 1), ("follow_ups", 1)] {
        let line = metrics
            .lines()
            .find(|l| {
                l.starts_with("adk_proxy_requests_total") && l.contains(&format!("task=\"{task}\""))
            })
            .unwrap_or_else(|| panic!("no requests metric for task {task}:\n{metrics}"));
        assert!(line.ends_with(&format!(" {count}")), "{line}");
        assert!(line.contains("agent=\"planner\""), "{line}");
    }
}

#[tokio::test]
async fn background_tasks_can_go_to_their_own_model_or_through_the_agent() {
    let up = FakeUpstream::start(script(vec![
        text_reply("Title", 1, 1),
        text_reply("plan", 1, 1),
        text_reply("Title through the agent", 1, 1),
    ]))
    .await;
    let title = open_webui_task(
        "Generate a concise, 3-5 word title with an emoji summarizing the chat history.",
    );

    let root = project("ui-task-model", PLANNER);
    let settings = agent_settings(&up.openai_base(), &root, "").replace(
        "agents:\n",
        "agents:\n  background_tasks: { model: up/small-model }\n",
    );
    let proxy = start_proxy(&settings).await;
    read_sse(
        chat_request(
            &proxy,
            None,
            &json!({"model": "planner", "messages": title, "stream": true}),
            &[],
        )
        .await,
    )
    .await;
    assert_eq!(up.requests()[0].body["model"], "small-model");

    let root = project("ui-task-agent", PLANNER);
    let settings = agent_settings(&up.openai_base(), &root, "").replace(
        "agents:\n",
        "agents:\n  background_tasks: { mode: agent }\n",
    );
    let proxy = start_proxy(&settings).await;
    let sse = read_sse(
        chat_request(
            &proxy,
            None,
            &json!({"model": "planner", "messages": title, "stream": true}),
            &[],
        )
        .await,
    )
    .await;
    assert_eq!(sse.content(), "Title through the agent");
    assert_eq!(
        up.requests().len(),
        3,
        "mode: agent runs the planner's two steps"
    );
}

fn events(sse: &SseTranscript) -> Vec<Value> {
    sse.json()
        .iter()
        .filter_map(|c| c.get("event").cloned())
        .collect()
}

fn descriptions(sse: &SseTranscript) -> Vec<String> {
    events(sse)
        .iter()
        .filter_map(|e| e["data"]["description"].as_str().map(str::to_string))
        .collect()
}

const OPEN_WEBUI: (&str, &str) = ("X-Reasoning-Mode", "open_webui");

/// The Open WebUI style: the status line follows the run, a server-side tool call is a native
/// tool card, and the card that comes back next turn is the tool call and result again — no
/// markup reaches the model. Without the style nothing of it is sent.
#[tokio::test]
async fn open_webui_style_shows_status_and_tool_cards_and_takes_them_back() {
    let up = FakeUpstream::start(script(vec![
        tool_call_reply(
            &[("c1", "current_time", json!({"timezone": "Asia/Tokyo"}))],
            1,
            1,
        ),
        text_reply("It is noon in Tokyo.", 1, 1),
        text_reply("You are welcome.", 1, 1),
        tool_call_reply(&[("c2", "current_time", json!({"timezone": "UTC"}))], 1, 1),
        text_reply("Plain.", 1, 1),
    ]))
    .await;
    let root = project(
        "owui-style",
        &[(
            "agents/assistant.yaml",
            "name: assistant\ninstruction: Use current_time.\ntools:\n  - name: current_time\n",
        )],
    );
    let proxy = start_proxy(&agent_settings(&up.openai_base(), &root, "")).await;
    let session = ("X-Session-Id", "owui-1");
    let first = read_sse(
        chat_request(
            &proxy,
            None,
            &json!({"model": "assistant", "messages": user("time in Tokyo?"), "stream": true}),
            &[OPEN_WEBUI, session],
        )
        .await,
    )
    .await;
    assert_eq!(
        descriptions(&first),
        ["assistant is working…", "Calling current_time…", "Done"]
    );
    assert_eq!(events(&first).last().expect("done")["data"]["done"], true);
    let content = first.content();
    assert!(
        content.starts_with(
            "\n<details type=\"tool_calls\" done=\"true\" id=\"c1\" name=\"current_time\""
        ),
        "{content}"
    );
    assert!(
        content.contains("Asia/Tokyo") && content.contains("weekday"),
        "{content}"
    );
    assert!(
        content.ends_with("</details>\nIt is noon in Tokyo."),
        "{content}"
    );
    assert!(
        !first.reasoning().contains("🔧"),
        "the card replaces the reasoning line"
    );

    // Turn 2: Open WebUI sends the message back as it was streamed.
    let messages = json!([
        {"role": "user", "content": "time in Tokyo?"},
        {"role": "assistant", "content": content},
        {"role": "user", "content": "thanks"},
    ]);
    read_sse(
        chat_request(
            &proxy,
            None,
            &json!({"model": "assistant", "messages": messages, "stream": true}),
            &[OPEN_WEBUI, session],
        )
        .await,
    )
    .await;
    let sent = up.requests()[2].body["messages"].clone();
    let roles: Vec<&str> = sent
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["role"].as_str())
        .collect();
    assert_eq!(
        roles,
        ["system", "user", "assistant", "tool", "assistant", "user"]
    );
    assert_eq!(sent[2]["tool_calls"][0]["id"], "c1");
    assert_eq!(sent[2]["tool_calls"][0]["function"]["name"], "current_time");
    assert!(
        sent[3]["content"]
            .as_str()
            .is_some_and(|t| t.contains("Asia/Tokyo"))
    );
    assert_eq!(sent[4]["content"], "It is noon in Tokyo.");
    assert!(!sent.to_string().contains("<details"), "{sent}");

    // Without the style: today's rendering, no events, no markup.
    let plain = read_sse(
        chat_request(
            &proxy,
            None,
            &json!({"model": "assistant", "messages": user("time?"), "stream": true}),
            &[],
        )
        .await,
    )
    .await;
    assert!(events(&plain).is_empty());
    assert_eq!(plain.content(), "Plain.");
    assert!(plain.reasoning().contains("🔧 current_time"));
}

/// A hand-over shows in the status line; a page `fetch_url` read is listed as a source.
#[tokio::test]
async fn open_webui_style_shows_hand_overs_and_sources() {
    let up = FakeUpstream::start(|req: &Recorded| {
        if req.path == "/page" {
            return Reply::Sse(vec![Step::Raw(
                "<!doctype html><html><body><p>Rome has 900 churches.</p></body></html>".into(),
            )]);
        }
        let system = req.system();
        let after_tool = req.body["messages"]
            .as_array()
            .and_then(|m| m.last())
            .is_some_and(|m| m["role"] == "tool");
        if system.starts_with("Route.") {
            return tool_call_reply(
                &[(
                    "t1",
                    "transfer_to_agent",
                    json!({"agent_name": "researcher"}),
                )],
                1,
                1,
            );
        }
        if !after_tool {
            let url = format!("http://{}/page", req.headers["host"].to_str().unwrap_or(""));
            return tool_call_reply(&[("f1", "fetch_url", json!({"url": url}))], 1, 1);
        }
        text_reply("Rome has 900 churches.", 1, 1)
    })
    .await;
    let root = project(
        "owui-router",
        &[
            (
                "agents/desk.yaml",
                "name: desk\ninstruction: Route.\nsub_agents:\n  - name: researcher\n",
            ),
            (
                "agents/researcher.yaml",
                "name: researcher\ndescription: Reads pages.\ninstruction: Read.\ntools:\n  - name: fetch_url\n    args: { allow_private: true }\n",
            ),
        ],
    );
    let proxy = start_proxy(&agent_settings(&up.openai_base(), &root, "")).await;
    let sse = read_sse(
        chat_request(
            &proxy,
            None,
            &json!({"model": "desk", "messages": user("churches in Rome?"), "stream": true}),
            &[OPEN_WEBUI],
        )
        .await,
    )
    .await;
    let said = descriptions(&sse);
    assert!(
        said.contains(&"Handing over to researcher".to_string()),
        "{said:?}"
    );
    assert!(
        said.contains(&"researcher is working…".to_string()),
        "{said:?}"
    );
    assert_eq!(
        said.last().map(String::as_str),
        Some("Done: desk → researcher")
    );
    assert!(
        !sse.content().contains("transfer_to_agent"),
        "a hand-over is no card"
    );
    let sources: Vec<Value> = sse
        .json()
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["annotations"].as_array().cloned())
        .flatten()
        .collect();
    assert_eq!(sources.len(), 1, "{sources:?}");
    assert_eq!(sources[0]["type"], "url_citation");
    assert!(
        sources[0]["url_citation"]["url"]
            .as_str()
            .is_some_and(|u| u.ends_with("/page"))
    );
    assert!(sse.content().ends_with("Rome has 900 churches."));
}
