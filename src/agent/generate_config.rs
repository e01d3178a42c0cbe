//! An agent's `generate_content_config`, as ADK users write it, turned into the parameters the
//! agent's provider takes — at load time, so a parameter the provider would refuse stops start-up
//! with the file and field named, instead of coming back as the provider's 400 on a user's turn.
//!
//! ADK's config is Gemini's `GenerateContentConfig`: snake_case or camelCase names
//! (`max_output_tokens` / `maxOutputTokens`), some with no OpenAI counterpart. Each name is
//! mapped to the OpenAI chat-completions parameter the proxy speaks to every provider (the
//! Ollama provider maps those onto its `options` in turn); OpenAI's own names are accepted as
//! they are. What a provider cannot take is refused with the reason:
//! - `top_k`: Ollama and most self-hosted OpenAI-compatible servers (vLLM, llama.cpp) take it;
//!   OpenAI's and DeepSeek's APIs refuse it.
//! - `candidate_count` > 1: an agent continues with one answer.
//! - Gemini-only settings (safety settings, cached content, speech, thinking config, …).

use serde_json::{Map, Value, json};

use crate::config::ProviderKind;

/// Where the parameters go: the provider kind and its base URL (to tell hosted APIs apart).
pub struct Destination<'a> {
    pub kind: ProviderKind,
    pub base_url: &'a str,
}

impl Destination<'_> {
    /// Hosted APIs known to refuse sampling parameters they do not define.
    fn strict_openai(&self) -> bool {
        self.kind == ProviderKind::Openai
            && ["api.openai.com", "api.deepseek.com"]
                .iter()
                .any(|host| self.base_url.contains(host))
    }
}

/// Gemini settings with no counterpart in an OpenAI-compatible request, and why.
const GEMINI_ONLY: &[(&str, &str)] = &[
    ("safety_settings", "Gemini safety settings"),
    ("cached_content", "Gemini context caching"),
    ("labels", "Gemini billing labels"),
    ("response_modalities", "Gemini output modalities"),
    ("speech_config", "Gemini speech output"),
    ("media_resolution", "Gemini media resolution"),
    ("audio_timestamp", "Gemini audio timestamps"),
    ("routing_config", "Gemini model routing"),
    ("model_selection_config", "Gemini model selection"),
    ("http_options", "the Gemini client's HTTP options"),
    (
        "automatic_function_calling",
        "the Gemini SDK's function calling loop",
    ),
    ("tool_config", "Gemini tool config (use the agent's tools)"),
    ("tools", "tools (list them under the agent's `tools:`)"),
    (
        "system_instruction",
        "a system instruction (use the agent's `instruction:`)",
    ),
    (
        "thinking_config",
        "Gemini thinking config (for OpenAI-compatible reasoning models set reasoning_effort)",
    ),
    (
        "response_logprobs",
        "Gemini log probabilities (use logprobs)",
    ),
    ("enable_enhanced_civic_answers", "a Gemini-only option"),
    ("image_config", "Gemini image output"),
];

/// OpenAI chat-completions parameters accepted as written.
const OPENAI_NAMES: &[&str] = &[
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "reasoning_effort",
    "response_format",
    "logit_bias",
    "logprobs",
    "top_logprobs",
];

