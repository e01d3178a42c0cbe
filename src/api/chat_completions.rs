//! `POST /v1/chat/completions`: read the body within the size limit, validate, then [`serve`]:
//! route, check the key's model list and rate limits, answer from the cache or the provider.
//! Requests that an agent serves go to [`agent_run`]; the transparent default agent is this
//! direct path. Other dialects (`/v1/responses`) translate their request and call [`serve`] too.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::admission::{admit, check_model_allowed};
use super::agent_run;
use super::background_task;
use super::body::read_body;
use super::caller::Caller;
use super::respond::{AnswerBody, Dialect, Respond};
use super::validate;
use crate::agent::set::Target;
use crate::auth::ClientKey;
use crate::cache;
use crate::error::ApiError;
use crate::llm::call::{self, Answer};
use crate::observe::RequestFacts;
use crate::observe::metrics;
use crate::pipeline::AnswerFor;
use crate::wire::ChatRequest;

pub async fn chat_completions(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match run(&state, &caller.facts, caller.key.as_ref(), &headers, body).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn run(
    state: &AppState,
    facts: &RequestFacts,
    client_key: Option<&ClientKey>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let limit = state.config.server.max_body_bytes;
    let (bytes, memory) = read_body(headers, body, limit, &state.body_budget).await?;
    let request = validate::parse_off_the_workers(bytes, validate::chat_request).await?;
    drop(memory);
    serve(
        state,
        facts,
        client_key,
        headers,
        request,
        Dialect::ChatCompletions,
    )
    .await
}

/// Answers a chat request (already parsed and validated) in `dialect`.
pub async fn serve(
    state: &AppState,
    facts: &RequestFacts,
    client_key: Option<&ClientKey>,
    headers: &HeaderMap,
    mut request: ChatRequest,
    dialect: Dialect,
) -> Result<Response, ApiError> {
    // An alias names where the request goes; its further targets are fallbacks.
    let alias = request
        .model
        .as_deref()
        .and_then(|model| state.config.aliases.resolve(model));
    let mut then: &[String] = &[];
    if let Some(alias) = &alias {
        request.model = Some(alias.targets[0].clone());
        then = &alias.targets[1..];
    }
    let agents = state.agents();
    let mut task = None;
    if let Target::Agent(root) = agents.target_for(request.model.as_deref()) {
        let tasks = &state.config.agents.background_tasks;
        match background_task::recognise(&request, tasks) {
            None => {
                let run = agent_run::AgentRun {
                    agents,
                    root,
                    dialect,
                };
                return agent_run::run(state, facts, client_key, headers, request, run).await;
            }
            Some(kind) => {
                // The key must be allowed the agent it asked for; the task then runs on the
                // agent's behalf with the agent's model, as the agent's own calls do.
                let asked = request.model.clone().filter(|m| *m != root);
                agent_run::check_agent_allowed(state, client_key, asked.as_deref(), &root)?;
                request.model = tasks
                    .model
                    .clone()
                    .or_else(|| agents.model_of(&root))
                    .or(asked);
                facts.update(|f| {
                    f.task = Some(kind);
                    f.agent = Some(root.clone());
                });
                task = Some(kind);
            }
        }
    }
    let route = state.registry.resolve(request.model.as_deref())?;
    let stream = request.is_stream();
    facts.record_route(route.provider.name(), &route.model);
    facts.update(|f| f.stream = stream);
    if let Some(key) = client_key.filter(|_| task.is_none()) {
        check_model_allowed(state, key, request.model.as_deref(), &route)?;
    }
    let extra_headers = admit(state, facts, client_key).await?;

    let model_label = request.model.clone().unwrap_or_else(|| route.model.clone());
    let pipeline = state.pipelines().for_model(&model_label);
    let mode = match dialect {
        Dialect::ChatCompletions => {
            agent_run::reasoning_mode(headers, state.config.reasoning.mode)?
        }
        // Reasoning stays in the internal form; the dialect gives it its own items.
        Dialect::Responses(_) | Dialect::Messages(_) | Dialect::Ollama(_) => {
            crate::wire::ReasoningMode::ReasoningContent
        }
    };
    let answer_for = AnswerFor {
        facts,
        model: &model_label,
        agent: "",
        reasoning: mode,
    };
    let (mut respond, refusal) = Respond::prepare(
        state,
        &pipeline,
        &mut request,
        answer_for,
        extra_headers,
        dialect,
    )
    .await?;
    respond.idle_timeout = route.provider.config.idle_timeout();
    if let Some(text) = refusal {
        return respond.refuse(&model_label, &text).await;
    }

    let cache_key = match &state.cache {
        Some(_) if cache::eligible(state.config.cache.when, &request, headers) => Some(cache::key(
            client_key.map(|k| k.name.as_str()).unwrap_or(""),
            route.provider.name(),
            &ChatRequest {
                model: Some(route.model.clone()),
                ..request.clone()
            },
        )),
        _ => None,
    };
    if let (Some(cache), Some(key)) = (&state.cache, &cache_key) {
        if let Some(hit) = cache.get(key).await {
            ::metrics::counter!(metrics::CACHE, "result" => "hit").increment(1);
            facts.update(|f| f.cache = Some("hit"));
            respond.headers.push((
                HeaderName::from_static("x-cache"),
                HeaderValue::from_static("hit"),
            ));
            // A cached answer (stored as the upstream gave it) goes through the stream stages
            // like a fresh one, as a stream or as one completion depending on the request.
            return respond
                .send(AnswerBody::Completion(hit.as_ref().clone()))
                .await;
        }
        ::metrics::counter!(metrics::CACHE, "result" => "miss").increment(1);
        facts.update(|f| f.cache = Some("miss"));
        respond.headers.push((
            HeaderName::from_static("x-cache"),
            HeaderValue::from_static("miss"),
        ));
    }

    let answer = call::answer(&state.registry, request, route, then, facts)
        .await
        .map_err(|e| e.to_api_error())?;
    let served_by = match &answer {
        Answer::Stream { route, .. } | Answer::Complete { route, .. } => route.clone(),
    };
    if let Ok(value) = HeaderValue::from_str(served_by.provider.name()) {
        respond
            .headers
            .push((HeaderName::from_static("x-adk-provider"), value));
    }
    facts.record_route(served_by.provider.name(), &served_by.model);
    respond.idle_timeout = served_by.provider.config.idle_timeout();
    let body = match answer {
        Answer::Stream { first, rest, .. } => {
            let rest = match (&state.cache, cache_key) {
                (Some(cache), Some(key)) => {
                    cache::store_when_complete(cache.clone(), key, &first, rest)
                }
                _ => rest,
            };
            AnswerBody::Chunks { first, rest }
        }
        Answer::Complete { completion, .. } => {
            if let (Some(cache), Some(key)) = (&state.cache, cache_key)
                && completion.choices.iter().all(|c| c.finish_reason.is_some())
            {
                cache.put(key, completion.clone());
            }
            AnswerBody::Completion(completion)
        }
    };
    respond.send(body).await
}
