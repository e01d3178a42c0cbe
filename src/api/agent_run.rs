//! `POST /v1/chat/completions` for a request an agent serves: the model is a top-level agent's
//! name, or `default_agent` is set. Admission (keys, limits) is the same as for plain proxying;
//! then the Runner runs the agent and the chunks it renders go out as SSE or, for a
//! non-streaming request, are assembled into one `chat.completion`.

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use futures_util::StreamExt;
use serde_json::Value;

use super::AppState;
use super::admission::{admit, check_model_allowed};
use super::respond::{AnswerBody, Dialect, Respond};
use crate::agent::AgentSet;
use crate::auth::ClientKey;
use crate::error::{ApiError, ErrorObject};
use crate::llm::ChunkStream;
use crate::observe::RequestFacts;
use crate::pipeline::AnswerFor;
use crate::runner::RunRequest;
use crate::session::identity::{self, SESSION_HEADER};
use crate::wire::ChatRequest;
use crate::wire::ReasoningMode;

pub const REASONING_MODE_HEADER: &str = "x-reasoning-mode";

/// The `X-Reasoning-Mode` header's choice, else `default` (`reasoning.mode` in settings.yaml).
pub fn reasoning_mode(
    headers: &HeaderMap,
    default: ReasoningMode,
) -> Result<ReasoningMode, ApiError> {
    match headers
        .get(REASONING_MODE_HEADER)
        .map(|v| v.to_str().ok().and_then(ReasoningMode::parse))
    {
        None => Ok(default),
        Some(Some(mode)) => Ok(mode),
        Some(None) => Err(ApiError::invalid_request(
            "X-Reasoning-Mode must be one of reasoning_content, reasoning, think_tags, hidden, open_webui.",
            Some("X-Reasoning-Mode"),
            "invalid_reasoning_mode",
        )),
    }
}

/// The key may use the agent `root` — or, when the agent serves another model name (the default
/// agent), that model. Without keys the model must still resolve.
pub fn check_agent_allowed(
    state: &AppState,
    client_key: Option<&ClientKey>,
    model: Option<&str>,
    root: &str,
) -> Result<(), ApiError> {
    match (client_key, model) {
        (Some(key), Some(model)) => {
            let route = state.registry.resolve(Some(model))?;
            check_model_allowed(state, key, Some(model), &route)
        }
        (Some(key), None) if !key.may_use(root) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorObject::new(
                format!("The API key '{}' may not use the agent '{root}'.", key.name),
                "invalid_request_error",
            )
            .with_param("model")
            .with_code("model_not_allowed"),
        )),
        (None, Some(model)) => state.registry.resolve(Some(model)).map(|_| ()),
        _ => Ok(()),
    }
}

/// Which agent runs, from which set, answering in which dialect.
pub struct AgentRun {
    pub agents: std::sync::Arc<AgentSet>,
    pub root: String,
    pub dialect: Dialect,
}

pub async fn run(
    state: &AppState,
    facts: &RequestFacts,
    client_key: Option<&ClientKey>,
    headers: &HeaderMap,
    mut request: ChatRequest,
    run: AgentRun,
) -> Result<Response, ApiError> {
    let AgentRun {
        agents,
        root,
        mut dialect,
    } = run;
    // Open WebUI sends the tool cards of earlier answers back inside their text.
    super::tool_cards::unfold(&mut request.messages);
    let stream = request.is_stream();
    // The client's model, when it is not the agent's name: the default agent serves it.
    let model = request
        .model
        .clone()
        .filter(|m| !m.trim().is_empty() && *m != root);
    let shown_model = request.model.clone().unwrap_or_else(|| root.clone());
    facts.update(|f| {
        f.stream = stream;
        f.agent = Some(root.clone());
        f.model = Some(shown_model.clone());
    });
    check_agent_allowed(state, client_key, model.as_deref(), &root)?;
    if request.extra.get("n").and_then(Value::as_u64).unwrap_or(1) > 1 {
        return Err(ApiError::invalid_request(
            "Agents produce one answer per request: n must be 1.",
            Some("n"),
            "unsupported_value",
        ));
    }
    let mode = match dialect {
        Dialect::ChatCompletions => reasoning_mode(headers, state.config.reasoning.mode)?,
        // Steps become the dialect's own items.
        Dialect::Responses(_) => ReasoningMode::Steps,
        // Agents' work, tool calls included, as thinking text.
        Dialect::Messages(_) | Dialect::Ollama(_) => ReasoningMode::ReasoningContent,
    };
    let session = identity::identify(
        headers,
        &request,
        &root,
        client_key.map(|k| k.name.as_str()),
    )?;
    facts.update(|f| {
        f.session_id = Some(session.id.clone());
        f.session_user = Some(session.user.clone());
    });
    dialect.set_session(&session.id);
    let mut extra_headers = admit(state, facts, client_key).await?;
    if let Ok(value) = HeaderValue::from_str(&session.id) {
        extra_headers.push((HeaderName::from_static(SESSION_HEADER), value));
    }
    if let Ok(value) = HeaderValue::from_str(&root) {
        extra_headers.push((HeaderName::from_static("x-adk-agent"), value));
    }

    // Pre-processing: the global stages and the model's on the client's request. The agent's own
    // request stages run before each of its model calls (LlmAgent); its stream stages join the
    // answer's.
    let mut pipeline = state.pipelines().for_model(&shown_model);
    if let Some(own) = agents.pipeline_of(&root) {
        pipeline = pipeline.then(&crate::pipeline::Pipeline {
            request: Vec::new(),
            stream: own.stream.clone(),
        });
    }
    // No single provider serves an agent run: the default provider's idle timeout applies.
    let answer_for = AnswerFor {
        facts,
        model: &shown_model,
        agent: &root,
        reasoning: mode,
    };
    let (respond, refusal) = Respond::prepare(
        state,
        &pipeline,
        &mut request,
        answer_for,
        extra_headers,
        dialect,
    )
    .await?;
    if let Some(text) = refusal {
        return respond.refuse(&shown_model, &text).await;
    }

    let mut chunks = state
        .runner
        .start(RunRequest {
            agents,
            root: root.clone(),
            request: &request,
            model,
            session,
            mode,
            facts: facts.clone(),
        })
        .await
        .map_err(|e| e.to_api_error())?;
    // Whatever fails before the first chunk still gets its own HTTP status.
    let first = match chunks.next().await {
        Some(Ok(first)) => first,
        Some(Err(error)) => return Err(error.to_api_error()),
        None => {
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorObject::new("The agent produced no answer.", "agent_error")
                    .with_code("agent_error"),
            ));
        }
    };
    let rest: ChunkStream = Box::pin(chunks.map(|item| item.map_err(|e| e.to_llm_error())));
    respond.send(AnswerBody::Chunks { first, rest }).await
}
