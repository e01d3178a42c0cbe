//! `http_request`: a tool declared in YAML that calls one HTTP endpoint — how a team connects its
//! tracker or wiki (the original tool connected GitLab and YouTrack) without writing Rust:
//!
//! ```yaml
//! tools:
//!   - name: http_request
//!     args:
//!       name: find_issue
//!       description: Look up an issue in the tracker by its id.
//!       method: GET
//!       url: "https://youtrack.example.com/api/issues/{id}?fields=summary,description"
//!       parameters:
//!         id: { type: string, description: "Issue id, e.g. PRJ-42" }
//!       headers_env: { Authorization: YOUTRACK_AUTH }   # the variable holds "Bearer …"
//!       # body: '{"query": "{query}"}'                   # for POST/PUT, same placeholders
//! ```
//!
//! `{param}` in the URL is percent-encoded, in the body JSON-escaped. The operator chose the URL,
//! so internal hosts are allowed (unlike `fetch_url`, where the model chooses).

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{Tool, ToolContext, ToolFuture, ToolRegistry};
use crate::llm::http::read_bounded;

pub fn register(registry: &mut ToolRegistry) {
    registry.register("http_request", Arc::new(|args: &Value| build(args)));
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    name: String,
    description: String,
    #[serde(default = "get")]
    method: String,
    url: String,
    #[serde(default)]
    parameters: Map<String, Value>,
    #[serde(default)]
    headers: Map<String, Value>,
    #[serde(default)]
    headers_env: Map<String, Value>,
    body: Option<String>,
    timeout_secs: Option<f64>,
    max_bytes: Option<usize>,
}

fn get() -> String {
    "GET".into()
}

fn build(args: &Value) -> Result<Arc<dyn Tool>, String> {
    let s: Settings = serde_json::from_value(args.clone()).map_err(|e| {
        format!("args: {e} (needs name, description, url; optional method, parameters, headers, headers_env, body, timeout_secs, max_bytes)")
    })?;
    let valid_name = !s.name.is_empty()
        && s.name.len() <= 64
        && s.name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !valid_name {
        return Err(format!(
            "args.name: '{}' must be letters, digits, '_' or '-'",
            s.name
        ));
    }
    let method = reqwest::Method::from_bytes(s.method.to_ascii_uppercase().as_bytes())
        .map_err(|_| format!("args.method: '{}' is not an HTTP method", s.method))?;
    let sample: Map<String, Value> = placeholders(&s.url)
        .into_iter()
        .map(|name| (name, Value::String("x".into())))
        .collect();
    let probe = fill(&s.url, &sample, Encoding::Url)?;
    reqwest::Url::parse(&probe).map_err(|e| format!("args.url: {e}"))?;
    for placeholder in placeholders(&s.url)
        .into_iter()
        .chain(s.body.as_deref().map(placeholders).unwrap_or_default())
    {
        if !s.parameters.contains_key(&placeholder) {
            return Err(format!(
                "args.parameters: '{{{placeholder}}}' is used but not declared"
            ));
        }
    }
    let mut headers = Vec::new();
    for (name, value) in &s.headers {
        let value = value
            .as_str()
            .ok_or(format!("args.headers.{name}: expected a string"))?;
        headers.push((name.clone(), value.to_string()));
    }
    for (name, var) in &s.headers_env {
        let var = var
            .as_str()
            .ok_or(format!("args.headers_env.{name}: expected a variable name"))?;
        let value = std::env::var(var)
            .map_err(|_| format!("args.headers_env.{name}: variable {var} is not set"))?;
        headers.push((name.clone(), value));
    }
    let required: Vec<&String> = s.parameters.keys().collect();
    let schema = json!({"type": "object", "properties": s.parameters, "required": required});
    let timeout = Duration::from_secs_f64(s.timeout_secs.unwrap_or(15.0).max(0.1));
    Ok(Arc::new(HttpRequest {
        client: reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| e.to_string())?,
        name: s.name,
        description: s.description,
        method,
        url: s.url,
        body: s.body,
        headers,
        schema,
        max_bytes: s.max_bytes.unwrap_or(100_000),
    }))
}

