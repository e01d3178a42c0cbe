//! OpenTelemetry traces over OTLP/HTTP (JSON encoding), one span per chat request with the GenAI
//! semantic-convention attributes (`gen_ai.operation.name`, `gen_ai.provider.name`,
//! `gen_ai.request.model`, `gen_ai.usage.input_tokens`, `gen_ai.usage.output_tokens`).
//!
//! Behind the `otel` cargo feature (on by default) and switched on at run time by the standard
//! variables: `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`),
//! `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_SERVICE_NAME`. An incoming W3C `traceparent` makes the
//! span a child of the caller's trace.
//!
//! Why not the opentelemetry crates: the SDK + OTLP exporter + tracing bridge add a large
//! dependency tree whose versions must move in lock-step; the proxy needs one span per request,
//! which is a few JSON objects. Spans are batched on a background task, never on the request
//! path, and dropped (counted in the log) if the collector cannot keep up.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tokio::sync::mpsc;

/// What the request path hands over; encoding happens on the exporter task.
#[derive(Debug, Clone)]
pub struct RequestSpan {
    pub trace_id: String,
    pub parent_span_id: Option<String>,
    pub start: SystemTime,
    pub end: SystemTime,
    pub provider: String,
    pub model: String,
    pub status: u16,
    pub stream: bool,
    pub request_id: String,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub time_to_first_token: Option<Duration>,
    pub error: Option<String>,
    /// The agent that served the request, its session and its model calls (agent runs only).
    pub agent: Option<String>,
    pub session_id: Option<String>,
    pub llm_calls: Option<u32>,
}

static EXPORTER: OnceLock<mpsc::Sender<RequestSpan>> = OnceLock::new();

/// Starts the exporter when the OTLP variables are set. Call inside the tokio runtime.
pub fn install_from_env() {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let endpoint = match (
        env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
        env("OTEL_EXPORTER_OTLP_ENDPOINT"),
    ) {
        (Some(traces), _) => traces,
        (None, Some(base)) => format!("{}/v1/traces", base.trim_end_matches('/')),
        (None, None) => return,
    };
    let service = env("OTEL_SERVICE_NAME").unwrap_or_else(|| "adk-llm-proxy".to_string());
    let headers: Vec<(String, String)> = env("OTEL_EXPORTER_OTLP_HEADERS")
        .map(|raw| {
            raw.split(',')
                .filter_map(|pair| pair.split_once('='))
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .collect()
        })
        .unwrap_or_default();
    let (tx, rx) = mpsc::channel(4096);
    if EXPORTER.set(tx).is_ok() {
        tracing::info!(%endpoint, "exporting OpenTelemetry traces");
        tokio::spawn(export_loop(rx, endpoint, service, headers));
    }
}

/// Queues a span; never blocks the request path.
pub fn record(span: RequestSpan) {
    if let Some(tx) = EXPORTER.get()
        && tx.try_send(span).is_err()
    {
        tracing::debug!("OTLP export queue full; span dropped");
    }
}

pub fn enabled() -> bool {
    EXPORTER.get().is_some()
}

/// `(trace id, parent span id)` from a W3C `traceparent` header, when valid.
pub fn parse_traceparent(value: &str) -> Option<(String, String)> {
    let mut parts = value.trim().split('-');
    let (_version, trace, parent) = (parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, n: usize| {
        s.len() == n && s.chars().all(|c| c.is_ascii_hexdigit()) && s.chars().any(|c| c != '0')
    };
    (hex(trace, 32) && hex(parent, 16))
        .then(|| (trace.to_ascii_lowercase(), parent.to_ascii_lowercase()))
}

async fn export_loop(
    mut rx: mpsc::Receiver<RequestSpan>,
    endpoint: String,
    service: String,
    headers: Vec<(String, String)>,
) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default();
    let mut batch = Vec::new();
    loop {
        let flush_at = tokio::time::sleep(Duration::from_secs(2));
        tokio::pin!(flush_at);
        loop {
            tokio::select! {
                span = rx.recv() => match span {
                    Some(span) => {
                        batch.push(span);
                        if batch.len() >= 512 { break; }
                    }
                    None => {
                        send(&client, &endpoint, &service, &headers, &mut batch).await;
                        return;
                    }
                },
                _ = &mut flush_at => break,
            }
        }
        send(&client, &endpoint, &service, &headers, &mut batch).await;
    }
}

