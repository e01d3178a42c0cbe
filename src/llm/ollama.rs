//! Adapter for Ollama's native `/api/chat` (NDJSON stream).
//!
//! Why not ollama-rs: its stream type drops `{"error": …}` lines and unknown fields, and its
//! request type cannot carry arbitrary client fields; a proxy must keep both (see
//! docs/ARCHITECTURE.md). The native API is small, so the mapping lives here, both ways:
//!
//! - request: OpenAI messages, tools and sampling parameters → Ollama's `messages`, `tools`,
//!   `options` (`max_tokens` → `num_predict`, …) and `format`; unknown fields go to the top level.
//! - response: NDJSON lines → OpenAI chunks with tool-call ids/indexes and string arguments,
//!   `thinking` → `reasoning_content`, `done_reason` → `finish_reason`, counters → usage.

use futures_util::StreamExt;
use serde_json::{Map, Value, json};

use super::http::{UpstreamClient, error_chain, transport_error};
use super::{ChunkStream, Llm, LlmError, LlmFuture, LlmRequest};
use crate::config::ResolvedProvider;
use crate::error::ErrorObject;
use crate::wire::{
    ChatChunk, ChatCompletion, ChatRequest, CompletionChoice, Delta, FunctionCall, FunctionDelta,
    ResponseMessage, ToolCall, ToolCallDelta, Usage,
};

pub struct Ollama {
    http: UpstreamClient,
    chat_url: reqwest::Url,
    tags_url: reqwest::Url,
}

impl Ollama {
    pub fn new(_provider: &ResolvedProvider, http: UpstreamClient) -> Result<Self, String> {
        Ok(Self {
            chat_url: http.endpoint("/api/chat")?,
            tags_url: http.endpoint("/api/tags")?,
            http,
        })
    }

    fn post(&self, body: &Value) -> reqwest::RequestBuilder {
        self.http.client.post(self.chat_url.clone()).json(body)
    }
}

impl Llm for Ollama {
    fn stream(&self, request: LlmRequest) -> LlmFuture<'_, ChunkStream> {
        Box::pin(async move {
            let body = to_ollama_request(&request.body, true)?;
            let response = self.http.send(self.post(&body)).await?;
            Ok(chunk_stream(self.http.provider.clone(), response))
        })
    }

    fn complete(&self, request: LlmRequest) -> LlmFuture<'_, ChatCompletion> {
        Box::pin(async move {
            let body = to_ollama_request(&request.body, false)?;
            let response = self.http.send(self.post(&body)).await?;
            let bytes = response
                .bytes()
                .await
                .map_err(|e| transport_error(&self.http.provider, &e))?;
            let line: Value = serde_json::from_slice(&bytes)
                .map_err(|e| LlmError::Protocol(format!("Ollama response is not JSON: {e}")))?;
            if let Some(error) = in_band_error(&line) {
                return Err(LlmError::InStream(Box::new(error)));
            }
            Ok(to_completion(&line))
        })
    }

    fn list_models(&self) -> LlmFuture<'_, Vec<Value>> {
        Box::pin(async move {
            let response = self
                .http
                .send(self.http.client.get(self.tags_url.clone()))
                .await?;
            let value: Value = response
                .json()
                .await
                .map_err(|e| LlmError::Protocol(format!("Ollama model list is not JSON: {e}")))?;
            let models = value
                .get("models")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            Ok(models
                .iter()
                .filter_map(|m| m.get("name").or_else(|| m.get("model")).and_then(Value::as_str))
                .map(|name| json!({"id": name, "object": "model", "created": 0, "owned_by": "ollama"}))
                .collect())
        })
    }
}

/// OpenAI fields that have an Ollama counterpart (or none) and must not be copied verbatim.
const MAPPED_FIELDS: &[&str] = &[
    "model",
    "messages",
    "stream",
    "tools",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "seed",
    "stop",
    "frequency_penalty",
    "presence_penalty",
    "response_format",
    "stream_options",
    "reasoning_effort",
    "tool_choice",
    "parallel_tool_calls",
    "n",
    "user",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "store",
    "metadata",
    "options",
];

