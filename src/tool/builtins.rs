//! Built-in tools: `current_time`, `exit_loop`, `transfer_to_agent`.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Tool, ToolContext, ToolFuture, ToolRegistry};

pub fn register(registry: &mut ToolRegistry) {
    registry.register(
        "current_time",
        Arc::new(|args: &Value| {
            let default_timezone = match args.get("timezone") {
                None | Some(Value::Null) => None,
                Some(Value::String(tz)) => {
                    jiff::tz::TimeZone::get(tz).map_err(|e| format!("args.timezone: {e}"))?;
                    Some(tz.clone())
                }
                Some(_) => {
                    return Err(
                        "args.timezone: expected a string such as \"Europe/Berlin\"".to_string()
                    );
                }
            };
            Ok(Arc::new(CurrentTime { default_timezone }) as Arc<dyn Tool>)
        }),
    );
    registry.register(
        "exit_loop",
        Arc::new(|_: &Value| Ok(Arc::new(ExitLoop) as Arc<dyn Tool>)),
    );
}

/// The JSON schema of a tool's arguments type, generated once per type: every model call offers
/// its tools again, and generating a schema (schemars walking the type, then a `Value` built
/// from it) cost more than the rest of the call's request building.
pub(crate) fn schema_of<T: JsonSchema + 'static>() -> Value {
    static SCHEMAS: std::sync::OnceLock<
        std::sync::Mutex<std::collections::HashMap<std::any::TypeId, Value>>,
    > = std::sync::OnceLock::new();
    let schemas = SCHEMAS.get_or_init(Default::default);
    let mut schemas = schemas.lock().unwrap_or_else(|p| p.into_inner());
    schemas
        .entry(std::any::TypeId::of::<T>())
        .or_insert_with(|| {
            serde_json::to_value(schemars::schema_for!(T))
                .unwrap_or_else(|_| json!({"type": "object"}))
        })
        .clone()
}

/// Tells the model the date and time, in a time zone it names or the configured one.
pub struct CurrentTime {
    default_timezone: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
struct CurrentTimeArgs {
    /// IANA time zone, e.g. "Europe/Berlin" or "UTC". Defaults to the proxy's configured zone.
    timezone: Option<String>,
}

impl Tool for CurrentTime {
    fn name(&self) -> &str {
        "current_time"
    }
    fn description(&self) -> &str {
        "Returns the current date, time, weekday and UTC offset, optionally in a given IANA time zone."
    }
    fn parameters(&self) -> Value {
        schema_of::<CurrentTimeArgs>()
    }
    fn run<'a>(&'a self, args: Value, _ctx: &'a mut ToolContext<'_>) -> ToolFuture<'a> {
        Box::pin(async move {
            let args: CurrentTimeArgs =
                serde_json::from_value(args).map_err(|e| format!("invalid arguments: {e}"))?;
            let zone_name = args.timezone.or_else(|| self.default_timezone.clone());
            let zone = match &zone_name {
                Some(name) => jiff::tz::TimeZone::get(name)
                    .map_err(|e| format!("unknown time zone '{name}': {e}"))?,
                None => jiff::tz::TimeZone::system(),
            };
            let now = jiff::Timestamp::now().to_zoned_datetime(zone);
            Ok(json!({
                "datetime": now.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string(),
                "date": now.strftime("%Y-%m-%d").to_string(),
                "time": now.strftime("%H:%M:%S").to_string(),
                "weekday": now.strftime("%A").to_string(),
                "timezone": zone_name.unwrap_or_else(|| now.time_zone().iana_name().unwrap_or("local").to_string()),
            }))
        })
    }
}

/// Ends the enclosing `LoopAgent` (ADK: sets `escalate` and `skip_summarization`).
pub struct ExitLoop;

#[derive(Deserialize, JsonSchema)]
struct NoArgs {}

impl Tool for ExitLoop {
    fn name(&self) -> &str {
        "exit_loop"
    }
    fn description(&self) -> &str {
        "Call this when the work is complete to stop the loop you are running in."
    }
    fn parameters(&self) -> Value {
        schema_of::<NoArgs>()
    }
    fn run<'a>(&'a self, _args: Value, ctx: &'a mut ToolContext<'_>) -> ToolFuture<'a> {
        ctx.actions.escalate = true;
        ctx.actions.skip_summarization = true;
        Box::pin(std::future::ready(Ok(json!({}))))
    }
}

/// Hands the conversation to another agent. Offered automatically to an agent that has targets;
/// `targets` are the names it may transfer to (listed, with descriptions, in its prompt).
pub struct TransferToAgent {
    pub targets: Vec<(String, String)>,
}

#[derive(Deserialize, JsonSchema)]
struct TransferArgs {
    /// Name of the agent to hand the conversation to.
    agent_name: String,
}

impl Tool for TransferToAgent {
    fn name(&self) -> &str {
        "transfer_to_agent"
    }
    fn description(&self) -> &str {
        "Transfer the conversation to another agent that is better suited to answer it."
    }
    fn parameters(&self) -> Value {
        let mut schema = schema_of::<TransferArgs>();
        let names: Vec<&str> = self.targets.iter().map(|(n, _)| n.as_str()).collect();
        schema["properties"]["agent_name"]["enum"] = json!(names);
        schema
    }
    fn run<'a>(&'a self, args: Value, ctx: &'a mut ToolContext<'_>) -> ToolFuture<'a> {
        Box::pin(async move {
            let args: TransferArgs =
                serde_json::from_value(args).map_err(|e| format!("invalid arguments: {e}"))?;
            if !self.targets.iter().any(|(n, _)| n == &args.agent_name) {
                let known: Vec<&str> = self.targets.iter().map(|(n, _)| n.as_str()).collect();
                return Err(format!(
                    "unknown agent '{}'; choose one of: {}",
                    args.agent_name,
                    known.join(", ")
                ));
            }
            ctx.actions.transfer_to_agent = Some(args.agent_name.clone());
            Ok(json!({"transferred_to": args.agent_name}))
        })
    }
}