async fn send(
    client: &reqwest::Client,
    endpoint: &str,
    service: &str,
    headers: &[(String, String)],
    batch: &mut Vec<RequestSpan>,
) {
    if batch.is_empty() {
        return;
    }
    let body = encode(service, batch);
    batch.clear();
    let mut request = client.post(endpoint).json(&body);
    for (k, v) in headers {
        request = request.header(k, v);
    }
    match request.send().await {
        Ok(response) if response.status().is_success() => {}
        Ok(response) => tracing::warn!(status = %response.status(), "OTLP collector refused spans"),
        Err(error) => tracing::warn!(%error, "cannot reach the OTLP collector"),
    }
}

fn nanos(t: SystemTime) -> String {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
        .to_string()
}

fn attr(key: &str, value: Value) -> Value {
    let value = match value {
        Value::String(s) => json!({"stringValue": s}),
        Value::Bool(b) => json!({"boolValue": b}),
        Value::Number(n) if n.is_u64() || n.is_i64() => json!({"intValue": n.to_string()}),
        Value::Number(n) => json!({"doubleValue": n}),
        other => json!({"stringValue": other.to_string()}),
    };
    json!({"key": key, "value": value})
}

/// The OTLP/JSON `ExportTraceServiceRequest` for a batch.
pub fn encode(service: &str, spans: &[RequestSpan]) -> Value {
    let spans: Vec<Value> = spans
        .iter()
        .map(|s| {
            let mut attributes = vec![
                attr("gen_ai.operation.name", json!("chat")),
                attr("gen_ai.provider.name", json!(s.provider)),
                attr("gen_ai.system", json!(s.provider)),
                attr("gen_ai.request.model", json!(s.model)),
                attr("http.response.status_code", json!(s.status)),
                attr("adk.request_id", json!(s.request_id)),
                attr("adk.stream", json!(s.stream)),
            ];
            if let Some(n) = s.input_tokens {
                attributes.push(attr("gen_ai.usage.input_tokens", json!(n)));
            }
            if let Some(n) = s.output_tokens {
                attributes.push(attr("gen_ai.usage.output_tokens", json!(n)));
            }
            if let Some(agent) = &s.agent {
                attributes.push(attr("gen_ai.agent.name", json!(agent)));
            }
            if let Some(session) = &s.session_id {
                attributes.push(attr("gen_ai.conversation.id", json!(session)));
            }
            if let Some(calls) = s.llm_calls {
                attributes.push(attr("adk.llm_calls", json!(calls)));
            }
            if let Some(ttft) = s.time_to_first_token {
                attributes.push(attr("adk.time_to_first_token_ms", json!(ttft.as_secs_f64() * 1000.0)));
            }
            let failed = s.status >= 400 || s.error.is_some();
            let mut span = json!({
                "traceId": s.trace_id,
                "spanId": crate::ids::random_hex(16),
                "name": format!("chat {}", s.model),
                "kind": 3,
                "startTimeUnixNano": nanos(s.start),
                "endTimeUnixNano": nanos(s.end),
                "attributes": attributes,
                "status": if failed {
                    json!({"code": 2, "message": s.error.clone().unwrap_or_else(|| format!("HTTP {}", s.status))})
                } else {
                    json!({"code": 1})
                },
            });
            if let Some(parent) = &s.parent_span_id {
                span["parentSpanId"] = json!(parent);
            }
            span
        })
        .collect();
    json!({"resourceSpans": [{
        "resource": {"attributes": [attr("service.name", json!(service))]},
        "scopeSpans": [{"scope": {"name": "adk-llm-proxy", "version": env!("CARGO_PKG_VERSION")}, "spans": spans}]
    }]})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_parsing() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(
            parse_traceparent(tp),
            Some((
                "4bf92f3577b34da6a3ce929d0e0e4736".into(),
                "00f067aa0ba902b7".into()
            ))
        );
        assert!(parse_traceparent("00-0000-11-01").is_none());
        assert!(
            parse_traceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01").is_none()
        );
    }
}