pub struct HttpRequest {
    client: reqwest::Client,
    name: String,
    description: String,
    method: reqwest::Method,
    url: String,
    body: Option<String>,
    headers: Vec<(String, String)>,
    schema: Value,
    max_bytes: usize,
}

#[derive(Clone, Copy)]
enum Encoding {
    Url,
    Json,
}

fn placeholders(template: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close)
                if after[..close]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && close > 0 =>
            {
                out.push(after[..close].to_string());
                rest = &after[close + 1..];
            }
            _ => rest = after,
        }
    }
    out
}

/// Fills `{name}` placeholders in one pass over the template, so a value that itself contains
/// `{other}` is never substituted again. In a URL, a placeholder before the `?` is one path
/// segment whatever its value: `/` is percent-encoded and the dot segments `.` and `..` (which URL
/// parsing would resolve, escaping the operator's path) are refused, as is an empty segment.
fn fill(template: &str, args: &Map<String, Value>, encoding: Encoding) -> Result<String, String> {
    let known = placeholders(template);
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let name = after
            .find('}')
            .map(|close| &after[..close])
            .filter(|name| known.iter().any(|k| k == name));
        let Some(name) = name else {
            out.push_str(&rest[..=open]);
            rest = after;
            continue;
        };
        out.push_str(&rest[..open]);
        let value = match args.get(name) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        let in_path = matches!(encoding, Encoding::Url) && !out.contains('?');
        if in_path && matches!(value.as_str(), "" | "." | "..") {
            return Err(format!(
                "parameter '{name}' must be a non-empty path segment other than '.' and '..'"
            ));
        }
        out.push_str(&match encoding {
            Encoding::Url => url_encode(&value),
            Encoding::Json => {
                let quoted = Value::String(value).to_string();
                quoted[1..quoted.len() - 1].to_string()
            }
        });
        rest = &after[name.len() + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn url_encode(value: &str) -> String {
    let mut out = String::new();
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

impl Tool for HttpRequest {
    fn name(&self) -> &str {
        &self.name
    }
    fn description(&self) -> &str {
        &self.description
    }
    fn parameters(&self) -> Value {
        self.schema.clone()
    }
    fn run<'a>(&'a self, args: Value, _ctx: &'a mut ToolContext<'_>) -> ToolFuture<'a> {
        Box::pin(async move {
            let args = args.as_object().cloned().unwrap_or_default();
            let url = fill(&self.url, &args, Encoding::Url)?;
            let mut request = self.client.request(self.method.clone(), &url);
            for (name, value) in &self.headers {
                request = request.header(name, value);
            }
            if let Some(body) = &self.body {
                request = request
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(fill(body, &args, Encoding::Json)?);
            }
            let response = request
                .send()
                .await
                .map_err(|e| format!("request failed: {e}"))?;
            let status = response.status().as_u16();
            // Reading stops at the limit: a huge answer costs max_bytes of memory, not its size.
            let (bytes, truncated) = read_bounded(response, self.max_bytes).await;
            let body = &bytes[..];
            let parsed = if truncated {
                None
            } else {
                serde_json::from_slice::<Value>(body).ok()
            };
            let body =
                parsed.unwrap_or_else(|| Value::String(String::from_utf8_lossy(body).into_owned()));
            if status >= 400 {
                return Err(format!(
                    "HTTP {status}: {}",
                    body.to_string().chars().take(500).collect::<String>()
                ));
            }
            Ok(json!({"status": status, "body": body, "truncated": truncated}))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_encoded_for_their_place() {
        let args = json!({"id": "PRJ 42/x", "q": "say \"hi\""})
            .as_object()
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            fill("https://t/api/{id}?f=1", &args, Encoding::Url).as_deref(),
            Ok("https://t/api/PRJ%2042%2Fx?f=1")
        );
        assert_eq!(
            fill(r#"{"query": "{q}"}"#, &args, Encoding::Json).as_deref(),
            Ok(r#"{"query": "say \"hi\""}"#)
        );
        assert!(
            build(&json!({"name": "t", "description": "d", "url": "https://t/{nope}"})).is_err()
        );
    }
}
