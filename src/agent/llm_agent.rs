//! `LlmAgent`: one model, its instruction and tools, in ADK's loop — call the model, run the
//! tools it asked for, call it again with the results — until it answers, hands over to another
//! agent (`transfer_to_agent`), asks the client to run one of the client's own tools, or
//! escalates.
//!
//! Each model call streams: every upstream chunk becomes a partial event the client sees at once;
//! the complete response follows as one event that goes into the session.

use std::collections::HashSet;
use std::sync::Arc;

use futures_util::StreamExt;
use serde_json::{Map, Value, json};

use super::config::{AgentClass, IncludeContents, StreamMode};
use super::context::InvocationContext;
use super::tool_round::{self, RoundOutput};
use super::{Agent, EventStream, RunError, history, instruction, run_agent};
use crate::assemble::Assembler;
use crate::event::{Content, Event, EventActions, Part};
use crate::llm::Route;
use crate::llm::call::{self, Answer};
use crate::runner::render::Channel;
use crate::tool::Tool;
use crate::wire::{ChatChunk, ChatCompletion, ChatRequest};

pub struct LlmAgent {
    pub name: String,
    pub description: String,
    /// `provider/model`, its own or inherited from an ancestor; `None` = the request's model,
    /// else the default.
    pub model: Option<String>,
    pub instruction: Option<String>,
    pub tools: Vec<Arc<dyn Tool>>,
    pub transfer: Option<Arc<dyn Tool>>,
    /// (name, description) of the agents `transfer_to_agent` may name.
    pub targets: Vec<(String, String)>,
    pub sub_agents: Vec<String>,
    pub output_key: Option<String>,
    pub include_contents: IncludeContents,
    pub generate_config: Map<String, Value>,
    pub disallow_transfer_to_parent: bool,
    pub stream: Option<StreamMode>,
}

impl LlmAgent {
    /// An agent that sets nothing: the client's request, unchanged, to the request's model.
    pub fn transparent(name: &str) -> Self {
        Self {
            name: name.to_string(),
            description: "Forwards the conversation to the requested model unchanged.".into(),
            model: None,
            instruction: None,
            tools: Vec::new(),
            transfer: None,
            targets: Vec::new(),
            sub_agents: Vec::new(),
            output_key: None,
            include_contents: IncludeContents::Default,
            generate_config: Map::new(),
            disallow_transfer_to_parent: false,
            stream: None,
        }
    }

    /// The tools offered for one model call: toolsets (MCP servers) expanded into their tools,
    /// then `transfer_to_agent`. An unreachable toolset is left out (and logged); its tools come
    /// back once it answers again.
    async fn step_tools(&self) -> Vec<Arc<dyn Tool>> {
        let mut tools = Vec::with_capacity(self.tools.len() + 1);
        for tool in &self.tools {
            match tool.clone().expand() {
                None => tools.push(tool.clone()),
                Some(expanding) => match expanding.await {
                    Ok(expanded) => tools.extend(expanded),
                    Err(error) => {
                        tracing::warn!(agent = %self.name, %error, "toolset unavailable for this step")
                    }
                },
            }
        }
        tools.extend(self.transfer.iter().cloned());
        tools
    }

    fn route(&self, ctx: &InvocationContext) -> Result<Route, RunError> {
        let model = self
            .model
            .as_deref()
            .or(ctx.invocation.input.model.as_deref());
        ctx.invocation
            .registry
            .resolve(model)
            .map_err(|e| RunError::Agent(format!("agent '{}': {}", self.name, e.error.message)))
    }

    /// The system text: the instruction with state filled in, then the transfer targets.
    async fn system_text(&self, ctx: &InvocationContext) -> Result<Option<String>, RunError> {
        let mut text = match &self.instruction {
            Some(template) => {
                let state = ctx.state().await;
                instruction::render(template, &state, &self.name).map_err(RunError::Agent)?
            }
            None => String::new(),
        };
        if !self.targets.is_empty() {
            if !text.is_empty() {
                text.push_str("\n\n");
            }
            text.push_str(&format!("You are the agent `{}`.", self.name));
            if !self.description.is_empty() {
                text.push_str(&format!(" {}", self.description));
            }
            text.push_str(
                "\n\nOther agents can take over the conversation when they are better suited:\n",
            );
            for (name, description) in &self.targets {
                text.push_str(&format!("- `{name}`: {description}\n"));
            }
            text.push_str(
                "\nIf one of them fits the request better than you, call the `transfer_to_agent` tool with its name and write nothing else. Otherwise answer yourself.",
            );
        }
        Ok((!text.is_empty()).then_some(text))
    }