/// Maps an OpenAI chat request onto Ollama's `/api/chat` body.
pub fn to_ollama_request(request: &ChatRequest, stream: bool) -> Result<Value, LlmError> {
    let extra = &request.extra;
    let mut body = Map::new();
    body.insert(
        "model".into(),
        json!(request.model.clone().unwrap_or_default()),
    );
    body.insert("messages".into(), Value::Array(map_messages(request)?));
    body.insert("stream".into(), Value::Bool(stream));
    if let Some(tools) = extra.get("tools").filter(|t| !t.is_null()) {
        body.insert("tools".into(), tools.clone());
    }

    let mut options = Map::new();
    if let Some(max) = extra
        .get("max_completion_tokens")
        .or_else(|| extra.get("max_tokens"))
        .filter(|v| !v.is_null())
    {
        options.insert("num_predict".into(), max.clone());
    }
    for key in [
        "temperature",
        "top_p",
        "seed",
        "frequency_penalty",
        "presence_penalty",
    ] {
        if let Some(value) = extra.get(key).filter(|v| !v.is_null()) {
            options.insert(key.into(), value.clone());
        }
    }
    match extra.get("stop") {
        Some(Value::String(s)) => {
            options.insert("stop".into(), json!([s]));
        }
        Some(stops @ Value::Array(_)) => {
            options.insert("stop".into(), stops.clone());
        }
        _ => {}
    }
    // Native Ollama options sent by the client win over mapped ones.
    if let Some(Value::Object(native)) = extra.get("options") {
        for (k, v) in native {
            options.insert(k.clone(), v.clone());
        }
    }
    if !options.is_empty() {
        body.insert("options".into(), Value::Object(options));
    }

    if let Some(format) = extra.get("response_format") {
        match format.get("type").and_then(Value::as_str) {
            Some("json_object") => {
                body.insert("format".into(), json!("json"));
            }
            Some("json_schema") => {
                if let Some(schema) = format.get("json_schema").and_then(|s| s.get("schema")) {
                    body.insert("format".into(), schema.clone());
                }
            }
            _ => {}
        }
    }
    if let Some(effort) = extra.get("reasoning_effort").and_then(Value::as_str) {
        let think = match effort {
            "none" => json!(false),
            "minimal" | "low" => json!("low"),
            "high" => json!("high"),
            _ => json!("medium"),
        };
        body.insert("think".into(), think);
    }
    for (key, value) in extra {
        if !MAPPED_FIELDS.contains(&key.as_str()) {
            body.insert(key.clone(), value.clone());
        }
    }
    Ok(Value::Object(body))
}

fn map_messages(request: &ChatRequest) -> Result<Vec<Value>, LlmError> {
    // Ollama names a tool result by the tool's name; OpenAI by the call id.
    let mut call_names: Map<String, Value> = Map::new();
    let mut out = Vec::with_capacity(request.messages.len());
    for (i, message) in request.messages.iter().enumerate() {
        let mut mapped = Map::new();
        let role = match message.role() {
            "developer" => "system",
            "function" => "tool",
            other => other,
        };
        mapped.insert("role".into(), json!(role));
        let mut images = Vec::new();
        let content = match message.content() {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(parts)) => {
                let mut text = String::new();
                for part in parts {
                    match part.get("type").and_then(Value::as_str) {
                        Some("text") => {
                            if !text.is_empty() {
                                text.push('\n');
                            }
                            text.push_str(part.get("text").and_then(Value::as_str).unwrap_or(""));
                        }
                        Some("image_url") => {
                            let url = part
                                .get("image_url")
                                .and_then(|u| u.get("url").or(Some(u)))
                                .and_then(Value::as_str)
                                .unwrap_or("");
                            match url.split_once(";base64,") {
                                Some((_, data)) if url.starts_with("data:") => {
                                    images.push(json!(data))
                                }
                                _ => {
                                    return Err(unsupported(format!(
                                        "messages[{i}].content: Ollama accepts images only as data: URLs"
                                    )));
                                }
                            }
                        }
                        _ => {}
                    }
                }
                text
            }
            Some(other) => other.to_string(),
        };
        mapped.insert("content".into(), json!(content));
        if !images.is_empty() {
            mapped.insert("images".into(), Value::Array(images));
        }
        if let Some(calls) = message.tool_calls() {
            let mut mapped_calls = Vec::new();
            for call in calls {
                let function = call.get("function").cloned().unwrap_or(Value::Null);
                let name = function.get("name").cloned().unwrap_or(json!(""));
                if let Some(id) = call.get("id").and_then(Value::as_str) {
                    call_names.insert(id.to_string(), name.clone());
                }
                let arguments = match function.get("arguments") {
                    Some(Value::String(s)) => serde_json::from_str(s).unwrap_or_else(|_| json!({})),
                    Some(v @ Value::Object(_)) => v.clone(),
                    _ => json!({}),
                };
                mapped_calls.push(json!({"function": {"name": name, "arguments": arguments}}));
            }
            mapped.insert("tool_calls".into(), Value::Array(mapped_calls));
        }
        if role == "tool" {
            let name = message
                .fields()
                .get("tool_call_id")
                .and_then(Value::as_str)
                .and_then(|id| call_names.get(id).cloned())
                .or_else(|| message.fields().get("name").cloned());
            if let Some(name) = name {
                mapped.insert("tool_name".into(), name);
            }
        }
        if let Some(thinking) = message
            .fields()
            .get("reasoning_content")
            .filter(|v| v.is_string())
        {
            mapped.insert("thinking".into(), thinking.clone());
        }
        for (key, value) in message.fields().iter() {
            if !matches!(
                key.as_str(),
                "role" | "content" | "tool_calls" | "tool_call_id" | "name" | "reasoning_content"
            ) {
                mapped.insert(key.clone(), value.clone());
            }
        }
        out.push(Value::Object(mapped));
    }
    Ok(out)
}

