//! The agent runtime through the real HTTP surface: agents from YAML in a temporary project, a
//! scripted fake upstream that answers each model call in turn, and the SSE the client sees.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::*;

async fn chat(proxy: &Proxy, body: Value, headers: &[(&str, &str)]) -> reqwest::Response {
    chat_request(proxy, None, &body, headers).await
}

fn finish_reason(sse: &SseTranscript) -> Option<String> {
    sse.json().iter().rev().find_map(|c| {
        c["choices"][0]["finish_reason"]
            .as_str()
            .map(str::to_string)
    })
}

fn usage(sse: &SseTranscript) -> Value {
    sse.json()
        .last()
        .map(|c| c["usage"].clone())
        .unwrap_or(Value::Null)
}

const ASSISTANT: (&str, &str) = (
    "agents/assistant.yaml",
    "name: assistant\ndescription: Knows the time.\ninstruction: file:prompts/assistant.md\ntools:\n  - name: current_time\n",
);
const ASSISTANT_PROMPT: (&str, &str) = ("prompts/assistant.md", "Use current_time for dates.");

#[tokio::test]
async fn llm_agent_runs_a_tool_then_answers_with_summed_usage() {
    let up = FakeUpstream::start(script(vec![
        tool_call_reply(
            &[("call_1", "current_time", json!({"timezone": "UTC"}))],
            10,
            5,
        ),
        text_reply("It is Sunday.", 20, 4),
    ]))
    .await;
    let root = project("assistant", &[ASSISTANT, ASSISTANT_PROMPT]);
    let proxy = start_proxy(&agent_settings(&up.openai_base(), &root, "")).await;

    let response = chat(
        &proxy,
        json!({"model": "assistant", "messages": user("What day is it?"), "stream": true,
               "stream_options": {"include_usage": true}}),
        &[],
    )
    .await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["x-session-id"]
            .to_str()
            .expect("header")
            .starts_with("auto-")
    );
    let sse = read_sse(response).await;
    assert!(sse.ends_with_done());
    assert_eq!(sse.content(), "It is Sunday.");
    let reasoning = sse.reasoning();
    assert!(
        reasoning.contains("🔧 current_time({\"timezone\":\"UTC\"})"),
        "{reasoning}"
    );
    assert!(
        reasoning.contains("↳ current_time: {\"date\":"),
        "{reasoning}"
    );
    assert_eq!(finish_reason(&sse).as_deref(), Some("stop"));
    assert_eq!(
        usage(&sse),
        json!({"prompt_tokens": 30, "completion_tokens": 9, "total_tokens": 39})
    );
    let chunks = sse.json();
    assert!(
        chunks
            .iter()
            .all(|c| c["model"] == "assistant" && c["id"] == chunks[0]["id"])
    );

    let calls = up.requests();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].system(), "Use current_time for dates.");
    assert_eq!(calls[0].tool_names(), ["current_time"]);
    assert_eq!(calls[0].body["model"], "test-model");
    assert_eq!(calls[0].body["stream"], true);
    let second = &calls[1].body["messages"];
    assert_eq!(second[2]["role"], "assistant");
    assert_eq!(
        second[2]["tool_calls"][0]["function"]["arguments"],
        "{\"timezone\":\"UTC\"}"
    );
    assert_eq!(second[3]["role"], "tool");
    assert_eq!(second[3]["tool_call_id"], "call_1");
    assert!(
        second[3]["content"]
            .as_str()
            .expect("text")
            .contains("\"timezone\":\"UTC\"")
    );
}

const PLANNER: &[(&str, &str)] = &[
    (
        "agents/planner.yaml",
        "name: planner\nagent_class: SequentialAgent\ndescription: Plans, then answers.\nsub_agents:\n  - name: planning_step\n  - name: answering_step\n",
    ),
    (
        "agents/planning_step.yaml",
        "name: planning_step\ninstruction: Write a plan.\noutput_key: plan\ngenerate_content_config: { temperature: 0.2, max_output_tokens: 50 }\n",
    ),
    (
        "agents/answering_step.yaml",
        "name: answering_step\ninstruction: \"Follow the plan:\\n{plan}\"\n",
    ),
];