    async fn build_request(
        &self,
        ctx: &InvocationContext,
        step_tools: &[Arc<dyn Tool>],
    ) -> Result<ChatRequest, RunError> {
        let input = &ctx.invocation.input;
        let system = self.system_text(ctx).await?;
        let events = ctx.visible_events().await;
        let messages = history::build(
            &self.name,
            system,
            self.include_contents,
            &input.messages,
            &input.replay,
            &events,
        );
        let mut extra = input.params.clone();
        let mut tools: Vec<Value> = step_tools.iter().map(|t| t.declaration()).collect();
        let own: HashSet<String> = step_tools.iter().map(|t| t.name().to_string()).collect();
        tools.extend(
            input
                .tools
                .iter()
                .filter(|t| {
                    t.pointer("/function/name")
                        .and_then(Value::as_str)
                        .is_none_or(|n| !own.contains(n))
                })
                .cloned(),
        );
        if input.tools.is_empty() {
            // A client's tool_choice is about the client's tools; with none, it means nothing.
            extra.remove("tool_choice");
        }
        if tools.is_empty() {
            extra.remove("parallel_tool_calls");
        } else {
            extra.insert("tools".into(), Value::Array(tools));
        }
        overlay_generate_config(&mut extra, &self.generate_config);
        extra.insert("stream_options".into(), json!({"include_usage": true}));
        Ok(ChatRequest {
            model: None,
            messages,
            stream: Some(true),
            extra,
        })
    }

    /// One model call, streamed as partial events; returns the complete response.
    fn call_model(
        self: &Arc<Self>,
        ctx: &InvocationContext,
        request: ChatRequest,
        event_id: String,
    ) -> impl futures_util::Stream<Item = Result<ModelOutput, RunError>> + Send + 'static {
        let agent = self.clone();
        let ctx = ctx.clone();
        async_stream::try_stream! {
            let route = agent.route(&ctx)?;
            let invocation = &ctx.invocation;
            invocation.facts.record_route(route.provider.name(), &route.model);
            let answer = call::answer(&invocation.registry, request, route, &[], &invocation.facts)
                .await
                .map_err(RunError::Llm)?;
            let mut assembler = Assembler::default();
            match answer {
                Answer::Stream { first, mut rest, .. } => {
                    let mut next = Some(Ok(first));
                    while let Some(chunk) = next {
                        let chunk = chunk.map_err(RunError::Llm)?;
                        assembler.push(&chunk);
                        if let Some(event) = partial_event(&ctx, &agent.name, &event_id, &chunk) {
                            yield ModelOutput::Partial(event);
                        }
                        next = rest.next().await;
                    }
                }
                Answer::Complete { completion, .. } => {
                    for chunk in crate::assemble::to_chunks(&completion, true) {
                        assembler.push(&chunk);
                    }
                }
            }
            yield ModelOutput::Complete(assembler.finish());
        }
    }
}

enum ModelOutput {
    Partial(Event),
    Complete(ChatCompletion),
}