/// `maxOutputTokens` → `max_output_tokens`.
fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The request parameters for `config`, or (field, reason) for the first one that cannot go.
pub fn translate(
    config: &Map<String, Value>,
    to: &Destination<'_>,
) -> Result<Map<String, Value>, (String, String)> {
    let mut params = Map::new();
    for (written, value) in config {
        let name = snake_case(written);
        let field = format!("generate_content_config.{written}");
        let refuse = |why: String| Err((field.clone(), why));
        if let Some((_, what)) = GEMINI_ONLY.iter().find(|(n, _)| *n == name) {
            return refuse(format!(
                "{what} has no equivalent in the OpenAI-compatible request this proxy sends; remove it"
            ));
        }
        match name.as_str() {
            "max_output_tokens" => {
                params.insert("max_tokens".into(), value.clone());
            }
            "stop_sequences" => {
                params.insert("stop".into(), value.clone());
            }
            "candidate_count" => match value.as_u64() {
                Some(1) => {}
                _ => {
                    return refuse(
                        "an agent continues with one answer; only 1 is allowed".to_string(),
                    );
                }
            },
            "top_k" if to.strict_openai() => {
                return refuse(format!(
                    "the provider at {} does not accept top_k (Ollama and self-hosted servers such as vLLM or llama.cpp do)",
                    to.base_url
                ));
            }
            "top_k" => {
                params.insert("top_k".into(), value.clone());
            }
            "response_mime_type" => match value.as_str() {
                Some("application/json") => {
                    params
                        .entry("response_format")
                        .or_insert_with(|| json!({"type": "json_object"}));
                }
                Some("text/plain") => {}
                _ => {
                    return refuse(format!(
                        "{value} is not supported; use application/json or text/plain"
                    ));
                }
            },
            "response_schema" | "response_json_schema" => {
                params.insert(
                    "response_format".into(),
                    json!({"type": "json_schema", "json_schema": {"name": "response", "schema": value}}),
                );
            }
            "options" if to.kind == ProviderKind::Ollama => {
                params.insert("options".into(), value.clone());
            }
            // Anthropic's API has no counterpart for these (the adapter refuses them per
            // request, so an agent that sets them would fail on every turn).
            "seed" | "presence_penalty" | "frequency_penalty" | "logit_bias" | "logprobs"
            | "top_logprobs"
                if to.kind == ProviderKind::Anthropic =>
            {
                return refuse(format!(
                    "Anthropic's API (provider kind anthropic) has no `{name}`; remove it"
                ));
            }
            known if OPENAI_NAMES.contains(&known) => {
                params.insert(known.to_string(), value.clone());
            }
            _ => {
                return refuse(format!(
                    "not a generation parameter this proxy knows (known: max_output_tokens, stop_sequences, top_k, candidate_count, response_mime_type, response_schema, {})",
                    OPENAI_NAMES.join(", ")
                ));
            }
        }
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    const LOCAL: Destination<'static> = Destination {
        kind: ProviderKind::Openai,
        base_url: "http://127.0.0.1:8080/v1",
    };

    #[test]
    fn gemini_names_in_either_spelling_become_openai_parameters() {
        let params = translate(
            &map(
                json!({"maxOutputTokens": 100, "stop_sequences": ["END"], "topK": 40,
                "candidateCount": 1, "temperature": 0.2, "responseMimeType": "application/json"}),
            ),
            &LOCAL,
        )
        .expect("translates");
        assert_eq!(
            Value::Object(params),
            json!({"max_tokens": 100, "stop": ["END"], "top_k": 40, "temperature": 0.2,
                "response_format": {"type": "json_object"}})
        );
    }

    #[test]
    fn what_a_provider_cannot_take_is_refused_by_name() {
        let openai = Destination {
            kind: ProviderKind::Openai,
            base_url: "https://api.openai.com/v1",
        };
        let (field, why) = translate(&map(json!({"top_k": 40})), &openai).unwrap_err();
        assert_eq!(field, "generate_content_config.top_k");
        assert!(why.contains("top_k"), "{why}");
        let (field, _) = translate(&map(json!({"safetySettings": []})), &LOCAL).unwrap_err();
        assert_eq!(field, "generate_content_config.safetySettings");
        let (_, why) = translate(&map(json!({"candidate_count": 2})), &LOCAL).unwrap_err();
        assert!(why.contains("one answer"), "{why}");
        let (_, why) = translate(&map(json!({"temprature": 1})), &LOCAL).unwrap_err();
        assert!(why.contains("not a generation parameter"), "{why}");
        let claude = Destination {
            kind: ProviderKind::Anthropic,
            base_url: "https://api.anthropic.com/v1",
        };
        let (field, why) = translate(&map(json!({"frequencyPenalty": 0.5})), &claude).unwrap_err();
        assert_eq!(field, "generate_content_config.frequencyPenalty");
        assert!(why.contains("Anthropic"), "{why}");
        let params = translate(&map(json!({"topK": 40, "maxOutputTokens": 64})), &claude)
            .expect("Claude takes top_k and a token limit");
        assert_eq!(
            Value::Object(params),
            json!({"top_k": 40, "max_tokens": 64})
        );
    }
}