fn unsupported(message: String) -> LlmError {
    LlmError::Upstream {
        status: 400,
        error: Box::new(
            ErrorObject::new(message, "invalid_request_error").with_code("unsupported_content"),
        ),
        retry_after: None,
    }
}

/// Fields of an Ollama line that the mapping consumes; anything else is passed on.
const KNOWN_LINE_FIELDS: &[&str] = &[
    "model",
    "created_at",
    "message",
    "done",
    "done_reason",
    "total_duration",
    "load_duration",
    "prompt_eval_count",
    "prompt_eval_duration",
    "eval_count",
    "eval_duration",
    "context",
];
const KNOWN_MESSAGE_FIELDS: &[&str] = &["role", "content", "thinking", "tool_calls", "images"];

fn in_band_error(line: &Value) -> Option<ErrorObject> {
    let error = line.get("error").filter(|e| !e.is_null())?;
    let message = error
        .as_str()
        .map(str::to_string)
        .or_else(|| {
            error
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| error.to_string());
    Some(ErrorObject::new(message, "api_error").with_code("upstream_error"))
}

fn usage_of(line: &Value) -> Option<Usage> {
    let prompt = line.get("prompt_eval_count").and_then(Value::as_u64);
    let completion = line.get("eval_count").and_then(Value::as_u64);
    if prompt.is_none() && completion.is_none() {
        return None;
    }
    let (prompt, completion) = (prompt.unwrap_or(0), completion.unwrap_or(0));
    Some(Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: prompt + completion,
        extra: Map::new(),
    })
}

fn finish_reason(line: &Value, made_tool_calls: bool) -> String {
    if made_tool_calls {
        return "tool_calls".to_string();
    }
    match line.get("done_reason").and_then(Value::as_str) {
        Some("length") => "length".to_string(),
        Some("stop") | None | Some("") => "stop".to_string(),
        Some(other) => other.to_string(),
    }
}