impl Agent for LlmAgent {
    fn model(&self) -> Option<&str> {
        self.model.as_deref()
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn description(&self) -> &str {
        &self.description
    }
    fn class(&self) -> AgentClass {
        AgentClass::LlmAgent
    }
    fn sub_agents(&self) -> &[String] {
        &self.sub_agents
    }
    fn stream_mode(&self) -> Option<StreamMode> {
        self.stream
    }
    fn disallows_transfer_to_parent(&self) -> bool {
        self.disallow_transfer_to_parent
    }

    fn run(self: Arc<Self>, ctx: InvocationContext) -> EventStream {
        Box::pin(async_stream::try_stream! {
            let callbacks = ctx.callbacks();
            loop {
                ctx.invocation.budget.take_llm_call()?;
                let step_tools = self.step_tools().await;
                let find_tool = |name: &str| step_tools.iter().find(|t| t.name() == name).cloned();
                let mut request = self.build_request(&ctx, &step_tools).await?;
                let event_id = format!("evt_{}", crate::ids::random_hex(16));

                // The agent's own request stages (its YAML `pipeline.request`), before this call.
                let mut short_circuit = None;
                if let Some(own) = ctx.agents().pipeline_of(&self.name).filter(|p| !p.request.is_empty()) {
                    let model = self.model.as_deref().or(ctx.invocation.input.model.as_deref()).unwrap_or("");
                    let vars = crate::pipeline::Vars { model, agent: &self.name };
                    let outcome = crate::pipeline::request_stages::run(&own.request, &mut request, &vars)
                        .await
                        .map_err(RunError::from)?;
                    if !outcome.notes.is_empty() {
                        let mut note = ctx.event(&self.name);
                        let text = outcome.notes.iter().map(|n| format!("[pipeline] {n}\n")).collect::<String>();
                        note.content = Some(Content::text("model", text));
                        let channel = if ctx.channel == Channel::Hidden { Channel::Hidden } else { Channel::Thought };
                        yield super::Emitted { event: note, channel, store: false };
                    }
                    short_circuit = outcome.refusal.map(|text| Content::text("model", text));
                }
                for callback in callbacks.iter().filter(|_| short_circuit.is_none()) {
                    let mut cb = ctx.callback_context(&self.name).await;
                    let answer = callback.before_model(&mut cb, &mut request).await;
                    if let Some(event) = ctx.callback_event(&self.name, &mut cb, None) {
                        yield ctx.emit(event);
                    }
                    if answer.is_some() {
                        short_circuit = answer;
                        break;
                    }
                }
                let (mut content, usage) = match short_circuit {
                    Some(content) => (content, None),
                    None => {
                        let mut outputs = Box::pin(self.call_model(&ctx, request, event_id.clone()));
                        let mut complete = None;
                        while let Some(output) = outputs.next().await {
                            match output? {
                                ModelOutput::Partial(event) => yield ctx.emit(event),
                                ModelOutput::Complete(completion) => complete = Some(completion),
                            }
                        }
                        let completion = complete.ok_or_else(|| {
                            RunError::Agent("the model call ended without a response".into())
                        })?;
                        (content_of(&completion), completion.usage)
                    }
                };
                // ADK attaches what `after_model` callbacks change to the model's own event: a
                // separate event would be a second complete event of this agent, shown again.
                let mut callback_actions = EventActions::default();
                for callback in &callbacks {
                    let mut cb = ctx.callback_context(&self.name).await;
                    let replaced = callback.after_model(&mut cb, &content).await;
                    tool_round::merge_actions(&mut callback_actions, std::mem::take(&mut cb.actions));
                    if let Some(replaced) = replaced {
                        content = replaced;
                        break;
                    }
                }

                let calls: Vec<(String, String, Value)> = content
                    .parts
                    .iter()
                    .filter_map(|p| match p {
                        Part::ToolCall { id, name, arguments } => {
                            Some((id.clone(), name.clone(), arguments.clone()))
                        }
                        _ => None,
                    })
                    .collect();
                let mut event = ctx.event(&self.name);
                event.id = event_id;
                event.usage = usage;
                event.actions = callback_actions;
                if calls.is_empty() {
                    if let Some(key) = &self.output_key {
                        event
                            .actions
                            .state_delta
                            .insert(key.clone(), Value::String(content.joined_text()));
                    }
                    event.content = Some(content);
                    yield ctx.emit(event);
                    return;
                }
                // A call to one of the client's tools ends the turn and pauses the invocation:
                // the client runs it and sends the result, which resumes here. On a name clash
                // the agent's own tool wins (ADK), so the client is never asked to run it.
                let client_tools = &ctx.invocation.input.tool_names;
                event.client_call_ids = calls
                    .iter()
                    .filter(|(_, name, _)| client_tools.contains(name) && find_tool(name).is_none())
                    .map(|(id, _, _)| id.clone())
                    .collect();
                event.content = Some(content);
                let asks_client = !event.client_call_ids.is_empty();
                yield ctx.emit(event);
                if asks_client {
                    ctx.invocation.pause.pause();
                    return;
                }

                ctx.invocation.budget.take_tool_round()?;
                let mut round = Box::pin(tool_round::run(ctx.clone(), self.name.clone(), calls, step_tools.clone()));
                let mut actions = EventActions::default();
                let mut last_result = None;
                while let Some(item) = round.next().await {
                    match item? {
                        RoundOutput::Work(emitted) => yield emitted,
                        RoundOutput::Results(results) => {
                            actions = results.actions.clone();
                            last_result = results.content.iter().flat_map(|c| &c.parts).rev().find_map(|p| match p {
                                Part::ToolResult { response, .. } => Some(response.clone()),
                                _ => None,
                            });
                            yield ctx.emit(results);
                        }
                    }
                }
                if actions.skip_summarization && !actions.escalate && actions.transfer_to_agent.is_none()
                    && let Some(response) = last_result
                {
                    // The tool's result is this agent's answer (ADK's skip_summarization): shown
                    // where this agent's answer goes, and kept under its output_key.
                    let text = match response.get("result") {
                        Some(Value::String(text)) => text.clone(),
                        _ => response.to_string(),
                    };
                    let mut answer = ctx.event(&self.name);
                    if let Some(key) = &self.output_key {
                        answer.actions.state_delta.insert(key.clone(), Value::String(text.clone()));
                    }
                    answer.content = Some(Content::text("model", text));
                    yield ctx.emit(answer);
                    return;
                }
                let transfer = actions.transfer_to_agent.clone();
                let stop = actions.escalate || actions.skip_summarization;

                if let Some(target) = transfer {
                    let agent = ctx.agents().get(&target).ok_or_else(|| {
                        RunError::Agent(format!("transfer to unknown agent '{target}'"))
                    })?;
                    let mut events = run_agent(agent, ctx.clone());
                    while let Some(item) = events.next().await {
                        yield item?;
                    }
                    return;
                }
                if stop {
                    return;
                }
            }
        })
    }
}

/// A streamed fragment of the model's answer as a partial event (text and reasoning only; tool
/// calls are shown once complete).
fn partial_event(
    ctx: &InvocationContext,
    author: &str,
    id: &str,
    chunk: &ChatChunk,
) -> Option<Event> {
    let delta = &chunk.choices.first()?.delta;
    let mut parts = Vec::new();
    if let Some(text) = delta.reasoning_content.as_ref().filter(|t| !t.is_empty()) {
        parts.push(Part::Reasoning { text: text.clone() });
    }
    if let Some(text) = delta.content.as_ref().filter(|t| !t.is_empty()) {
        parts.push(Part::Text { text: text.clone() });
    }
    if parts.is_empty() {
        return None;
    }
    let mut event = ctx.event(author);
    event.id = id.to_string();
    event.partial = true;
    event.content = Some(Content {
        role: "model".into(),
        parts,
    });
    Some(event)
}

/// The complete response as event content: reasoning, text, tool calls (arguments parsed; text
/// that is not JSON is kept as a string, and the tool reports it as invalid).
fn content_of(completion: &ChatCompletion) -> Content {
    let mut parts = Vec::new();
    if let Some(choice) = completion.choices.first() {
        let message = &choice.message;
        if let Some(text) = message.reasoning_content.as_ref().filter(|t| !t.is_empty()) {
            parts.push(Part::Reasoning { text: text.clone() });
        }
        if let Some(text) = message.content.as_ref().filter(|t| !t.is_empty()) {
            parts.push(Part::Text { text: text.clone() });
        }
        for call in message.tool_calls.iter().flatten() {
            let raw = call.function.arguments.trim();
            let arguments = if raw.is_empty() {
                json!({})
            } else {
                serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string()))
            };
            let id = if call.id.is_empty() {
                format!("call_{}", crate::ids::random_hex(12))
            } else {
                call.id.clone()
            };
            parts.push(Part::ToolCall {
                id,
                name: call.function.name.clone(),
                arguments,
            });
        }
    }
    Content {
        role: "model".into(),
        parts,
    }
}

/// Lays an agent's generation parameters (its `generate_content_config`, translated for its
/// provider when it loaded) over the client's: the agent wins for what it sets.
fn overlay_generate_config(params: &mut Map<String, Value>, config: &Map<String, Value>) {
    for (key, value) in config {
        params.insert(key.clone(), value.clone());
    }
}
