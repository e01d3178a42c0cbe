//! The `webhook` stage: how users without Rust extend the pipeline. Request phase: the proxy
//! POSTs the request and applies the JSON that comes back — `{"messages": [...]}` replaces the
//! conversation, `{"block": true, "message": "..."}` answers with a refusal, `{"note": "..."}`
//! shows a line in the reasoning; anything else (or `{}`) changes nothing. Stream phase: the
//! finished answer is POSTed after the client has it (notification only).
//!
//! A webhook that fails or exceeds its timeout is either skipped (`on_failure: open`, the default,
//! with a reasoning line and a warning) or stops the request with a 503 (`on_failure: closed`).

use std::time::Duration;

use serde_json::Value;

use super::Args;

/// Longest webhook answer read (it may carry replacement messages, so it is generous).
const MAX_ANSWER_BYTES: usize = 8 * 1024 * 1024;

pub struct Webhook {
    url: reqwest::Url,
    timeout: Duration,
    pub fail_open: bool,
    headers: Vec<(String, String)>,
    http: reqwest::Client,
}

impl Webhook {
    pub fn compile(args: &Args, http: reqwest::Client) -> Result<Self, String> {
        args.only(&["url", "timeout_ms", "on_failure", "headers_env"])?;
        let url = args.required_string("url")?;
        let url = reqwest::Url::parse(&url).map_err(|e| args.fail("url", e))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(args.fail("url", "must be an http(s) URL"));
        }
        let fail_open = args.one_of("on_failure", &["open", "closed"], "open")? == "open";
        // headers_env: {Header-Name: ENV_VAR}: secrets stay out of the settings file.
        let mut headers = Vec::new();
        if let Some(map) = args.value("headers_env") {
            let Some(map) = map.as_object() else {
                return Err(args.fail("headers_env", "expected {Header-Name: ENV_VAR}"));
            };
            for (name, var) in map {
                let var = var
                    .as_str()
                    .ok_or_else(|| args.fail("headers_env", "values are variable names"))?;
                let value = std::env::var(var)
                    .map_err(|_| args.fail("headers_env", format!("variable {var} is not set")))?;
                headers.push((name.clone(), value));
            }
        }
        Ok(Self {
            url,
            timeout: args.duration_ms("timeout_ms", 3000)?,
            fail_open,
            headers,
            http,
        })
    }

    pub fn url(&self) -> &str {
        self.url.as_str()
    }

    /// POSTs `body`; the answer's JSON (or `{}` for an empty body).
    pub async fn call(&self, body: &Value) -> Result<Value, String> {
        let mut request = self
            .http
            .post(self.url.clone())
            .json(body)
            .timeout(self.timeout);
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        let response = request.send().await.map_err(|e| {
            if e.is_timeout() {
                format!("no answer within {} ms", self.timeout.as_millis())
            } else {
                format!("request failed: {e}")
            }
        })?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("answered HTTP {}", status.as_u16()));
        }
        let (bytes, truncated) = crate::llm::http::read_bounded(response, MAX_ANSWER_BYTES).await;
        if truncated {
            return Err(format!("answer is larger than {MAX_ANSWER_BYTES} bytes"));
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Object(Default::default()));
        }
        serde_json::from_slice(&bytes).map_err(|e| format!("answer is not JSON: {e}"))
    }
}
