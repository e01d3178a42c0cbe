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