#[tokio::test]
async fn planner_streams_its_plan_as_reasoning_and_the_answer_as_content() {
    let up = FakeUpstream::start(script(vec![
        text_reply("1. greet", 5, 2),
        text_reply("Hello!", 7, 1),
        text_reply("1. greet again", 5, 2),
        text_reply("Hello again!", 7, 1),
    ]))
    .await;
    let root = project("planner", PLANNER);
    let proxy = start_proxy(&agent_settings(&up.openai_base(), &root, "")).await;

    let sse = read_sse(
        chat(
            &proxy,
            json!({"model": "planner", "messages": user("hi"), "stream": true, "temperature": 0.9}),
            &[],
        )
        .await,
    )
    .await;
    assert_eq!(sse.reasoning(), "\n[planning_step] 1. greet");
    assert_eq!(sse.content(), "Hello!");
    let calls = up.requests();
    assert_eq!(calls[0].system(), "Write a plan.");
    assert_eq!(calls[0].body["temperature"], 0.2, "the agent's config wins");
    assert_eq!(calls[0].body["max_tokens"], 50);
    assert_eq!(
        calls[1].body["temperature"], 0.9,
        "the client's parameter stays"
    );
    assert_eq!(calls[1].system(), "Follow the plan:\n1. greet");
    assert_eq!(
        calls[1].body["messages"][2],
        json!({"role": "user", "content": "For context:\n[planning_step] said: 1. greet"})
    );

    // Non-streaming: one assembled completion with reasoning, content and summed usage.
    let whole: Value = chat(
        &proxy,
        json!({"model": "planner", "messages": user("hi again")}),
        &[],
    )
    .await
    .json()
    .await
    .expect("json");
    assert_eq!(whole["object"], "chat.completion");
    assert_eq!(whole["model"], "planner");
    assert_eq!(whole["choices"][0]["message"]["content"], "Hello again!");
    assert_eq!(
        whole["choices"][0]["message"]["reasoning_content"],
        "\n[planning_step] 1. greet again"
    );
    assert_eq!(whole["choices"][0]["finish_reason"], "stop");
    assert_eq!(whole["usage"]["total_tokens"], 15);
}