fn extra_fields(source: Option<&Map<String, Value>>, known: &[&str]) -> Map<String, Value> {
    source
        .map(|m| {
            m.iter()
                .filter(|(k, _)| !known.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

fn arguments_string(arguments: Option<&Value>) -> String {
    match arguments {
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => "{}".to_string(),
    }
}

/// Turns Ollama's stream into OpenAI chunks. State carried across lines: the stable id and
/// creation time, whether the role was sent, and the running tool-call index.
struct StreamMapper {
    id: String,
    created: i64,
    model: String,
    next_tool_index: u32,
}

impl StreamMapper {
    fn new() -> Self {
        Self {
            id: crate::ids::completion_id(),
            created: crate::ids::unix_now(),
            model: String::new(),
            next_tool_index: 0,
        }
    }

    fn chunk(
        &self,
        delta: Delta,
        finish_reason: Option<String>,
        usage: Option<Usage>,
        extra: Map<String, Value>,
    ) -> ChatChunk {
        let mut chunk = ChatChunk::built(
            &self.id,
            self.created,
            &self.model,
            Some(delta),
            finish_reason,
        );
        chunk.usage = usage;
        chunk.extra = extra;
        chunk
    }

    fn map_line(&mut self, line: &Value) -> ChatChunk {
        if self.model.is_empty()
            && let Some(model) = line.get("model").and_then(Value::as_str)
        {
            self.model = model.to_string();
        }
        let message = line.get("message").and_then(Value::as_object);
        let mut delta = Delta {
            extra: extra_fields(message, KNOWN_MESSAGE_FIELDS),
            ..Delta::default()
        };
        if let Some(text) = message
            .and_then(|m| m.get("content"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            delta.content = Some(text.to_string());
        }
        if let Some(text) = message
            .and_then(|m| m.get("thinking"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            delta.reasoning_content = Some(text.to_string());
        }
        if let Some(calls) = message
            .and_then(|m| m.get("tool_calls"))
            .and_then(Value::as_array)
        {
            let mapped: Vec<ToolCallDelta> = calls
                .iter()
                .map(|call| {
                    let index = self.next_tool_index;
                    self.next_tool_index += 1;
                    let function = call.get("function");
                    ToolCallDelta {
                        index,
                        id: Some(call_id(call)),
                        kind: Some("function".to_string()),
                        function: Some(FunctionDelta {
                            name: function
                                .and_then(|f| f.get("name"))
                                .and_then(Value::as_str)
                                .map(str::to_string),
                            arguments: Some(arguments_string(
                                function.and_then(|f| f.get("arguments")),
                            )),
                            extra: Map::new(),
                        }),
                        extra: Map::new(),
                    }
                })
                .collect();
            if !mapped.is_empty() {
                delta.tool_calls = Some(mapped);
            }
        }
        let done = line.get("done").and_then(Value::as_bool).unwrap_or(false);
        let extra = extra_fields(line.as_object(), KNOWN_LINE_FIELDS);
        if done {
            let reason = finish_reason(line, self.next_tool_index > 0);
            self.chunk(delta, Some(reason), usage_of(line), extra)
        } else {
            self.chunk(delta, None, None, extra)
        }
    }
}

fn chunk_stream(provider: String, response: reqwest::Response) -> ChunkStream {
    Box::pin(async_stream::stream! {
        let mut body = response.bytes_stream();
        let mut buffer: Vec<u8> = Vec::new();
        let mut mapper = StreamMapper::new();
        let mut finished = false;
        let mut eof = false;
        while !finished && !eof {
            match body.next().await {
                Some(Ok(bytes)) => buffer.extend_from_slice(&bytes),
                Some(Err(e)) => {
                    yield Err(LlmError::Protocol(format!(
                        "provider '{provider}' connection failed mid-stream: {}", error_chain(&e)
                    )));
                    return;
                }
                None => {
                    eof = true;
                    buffer.push(b'\n');
                }
            }
            while let Some(newline) = buffer.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = buffer.drain(..=newline).collect();
                let line = line.trim_ascii();
                if line.is_empty() {
                    continue;
                }
                let value: Value = match serde_json::from_slice(line) {
                    Ok(value) => value,
                    Err(e) => {
                        let preview: String = String::from_utf8_lossy(line).chars().take(200).collect();
                        yield Err(LlmError::Protocol(format!("invalid NDJSON line ({e}): {preview}")));
                        return;
                    }
                };
                if let Some(error) = in_band_error(&value) {
                    yield Err(LlmError::InStream(Box::new(error)));
                    return;
                }
                let chunk = mapper.map_line(&value);
                finished = chunk.choices.iter().any(|c| c.finish_reason.is_some());
                yield Ok(chunk);
                if finished {
                    break;
                }
            }
        }
        if !finished {
            yield Err(LlmError::Protocol(format!("provider '{provider}' closed the stream before it finished")));
        }
    })
}

/// Maps a non-streaming Ollama answer to a `chat.completion`.
pub fn to_completion(line: &Value) -> ChatCompletion {
    let message = line.get("message").and_then(Value::as_object);
    let text = |key: &str| {
        message
            .and_then(|m| m.get(key))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let tool_calls: Vec<ToolCall> = message
        .and_then(|m| m.get("tool_calls"))
        .and_then(Value::as_array)
        .map(|calls| {
            calls
                .iter()
                .map(|call| {
                    let function = call.get("function");
                    ToolCall {
                        id: call_id(call),
                        kind: "function".to_string(),
                        function: FunctionCall {
                            name: function
                                .and_then(|f| f.get("name"))
                                .and_then(Value::as_str)
                                .unwrap_or("")
                                .to_string(),
                            arguments: arguments_string(function.and_then(|f| f.get("arguments"))),
                            extra: Map::new(),
                        },
                        extra: Map::new(),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let made_calls = !tool_calls.is_empty();
    ChatCompletion {
        id: crate::ids::completion_id(),
        object: "chat.completion".to_string(),
        created: crate::ids::unix_now(),
        model: line
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        choices: vec![CompletionChoice {
            index: 0,
            message: ResponseMessage {
                role: "assistant".to_string(),
                content: Some(text("content").unwrap_or_default()),
                reasoning_content: text("thinking"),
                tool_calls: made_calls.then_some(tool_calls),
                extra: extra_fields(message, KNOWN_MESSAGE_FIELDS),
            },
            finish_reason: Some(finish_reason(line, made_calls)),
            extra: Map::new(),
        }],
        usage: usage_of(line),
        extra: extra_fields(line.as_object(), KNOWN_LINE_FIELDS),
    }
}

/// Ollama's tool calls carry no id (newer versions send one): keep it, or make a unique one.
fn call_id(call: &Value) -> String {
    call.get("id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| format!("call_{}", crate::ids::random_hex(12)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(value: Value) -> ChatRequest {
        serde_json::from_value(value).expect("request")
    }

    #[test]
    fn maps_options_format_and_tool_history() {
        let req = request(json!({
            "model": "llama3.2",
            "messages": [
                {"role": "developer", "content": [{"type": "text", "text": "be brief"}]},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Oslo\"}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "sunny"}
            ],
            "max_tokens": 50, "temperature": 0.1, "stop": "END", "seed": 3,
            "response_format": {"type": "json_object"},
            "keep_alive": "5m"
        }));
        let body = to_ollama_request(&req, true).expect("maps");
        assert_eq!(body["options"]["num_predict"], 50);
        assert_eq!(body["options"]["stop"], json!(["END"]));
        assert_eq!(body["format"], "json");
        assert_eq!(body["keep_alive"], "5m");
        assert_eq!(body["messages"][0]["role"], "system");
        assert_eq!(body["messages"][0]["content"], "be brief");
        assert_eq!(
            body["messages"][1]["tool_calls"][0]["function"]["arguments"]["city"],
            "Oslo"
        );
        assert_eq!(body["messages"][2]["tool_name"], "weather");
        assert!(body.get("max_tokens").is_none());
    }

    #[test]
    fn done_line_maps_usage_and_tool_finish() {
        let mut mapper = StreamMapper::new();
        let call = mapper.map_line(&json!({"model":"m","message":{"role":"assistant","content":"","tool_calls":[{"function":{"name":"f","arguments":{"a":1}}}]},"done":false}));
        let calls = call.choices[0].delta.tool_calls.clone().expect("calls");
        assert_eq!(calls[0].index, 0);
        assert!(
            calls[0]
                .id
                .as_deref()
                .is_some_and(|id| id.starts_with("call_"))
        );
        assert_eq!(
            calls[0]
                .function
                .as_ref()
                .and_then(|f| f.arguments.clone())
                .as_deref(),
            Some(r#"{"a":1}"#)
        );
        let done = mapper.map_line(&json!({"model":"m","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","prompt_eval_count":5,"eval_count":7}));
        assert_eq!(done.choices[0].finish_reason.as_deref(), Some("tool_calls"));
        assert_eq!(done.usage.as_ref().map(|u| u.total_tokens), Some(12));
        assert_eq!(done.id, call.id);
    }
}
