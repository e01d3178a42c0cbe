//! Tools: the registry, the built-ins, and the result rules.

use std::time::Duration;

use adk_llm_proxy::event::EventActions;
use adk_llm_proxy::tool::builtins::TransferToAgent;
use adk_llm_proxy::tool::{Tool, ToolContext, ToolFuture, ToolRegistry, run_tool};
use serde_json::{Map, Value, json};

async fn call(tool: &dyn Tool, args: Value) -> (Value, EventActions) {
    call_within(tool, args, Duration::from_secs(2)).await
}

async fn call_within(tool: &dyn Tool, args: Value, timeout: Duration) -> (Value, EventActions) {
    let state = Map::new();
    let mut actions = EventActions::default();
    let mut ctx = ToolContext {
        state: &state,
        actions: &mut actions,
        agent_name: "a",
        function_call_id: "call_1",
    };
    let result = run_tool(tool, args, &mut ctx, timeout).await;
    (result, actions)
}

#[tokio::test]
async fn current_time_in_named_zones() {
    let registry = ToolRegistry::with_builtins();
    let tool = registry
        .build("current_time", &json!({"timezone": "UTC"}))
        .expect("builds");
    let declaration = tool.declaration();
    assert_eq!(declaration["function"]["name"], "current_time");
    assert!(
        declaration["function"]["parameters"]["properties"]["timezone"].is_object(),
        "{declaration}"
    );

    let (utc, _) = call(tool.as_ref(), json!({})).await;
    assert!(
        utc["datetime"]
            .as_str()
            .is_some_and(|d| d.ends_with("+00:00")),
        "{utc}"
    );
    let (tokyo, _) = call(tool.as_ref(), json!({"timezone": "Asia/Tokyo"})).await;
    assert!(
        tokyo["datetime"]
            .as_str()
            .is_some_and(|d| d.ends_with("+09:00")),
        "{tokyo}"
    );
    assert_eq!(tokyo["timezone"], "Asia/Tokyo");
    let (bad, _) = call(tool.as_ref(), json!({"timezone": "Mars/Olympus"})).await;
    assert!(
        bad["error"]
            .as_str()
            .is_some_and(|e| e.contains("Mars/Olympus")),
        "a failing tool answers {{error}}: {bad}"
    );
}

#[test]
fn registry_errors_name_the_problem() {
    let registry = ToolRegistry::with_builtins();
    let unknown = registry
        .build("teleport", &json!({}))
        .err()
        .expect("unknown tool");
    assert!(
        unknown.contains("teleport") && unknown.contains("current_time"),
        "{unknown}"
    );
    let bad_zone = registry
        .build("current_time", &json!({"timezone": "Nowhere/Land"}))
        .err()
        .expect("bad zone");
    assert!(bad_zone.contains("args.timezone"), "{bad_zone}");
}

#[tokio::test]
async fn exit_loop_and_transfer_set_actions() {
    let registry = ToolRegistry::with_builtins();
    let exit = registry.build("exit_loop", &Value::Null).expect("builds");
    let (result, actions) = call(exit.as_ref(), json!({})).await;
    assert_eq!(result, json!({}));
    assert!(actions.escalate && actions.skip_summarization);

    let transfer = TransferToAgent {
        targets: vec![
            ("billing".into(), "Invoices".into()),
            ("tech".into(), "Bugs".into()),
        ],
    };
    assert_eq!(
        transfer.parameters()["properties"]["agent_name"]["enum"],
        json!(["billing", "tech"])
    );
    let (result, actions) = call(&transfer, json!({"agent_name": "tech"})).await;
    assert_eq!(result["transferred_to"], "tech");
    assert_eq!(actions.transfer_to_agent.as_deref(), Some("tech"));
    let (result, actions) = call(&transfer, json!({"agent_name": "nobody"})).await;
    assert!(
        result["error"]
            .as_str()
            .is_some_and(|e| e.contains("billing, tech")),
        "{result}"
    );
    assert!(actions.transfer_to_agent.is_none());
}

struct Scripted {
    delay: Duration,
    answer: Value,
}

impl Tool for Scripted {
    fn name(&self) -> &str {
        "scripted"
    }
    fn description(&self) -> &str {
        "test tool"
    }
    fn parameters(&self) -> Value {
        json!({"type": "object"})
    }
    fn run<'a>(&'a self, _args: Value, ctx: &'a mut ToolContext<'_>) -> ToolFuture<'a> {
        ctx.set_state("temp:seen", json!(true));
        Box::pin(async move {
            tokio::time::sleep(self.delay).await;
            Ok(self.answer.clone())
        })
    }
}

#[tokio::test]
async fn results_are_wrapped_and_slow_tools_time_out() {
    let (result, actions) = call(
        &Scripted {
            delay: Duration::ZERO,
            answer: json!("plain text"),
        },
        json!({}),
    )
    .await;
    assert_eq!(result, json!({"result": "plain text"}));
    assert_eq!(
        actions.state_delta.get("temp:seen"),
        Some(&json!(true)),
        "tools write state through the context"
    );
    let (result, _) = call(
        &Scripted {
            delay: Duration::ZERO,
            answer: json!({"ok": 1}),
        },
        json!({}),
    )
    .await;
    assert_eq!(result, json!({"ok": 1}));
    let slow = Scripted {
        delay: Duration::from_secs(5),
        answer: json!({}),
    };
    let (result, _) = call_within(&slow, json!({}), Duration::from_millis(100)).await;
    assert!(
        result["error"]
            .as_str()
            .is_some_and(|e| e.contains("timed out")),
        "{result}"
    );
}