#[tokio::test]
async fn reasoning_mode_header_and_setting_choose_the_channel() {
    let up = FakeUpstream::start(script(vec![
        text_reply("plan", 1, 1),
        text_reply("answer", 1, 1),
        text_reply("plan", 1, 1),
        text_reply("answer", 1, 1),
    ]))
    .await;
    let root = project("modes", PLANNER);
    let proxy = start_proxy(&agent_settings(
        &up.openai_base(),
        &root,
        "reasoning:\n  mode: reasoning\n",
    ))
    .await;
    let body = json!({"model": "planner", "messages": user("hi"), "stream": true});
    let sse = read_sse(chat(&proxy, body.clone(), &[]).await).await;
    let openrouter: String = sse
        .json()
        .iter()
        .filter_map(|c| {
            c["choices"][0]["delta"]["reasoning"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    assert_eq!(openrouter, "\n[planning_step] plan");
    assert_eq!(sse.reasoning(), "");

    let sse =
        read_sse(chat(&proxy, body.clone(), &[("X-Reasoning-Mode", "think_tags")]).await).await;
    assert_eq!(
        sse.content(),
        "<think>\n\n[planning_step] plan</think>\nanswer"
    );

    let refused = chat(&proxy, body, &[("X-Reasoning-Mode", "loud")]).await;
    assert_eq!(refused.status(), 400);
    let error: Value = refused.json().await.expect("json");
    assert_eq!(error["error"]["param"], "X-Reasoning-Mode");
}

const ROUTER: &[(&str, &str)] = &[
    (
        "agents/router.yaml",
        "name: router\ndescription: Front desk.\ninstruction: You are the front desk.\nsub_agents:\n  - name: code_expert\n  - name: writing_expert\n",
    ),
    (
        "agents/code_expert.yaml",
        "name: code_expert\ndescription: Programming.\ninstruction: You are an engineer.\n",
    ),
    (
        "agents/writing_expert.yaml",
        "name: writing_expert\ndescription: Prose.\ninstruction: You are an editor.\n",
    ),
];

#[tokio::test]
async fn router_transfers_and_the_specialist_keeps_the_chat_including_client_tools() {
    let up = FakeUpstream::start(script(vec![
        tool_call_reply(
            &[(
                "t1",
                "transfer_to_agent",
                json!({"agent_name": "code_expert"}),
            )],
            3,
            1,
        ),
        tool_call_reply(&[("c1", "run_code", json!({"code": "1+1"}))], 4, 1),
        text_reply("It prints 2.", 6, 3),
    ]))
    .await;
    let root = project("router", ROUTER);
    let proxy = start_proxy(&agent_settings(&up.openai_base(), &root, "")).await;
    let client_tools = json!([{"type": "function", "function": {"name": "run_code",
        "description": "Runs code on the user's machine", "parameters": {"type": "object",
        "properties": {"code": {"type": "string"}}}}}]);

    let first = chat(
        &proxy,
        json!({"model": "router", "messages": user("What does 1+1 print?"), "stream": true,
               "tools": client_tools}),
        &[],
    )
    .await;
    let session = first.headers()["x-session-id"].clone();
    let sse = read_sse(first).await;
    assert!(
        sse.reasoning().contains("→ transferring to code_expert"),
        "{}",
        sse.reasoning()
    );
    let calls: Vec<Value> = sse
        .json()
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"].as_array().cloned())
        .flatten()
        .collect();
    assert_eq!(
        calls.len(),
        1,
        "only the client's tool reaches the client: {calls:?}"
    );
    assert_eq!(calls[0]["function"]["name"], "run_code");
    assert_eq!(calls[0]["id"], "c1");
    assert_eq!(finish_reason(&sse).as_deref(), Some("tool_calls"));

    let requests = up.requests();
    assert!(requests[0].system().starts_with("You are the front desk."));
    assert!(
        requests[0]
            .system()
            .contains("- `code_expert`: Programming.")
    );
    assert_eq!(requests[0].tool_names(), ["transfer_to_agent", "run_code"]);
    let targets =
        &requests[0].body["tools"][0]["function"]["parameters"]["properties"]["agent_name"]["enum"];
    assert_eq!(targets, &json!(["code_expert", "writing_expert"]));
    assert!(requests[1].system().starts_with("You are an engineer."));
    let expert_targets =
        &requests[1].body["tools"][0]["function"]["parameters"]["properties"]["agent_name"]["enum"];
    assert_eq!(
        expert_targets,
        &json!(["router", "writing_expert"]),
        "parent and peer"
    );
    assert!(
        requests[1]
            .messages_text()
            .contains("[router] called tool `transfer_to_agent`"),
        "the router's turn is context for the specialist"
    );

    // The client runs its tool and sends the result: the same agent continues.
    let second = chat(
        &proxy,
        json!({"model": "router", "stream": true, "tools": client_tools, "messages": [
            {"role": "user", "content": "What does 1+1 print?"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
                "function": {"name": "run_code", "arguments": "{\"code\":\"1+1\"}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "2"}
        ]}),
        &[],
    )
    .await;
    assert_eq!(
        second.headers()["x-session-id"],
        session,
        "same chat, same session"
    );
    let sse = read_sse(second).await;
    assert_eq!(sse.content(), "It prints 2.");
    let requests = up.requests();
    assert_eq!(requests.len(), 3);
    assert!(
        requests[2].system().starts_with("You are an engineer."),
        "{}",
        requests[2].system()
    );
    let messages = requests[2].body["messages"].as_array().expect("messages");
    assert_eq!(messages.last().expect("last")["role"], "tool");
}

#[tokio::test]
async fn critic_loop_ends_on_exit_loop_and_answers_with_the_last_draft() {
    let up = FakeUpstream::start(script(vec![
        text_reply("draft one", 1, 1),
        text_reply("too short", 1, 1),
        text_reply("draft two, longer", 1, 1),
        tool_call_reply(&[("x1", "exit_loop", json!({}))], 1, 1),
    ]))
    .await;
    let root = project(
        "loop",
        &[
            (
                "agents/critic_loop.yaml",
                "name: critic_loop\nagent_class: LoopAgent\nmax_iterations: 3\nsub_agents:\n  - name: drafter\n  - name: critic\n",
            ),
            (
                "agents/drafter.yaml",
                "name: drafter\ninstruction: \"Write. Critique: {critique?}\"\noutput_key: draft\n",
            ),
            (
                "agents/critic.yaml",
                "name: critic\ninstruction: \"Review: {draft}\"\noutput_key: critique\ntools:\n  - name: exit_loop\n",
            ),
        ],
    );
    let proxy = start_proxy(&agent_settings(&up.openai_base(), &root, "")).await;
    let sse = read_sse(
        chat(
            &proxy,
            json!({"model": "critic_loop", "messages": user("poem"), "stream": true}),
            &[],
        )
        .await,
    )
    .await;
    assert_eq!(sse.content(), "draft two, longer");
    let reasoning = sse.reasoning();
    for part in [
        "[drafter] draft one",
        "[critic] too short",
        "[drafter] draft two",
        "exit_loop",
    ] {
        assert!(reasoning.contains(part), "{part} missing from {reasoning}");
    }
    let requests = up.requests();
    assert_eq!(
        requests.len(),
        4,
        "the critic is not called again after exit_loop"
    );
    assert_eq!(requests[0].system(), "Write. Critique: ");
    assert_eq!(requests[1].system(), "Review: draft one");
    assert_eq!(requests[2].system(), "Write. Critique: too short");
    assert_eq!(requests[3].system(), "Review: draft two, longer");
    assert_eq!(requests[3].tool_names(), ["exit_loop"]);
}

#[tokio::test]
async fn loop_without_exit_stops_at_max_iterations() {
    let up = FakeUpstream::start(script(vec![
        text_reply("v1", 1, 1),
        text_reply("fix it", 1, 1),
        text_reply("v2", 1, 1),
        text_reply("still bad", 1, 1),
    ]))
    .await;
    let root = project(
        "loop-max",
        &[
            (
                "agents/l.yaml",
                "name: l\nagent_class: LoopAgent\nmax_iterations: 2\nsub_agents:\n  - name: w\n  - name: c\n",
            ),
            ("agents/w.yaml", "name: w\ninstruction: write\n"),
            ("agents/c.yaml", "name: c\ninstruction: critique\n"),
        ],
    );
    let proxy = start_proxy(&agent_settings(&up.openai_base(), &root, "")).await;
    let sse = read_sse(
        chat(
            &proxy,
            json!({"model": "l", "messages": user("x"), "stream": true}),
            &[],
        )
        .await,
    )
    .await;
    assert_eq!(sse.content(), "v2");
    assert_eq!(up.requests().len(), 4);
}

#[tokio::test]
async fn parallel_branches_are_isolated_and_a_merger_sees_both() {
    // Branch `slow` is a two-step sequence whose first answer is delayed: by the time its second
    // step asks the model, branch `fast` has finished, so isolation is really tested.
    let up = FakeUpstream::start(|req: &Recorded| {
        let system = req.system();
        let reply = |t: &str| text_reply(t, 1, 1);
        if system == "slow one" {
            let Reply::Sse(mut steps) = reply("S1") else {
                unreachable!()
            };
            steps.insert(0, Step::Sleep(Duration::from_millis(300)));
            Reply::Sse(steps)
        } else if system == "slow two" {
            reply("S2")
        } else if system == "fast" {
            reply("F")
        } else {
            reply("merged")
        }
    })
    .await;
    let root = project(
        "parallel",
        &[
            (
                "agents/research.yaml",
                "name: research\nagent_class: SequentialAgent\nsub_agents:\n  - name: fanout\n  - name: merger\n",
            ),
            (
                "agents/fanout.yaml",
                "name: fanout\nagent_class: ParallelAgent\nsub_agents:\n  - name: slow\n  - name: fast\n",
            ),
            (
                "agents/slow.yaml",
                "name: slow\nagent_class: SequentialAgent\nsub_agents:\n  - name: slow_one\n  - name: slow_two\n",
            ),
            (
                "agents/slow_one.yaml",
                "name: slow_one\ninstruction: slow one\n",
            ),
            (
                "agents/slow_two.yaml",
                "name: slow_two\ninstruction: slow two\n",
            ),
            ("agents/fast.yaml", "name: fast\ninstruction: fast\n"),
            ("agents/merger.yaml", "name: merger\ninstruction: merge\n"),
        ],
    );
    let proxy = start_proxy(&agent_settings(&up.openai_base(), &root, "")).await;
    let sse = read_sse(
        chat(
            &proxy,
            json!({"model": "research", "messages": user("x"), "stream": true}),
            &[],
        )
        .await,
    )
    .await;
    assert_eq!(sse.content(), "merged");
    let reasoning = sse.reasoning();
    assert!(
        reasoning.find("[fast] F") < reasoning.find("[slow_one] S1"),
        "events stream as produced: {reasoning}"
    );
    let requests = up.requests();
    let slow_two = requests
        .iter()
        .find(|r| r.system() == "slow two")
        .expect("slow two");
    assert!(slow_two.messages_text().contains("[slow_one] said: S1"));
    assert!(
        !slow_two.messages_text().contains("[fast]"),
        "a branch never sees another branch"
    );
    let merger = requests
        .iter()
        .find(|r| r.system() == "merge")
        .expect("merger");
    for part in [
        "[fast] said: F",
        "[slow_one] said: S1",
        "[slow_two] said: S2",
    ] {
        assert!(merger.messages_text().contains(part), "{part}");
    }
}

#[tokio::test]
async fn agent_tool_runs_another_agent_and_returns_its_text() {
    let up = FakeUpstream::start(script(vec![
        tool_call_reply(
            &[(
                "a1",
                "fact_checker",
                json!({"request": "Paris is in Spain."}),
            )],
            2,
            1,
        ),
        text_reply("Wrong: Paris is in France.", 3, 2),
        text_reply("Paris is in France.", 4, 3),
    ]))
    .await;
    let root = project(
        "agent-tool",
        &[
            (
                "agents/editor.yaml",
                "name: editor\ninstruction: Edit.\ntools:\n  - name: AgentTool\n    args: { agent: fact_checker }\n",
            ),
            (
                "agents/fact_checker.yaml",
                "name: fact_checker\ndescription: Checks facts.\ninstruction: Check facts.\noutput_key: verdict\n",
            ),
        ],
    );
    let proxy = start_proxy(&agent_settings(&up.openai_base(), &root, "")).await;
    let sse = read_sse(
        chat(
            &proxy,
            json!({"model": "editor", "messages": user("Paris is in Spain."), "stream": true,
                   "stream_options": {"include_usage": true}}),
            &[],
        )
        .await,
    )
    .await;
    assert_eq!(sse.content(), "Paris is in France.");
    assert!(
        sse.reasoning()
            .contains("[fact_checker] Wrong: Paris is in France."),
        "{}",
        sse.reasoning()
    );
    assert_eq!(
        usage(&sse)["total_tokens"],
        15,
        "the inner agent's calls count too"
    );
    let requests = up.requests();
    assert_eq!(requests[0].tool_names(), ["fact_checker"]);
    assert_eq!(
        requests[0].body["tools"][0]["function"]["description"],
        "Checks facts."
    );
    assert_eq!(
        requests[1].body["messages"],
        json!([{"role": "system", "content": "Check facts."},
               {"role": "user", "content": "Paris is in Spain."}]),
        "the checker sees only its request"
    );
    let last = requests[2].body["messages"]
        .as_array()
        .expect("messages")
        .last()
        .cloned()
        .expect("last");
    assert_eq!(last["role"], "tool");
    assert_eq!(
        last["content"],
        "{\"result\":\"Wrong: Paris is in France.\"}"
    );
}

#[tokio::test]
async fn limits_end_the_run_with_a_clear_message() {
    let looping = || tool_call_reply(&[("c", "current_time", json!({}))], 1, 1);
    let up = FakeUpstream::start(script((0..10).map(|_| looping()).collect())).await;
    let root = project("limits", &[ASSISTANT, ASSISTANT_PROMPT]);
    let proxy = start_proxy(&agent_settings(
        &up.openai_base(),
        &root,
        "runtime:\n  max_llm_calls: 3\n",
    ))
    .await;
    let sse = read_sse(
        chat(
            &proxy,
            json!({"model": "assistant", "messages": user("x"), "stream": true}),
            &[],
        )
        .await,
    )
    .await;
    assert!(sse.ends_with_done());
    assert!(
        sse.content()
            .contains("limit of 3 model calls (runtime.max_llm_calls)"),
        "{}",
        sse.content()
    );
    assert_eq!(finish_reason(&sse).as_deref(), Some("length"));
    assert_eq!(up.requests().len(), 3);

    let up = FakeUpstream::start(script((0..10).map(|_| looping()).collect())).await;
    let proxy = start_proxy(&agent_settings(
        &up.openai_base(),
        &root,
        "runtime:\n  max_tool_rounds: 2\n",
    ))
    .await;
    let whole: Value = chat(
        &proxy,
        json!({"model": "assistant", "messages": user("x")}),
        &[],
    )
    .await
    .json()
    .await
    .expect("json");
    assert!(
        whole["choices"][0]["message"]["content"]
            .as_str()
            .is_some_and(|c| c.contains("limit of 2 tool-call rounds")),
        "{whole}"
    );
    assert_eq!(whole["choices"][0]["finish_reason"], "length");
    assert_eq!(up.requests().len(), 3);
}

#[tokio::test]
async fn upstream_and_agent_errors_keep_their_status() {
    let up = FakeUpstream::start(|_| {
        Reply::error(401, json!({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error", "code": "invalid_api_key"}}))
    })
    .await;
    let root = project(
        "errors",
        &[
            ASSISTANT,
            ASSISTANT_PROMPT,
            (
                "agents/needs_state.yaml",
                "name: needs_state\ninstruction: \"Hello {user:name}\"\n",
            ),
        ],
    );
    let proxy = start_proxy(&agent_settings(&up.openai_base(), &root, "")).await;
    let response = chat(
        &proxy,
        json!({"model": "assistant", "messages": user("x"), "stream": true}),
        &[],
    )
    .await;
    assert_eq!(response.status(), 401);
    let error: Value = response.json().await.expect("json");
    assert_eq!(error["error"]["code"], "invalid_api_key");

    let response = chat(
        &proxy,
        json!({"model": "needs_state", "messages": user("x")}),
        &[],
    )
    .await;
    assert_eq!(response.status(), 500);
    let error: Value = response.json().await.expect("json");
    assert_eq!(error["error"]["type"], "agent_error");
    assert!(
        error["error"]["message"]
            .as_str()
            .expect("message")
            .contains("'user:name'")
    );

    let response = chat(
        &proxy,
        json!({"model": "assistant", "messages": user("x"), "n": 2}),
        &[],
    )
    .await;
    assert_eq!(response.status(), 400);
    let response = chat(
        &proxy,
        json!({"model": "assistant", "messages": user("x")}),
        &[("X-Session-Id", "no spaces allowed")],
    )
    .await;
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn models_list_agents_and_default_agent_serves_other_models() {
    let up = FakeUpstream::start(|req: &Recorded| match req.path.as_str() {
        "/v1/models" => Reply::json(json!({"object": "list", "data": [
            {"id": "up-model", "object": "model", "created": 1, "owned_by": "up"}]})),
        _ => text_reply("hi from the assistant", 1, 1),
    })
    .await;
    let root = project("models", PLANNER);
    let mut files = root.clone();
    files.push("agents/assistant.yaml");
    std::fs::write(&files, ASSISTANT.1).expect("write");
    std::fs::write(root.join(ASSISTANT_PROMPT.0), ASSISTANT_PROMPT.1).expect("write");
    let proxy = start_proxy(
        &agent_settings(&up.openai_base(), &root, "")
            .replace("agents:\n", "agents:\n  default_agent: assistant\n"),
    )
    .await;
    let list = get_json(&proxy.url("/v1/models"), None).await;
    let agents: Vec<&str> = list["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter(|m| m["owned_by"] == "adk-llm-proxy")
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert_eq!(agents, ["assistant", "planner"], "top-level agents only");
    assert!(
        list["data"]
            .as_array()
            .expect("data")
            .iter()
            .any(|m| m["id"] == "up-model")
    );
    let planner = get_json(&proxy.url("/v1/models/planner"), None).await;
    assert_eq!(planner["owned_by"], "adk-llm-proxy");

    let response = chat(
        &proxy,
        json!({"model": "up-model", "messages": user("x"), "stream": true}),
        &[],
    )
    .await;
    assert_eq!(response.headers()["x-adk-agent"], "assistant");
    let sse = read_sse(response).await;
    assert_eq!(sse.content(), "hi from the assistant");
    assert_eq!(
        sse.json()[0]["model"],
        "up-model",
        "the client's model name comes back"
    );
    let last = up.last_request();
    assert_eq!(
        last.body["model"], "up-model",
        "the agent uses the requested model"
    );
    assert_eq!(last.system(), "Use current_time for dates.");
}

#[tokio::test]
async fn session_state_carries_across_turns_and_a_restart_with_sqlite() {
    let up = FakeUpstream::start(script(vec![
        text_reply("first answer", 1, 1),
        text_reply("second answer", 1, 1),
        text_reply("third answer", 1, 1),
    ]))
    .await;
    let root = project(
        "sqlite",
        &[(
            "agents/memo.yaml",
            "name: memo\ninstruction: \"Last time: {summary?}. Visits: {user:visits?}\"\noutput_key: summary\n",
        )],
    );
    let db = root.join("state/sessions.db");
    let settings = agent_settings(
        &up.openai_base(),
        &root,
        &format!(
            "sessions:\n  store: sqlite\n  sqlite_path: \"{}\"\n",
            db.display()
        ),
    );
    let headers = [("X-Session-Id", "chat-42")];
    let body = json!({"model": "memo", "messages": user("x"), "stream": true});
    let proxy = start_proxy(&settings).await;
    let first = chat(&proxy, body.clone(), &headers).await;
    assert_eq!(first.headers()["x-session-id"], "chat-42");
    read_sse(first).await;
    read_sse(chat(&proxy, body.clone(), &headers).await).await;
    assert_eq!(
        up.requests()[1].system(),
        "Last time: first answer. Visits: "
    );
    drop(proxy);

    // A new server over the same file: the session's state is still there.
    let restarted = start_proxy(&settings).await;
    read_sse(chat(&restarted, body, &headers).await).await;
    assert_eq!(
        up.requests()[2].system(),
        "Last time: second answer. Visits: "
    );
    assert!(db.exists());
}

/// A guard written as Rust callbacks: refuses one topic before any model call, marks every
/// request it lets through, and hides tool results from the model.
struct Guard;

impl adk_llm_proxy::agent::Callbacks for Guard {
    fn before_model<'a>(
        &'a self,
        _ctx: &'a mut adk_llm_proxy::agent::CallbackContext,
        request: &'a mut adk_llm_proxy::wire::ChatRequest,
    ) -> adk_llm_proxy::agent::callbacks::CallbackFuture<'a, Option<adk_llm_proxy::event::Content>>
    {
        Box::pin(async move {
            let asks_for_password = request
                .messages
                .iter()
                .any(|m| m.text().is_some_and(|t| t.contains("password")));
            if asks_for_password {
                return Some(adk_llm_proxy::event::Content::text(
                    "model",
                    "I can't help with passwords.",
                ));
            }
            request.extra.insert("user".into(), json!("guarded"));
            None
        })
    }

    fn after_tool<'a>(
        &'a self,
        _ctx: &'a mut adk_llm_proxy::agent::CallbackContext,
        _tool: &'a str,
        _args: &'a Value,
        _result: &'a Value,
    ) -> adk_llm_proxy::agent::callbacks::CallbackFuture<'a, Option<Value>> {
        Box::pin(async move { Some(json!({"hidden": true})) })
    }
}

#[tokio::test]
async fn callbacks_short_circuit_the_model_and_replace_tool_results() {
    let up = FakeUpstream::start(script(vec![
        tool_call_reply(&[("c", "current_time", json!({}))], 1, 1),
        text_reply("done", 1, 1),
    ]))
    .await;
    let root = project("callbacks", &[ASSISTANT, ASSISTANT_PROMPT]);
    let state = build_state(
        &agent_settings(&up.openai_base(), &root, ""),
        &[("UP_KEY", "k")],
    )
    .await;
    let agents = adk_llm_proxy::agent::AgentSet::load(&state.config, &state.registry)
        .expect("agents")
        .with_callbacks(vec![std::sync::Arc::new(Guard)]);
    state.replace_agents(agents);
    let proxy = serve_state(state).await;

    // The transparent default agent runs through the runtime once callbacks are registered.
    let sse = read_sse(
        chat(
            &proxy,
            json!({"messages": user("my password is?"), "stream": true}),
            &[],
        )
        .await,
    )
    .await;
    assert_eq!(sse.content(), "I can't help with passwords.");
    assert!(up.requests().is_empty(), "the model was never called");

    let sse = read_sse(
        chat(
            &proxy,
            json!({"model": "assistant", "messages": user("time?"), "stream": true}),
            &[],
        )
        .await,
    )
    .await;
    assert_eq!(sse.content(), "done");
    let requests = up.requests();
    assert_eq!(requests[0].body["user"], "guarded");
    let tool_message = requests[1].body["messages"]
        .as_array()
        .expect("messages")
        .last()
        .cloned()
        .expect("last");
    assert_eq!(tool_message["content"], "{\"hidden\":true}");
}

#[tokio::test]
async fn agents_work_over_ollama_too() {
    let up = FakeUpstream::start(script(vec![
        Reply::Ndjson(vec![
            Step::Data(ollama_line(
                json!({"role": "assistant", "content": "", "tool_calls": [
                {"function": {"name": "current_time", "arguments": {"timezone": "UTC"}}}]}),
            )),
            Step::Data(ollama_done("stop", 3, 1)),
        ]),
        Reply::Ndjson(vec![
            Step::Data(ollama_line(
                json!({"role": "assistant", "content": "Sunday"}),
            )),
            Step::Data(ollama_done("stop", 5, 1)),
        ]),
    ]))
    .await;
    let root = project("ollama-agent", &[ASSISTANT, ASSISTANT_PROMPT]);
    let settings = format!(
        "{}agents:\n  dir: \"{}\"\n  prompts_dir: \"{}\"\n",
        settings_yaml("ollama", &up.ollama_base(), ""),
        root.join("agents").display(),
        root.join("prompts").display()
    );
    let proxy = start_proxy(&settings).await;
    let sse = read_sse(
        chat(
            &proxy,
            json!({"model": "assistant", "messages": user("day?"), "stream": true}),
            &[],
        )
        .await,
    )
    .await;
    assert_eq!(sse.content(), "Sunday");
    assert!(sse.reasoning().contains("current_time"));
    let requests = up.requests();
    assert_eq!(requests[0].path, "/api/chat");
    assert_eq!(
        requests[0].body["tools"][0]["function"]["name"],
        "current_time"
    );
    let messages = requests[1].body["messages"].as_array().expect("messages");
    assert_eq!(messages.last().expect("last")["role"], "tool");
}

#[tokio::test]
async fn disallowed_transfer_back_sends_the_next_turn_to_the_root() {
    let up = FakeUpstream::start(script(vec![
        tool_call_reply(
            &[("t1", "transfer_to_agent", json!({"agent_name": "solo"}))],
            1,
            1,
        ),
        text_reply("solo answers", 1, 1),
        text_reply("root again", 1, 1),
    ]))
    .await;
    let root = project(
        "disallow",
        &[
            (
                "agents/desk.yaml",
                "name: desk\ninstruction: desk\nsub_agents:\n  - name: solo\n  - name: other\n",
            ),
            (
                "agents/solo.yaml",
                "name: solo\ndescription: Solo.\ninstruction: solo\ndisallow_transfer_to_parent: true\ndisallow_transfer_to_peers: true\n",
            ),
            ("agents/other.yaml", "name: other\ninstruction: other\n"),
        ],
    );
    let proxy = start_proxy(&agent_settings(&up.openai_base(), &root, "")).await;
    let headers = [("X-Session-Id", "s-1")];
    let body = json!({"model": "desk", "messages": user("x"), "stream": true});
    assert_eq!(
        read_sse(chat(&proxy, body.clone(), &headers).await)
            .await
            .content(),
        "solo answers"
    );
    assert_eq!(
        read_sse(chat(&proxy, body, &headers).await).await.content(),
        "root again"
    );
    let requests = up.requests();
    assert_eq!(
        requests[1].system(),
        "solo",
        "no transfer targets, no transfer prompt"
    );
    assert!(requests[1].tool_names().is_empty());
    assert_eq!(
        requests[2].system().lines().next(),
        Some("desk"),
        "the root answers the next turn"
    );
}

#[tokio::test]
async fn stream_overrides_include_contents_and_a_parallel_answer() {
    let up = FakeUpstream::start(|req: &Recorded| {
        let reply = match req.system().as_str() {
            "loud" => "shown as content",
            "quiet" => "never shown",
            "north" => "N",
            "south" => "S",
            _ => "?",
        };
        text_reply(reply, 1, 1)
    })
    .await;
    let root = project(
        "overrides",
        &[
            (
                "agents/steps.yaml",
                "name: steps\nagent_class: SequentialAgent\nsub_agents:\n  - name: loud\n  - name: quiet\n",
            ),
            (
                "agents/loud.yaml",
                "name: loud\ninstruction: loud\nstream: content\ninclude_contents: none\n",
            ),
            (
                "agents/quiet.yaml",
                "name: quiet\ninstruction: quiet\nstream: hidden\n",
            ),
            (
                "agents/both.yaml",
                "name: both\nagent_class: ParallelAgent\nsub_agents:\n  - name: north\n  - name: south\n",
            ),
            ("agents/north.yaml", "name: north\ninstruction: north\n"),
            ("agents/south.yaml", "name: south\ninstruction: south\n"),
        ],
    );
    let proxy = start_proxy(&agent_settings(&up.openai_base(), &root, "")).await;
    let history = json!([
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": "second question"}
    ]);
    let sse = read_sse(
        chat(
            &proxy,
            json!({"model": "steps", "messages": history, "stream": true}),
            &[],
        )
        .await,
    )
    .await;
    assert_eq!(sse.content(), "shown as content");
    assert!(!sse.raw.contains("never shown"));
    let loud = up
        .requests()
        .into_iter()
        .find(|r| r.system() == "loud")
        .expect("loud");
    assert_eq!(
        loud.body["messages"],
        json!([{"role": "system", "content": "loud"}, {"role": "user", "content": "second question"}]),
        "include_contents: none sends only the current turn"
    );

    let sse = read_sse(
        chat(
            &proxy,
            json!({"model": "both", "messages": user("x"), "stream": true}),
            &[],
        )
        .await,
    )
    .await;
    assert_eq!(sse.content(), "**north**\n\nN\n\n**south**\n\nS");
    assert!(sse.reasoning().contains("[north] N") && sse.reasoning().contains("[south] S"));
}
