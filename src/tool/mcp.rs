//! MCP toolsets: an agent's `- name: mcp` entry connects to a Model Context Protocol server — over
//! stdio (`command`, `args`, `env`) or streamable HTTP (`url`, `headers`, `headers_env`) — with
//! the official Rust SDK (rmcp), lists its tools (`tool_filter` globs pick some) and offers them to
//! the model with their own schemas.
//!
//! The connection starts on first use (start-up never waits for a server), is shared by every
//! request, and is dropped when a call fails so the next use starts a fresh one (a crashed stdio
//! server is restarted). Every call has a time limit: a dead or hanging server gives the model a
//! tool error, never a stuck request. A stdio server is killed when the proxy exits.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::service::{Peer, RoleClient, RunningService};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{Tool, ToolContext, ToolFuture, ToolRegistry};

pub fn register(registry: &mut ToolRegistry) {
    registry.register(
        "mcp",
        Arc::new(|args: &Value| Ok(Arc::new(McpToolset::from_args(args)?) as Arc<dyn Tool>)),
    );
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    /// A label for logs and errors; defaults to the command or URL.
    name: Option<String>,
    command: Option<String>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: HashMap<String, String>,
    url: Option<String>,
    #[serde(default)]
    headers: HashMap<String, String>,
    #[serde(default)]
    headers_env: HashMap<String, String>,
    #[serde(default)]
    tool_filter: Vec<String>,
    timeout_secs: Option<f64>,
}

enum Endpoint {
    Stdio {
        command: String,
        args: Vec<String>,
        env: HashMap<String, String>,
    },
    Http {
        url: String,
        headers: Vec<(String, String)>,
    },
}

type Client = RunningService<RoleClient, ()>;

/// One MCP server, as a set of tools.
pub struct McpToolset {
    label: String,
    endpoint: Endpoint,
    filter: Vec<String>,
    timeout: Duration,
    connection: tokio::sync::Mutex<Option<Connected>>,
}

struct Connected {
    client: Client,
    tools: Vec<Arc<dyn Tool>>,
}

impl McpToolset {
    fn from_args(args: &Value) -> Result<Self, String> {
        let s: Settings = serde_json::from_value(args.clone()).map_err(|e| {
            format!("args: {e} (stdio: command, args, env; HTTP: url, headers, headers_env; both: name, tool_filter, timeout_secs)")
        })?;
        let endpoint = match (&s.command, &s.url) {
            (Some(command), None) => Endpoint::Stdio {
                command: command.clone(),
                args: s.args.clone(),
                env: s.env.clone(),
            },
            (None, Some(url)) => {
                let parsed = reqwest::Url::parse(url).map_err(|e| format!("args.url: {e}"))?;
                if !matches!(parsed.scheme(), "http" | "https") {
                    return Err("args.url: must be an http(s) URL".into());
                }
                let mut headers: Vec<(String, String)> = s.headers.clone().into_iter().collect();
                for (name, var) in &s.headers_env {
                    let value = std::env::var(var).map_err(|_| {
                        format!("args.headers_env.{name}: variable {var} is not set")
                    })?;
                    headers.push((name.clone(), value));
                }
                Endpoint::Http {
                    url: url.clone(),
                    headers,
                }
            }
            _ => return Err("args: set exactly one of command (stdio) or url (HTTP)".into()),
        };
        let label = s
            .name
            .clone()
            .or(s.command.clone())
            .or(s.url.clone())
            .unwrap_or_else(|| "mcp".into());
        Ok(Self {
            label,
            endpoint,
            filter: s.tool_filter,
            timeout: Duration::from_secs_f64(s.timeout_secs.unwrap_or(30.0).max(0.1)),
            connection: tokio::sync::Mutex::new(None),
        })
    }

    async fn connect(&self) -> Result<Client, String> {
        let started = match &self.endpoint {
            Endpoint::Stdio { command, args, env } => {
                let mut cmd = tokio::process::Command::new(command);
                cmd.args(args).envs(env).kill_on_drop(true);
                let (transport, _stderr) = rmcp::transport::TokioChildProcess::builder(cmd)
                    .stderr(std::process::Stdio::inherit())
                    .spawn()
                    .map_err(|e| format!("cannot start '{command}': {e}"))?;
                ().serve(transport).await.map_err(|e| e.to_string())
            }
            Endpoint::Http { url, headers } => {
                use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
                let mut custom = HashMap::new();
                for (name, value) in headers {
                    let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
                        .map_err(|e| format!("header '{name}': {e}"))?;
                    let value = reqwest::header::HeaderValue::from_str(value)
                        .map_err(|e| format!("header value: {e}"))?;
                    custom.insert(name, value);
                }
                let config = StreamableHttpClientTransportConfig::with_uri(url.as_str())
                    .custom_headers(custom_headers(custom)?);
                let transport = rmcp::transport::StreamableHttpClientTransport::from_config(config);
                ().serve(transport).await.map_err(|e| e.to_string())
            }
        };
        started.map_err(|e| format!("MCP server '{}' did not start: {e}", self.label))
    }

    /// The live connection and its tools, connecting (or reconnecting) when needed.
    async fn tools(self: &Arc<Self>) -> Result<Vec<Arc<dyn Tool>>, String> {
        let mut guard = self.connection.lock().await;
        if let Some(connected) = guard.as_ref()
            && !connected.client.is_closed()
        {
            return Ok(connected.tools.clone());
        }
        let work = async {
            let client = self.connect().await?;
            let listed =
                client.peer().list_all_tools().await.map_err(|e| {
                    format!("MCP server '{}': listing tools failed: {e}", self.label)
                })?;
            Ok::<_, String>((client, listed))
        };
        let (client, listed) = tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| {
                format!(
                    "MCP server '{}' did not answer within {:.0} s",
                    self.label,
                    self.timeout.as_secs_f64()
                )
            })??;
        let tools: Vec<Arc<dyn Tool>> = listed
            .into_iter()
            .filter(|t| {
                self.filter.is_empty()
                    || self.filter.iter().any(|f| crate::glob::matches(f, &t.name))
            })
            .map(|t| {
                Arc::new(McpTool {
                    toolset: self.clone(),
                    name: t.name.to_string(),
                    description: t.description.as_deref().unwrap_or("").to_string(),
                    schema: Value::Object(t.input_schema.as_ref().clone()),
                }) as Arc<dyn Tool>
            })
            .collect();
        tracing::info!(server = %self.label, tools = tools.len(), "MCP server connected");
        *guard = Some(Connected {
            client,
            tools: tools.clone(),
        });
        Ok(tools)
    }

    async fn peer(&self) -> Option<Peer<RoleClient>> {
        self.connection
            .lock()
            .await
            .as_ref()
            .filter(|c| !c.client.is_closed())
            .map(|c| c.client.peer().clone())
    }

    /// Forgets a broken connection; the next use starts a new one.
    async fn reset(&self) {
        if let Some(old) = self.connection.lock().await.take() {
            tokio::spawn(async move {
                let _ = old.client.cancel().await;
            });
        }
    }

    async fn call(&self, name: &str, args: Value) -> Result<Value, String> {
        let peer = self
            .peer()
            .await
            .ok_or_else(|| format!("MCP server '{}' is not connected", self.label))?;
        let arguments = match args {
            Value::Object(map) => map,
            Value::Null => Map::new(),
            other => return Err(format!("arguments must be an object, not {other}")),
        };
        let call =
            peer.call_tool(CallToolRequestParams::new(name.to_string()).with_arguments(arguments));
        let result = match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(result)) => result,
            Ok(Err(error)) => {
                self.reset().await;
                return Err(format!("MCP server '{}': {error}", self.label));
            }
            Err(_) => {
                self.reset().await;
                return Err(format!(
                    "MCP server '{}' did not answer within {:.0} s",
                    self.label,
                    self.timeout.as_secs_f64()
                ));
            }
        };
        let text: Vec<String> = result
            .content
            .iter()
            .filter_map(|block| serde_json::to_value(block).ok())
            .filter_map(|block| {
                block
                    .get("text")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .collect();
        if result.is_error == Some(true) {
            return Err(text.join("\n"));
        }
        Ok(match result.structured_content {
            Some(structured) => structured,
            None => json!({"result": text.join("\n")}),
        })
    }
}

fn custom_headers(
    headers: HashMap<reqwest::header::HeaderName, reqwest::header::HeaderValue>,
) -> Result<HashMap<http::HeaderName, http::HeaderValue>, String> {
    headers
        .into_iter()
        .map(|(name, value)| {
            let name = http::HeaderName::from_bytes(name.as_str().as_bytes())
                .map_err(|e| e.to_string())?;
            let value =
                http::HeaderValue::from_bytes(value.as_bytes()).map_err(|e| e.to_string())?;
            Ok((name, value))
        })
        .collect()
}

impl Tool for McpToolset {
    fn name(&self) -> &str {
        &self.label
    }
    fn description(&self) -> &str {
        "MCP server"
    }
    fn parameters(&self) -> Value {
        json!({"type": "object"})
    }
    fn run<'a>(&'a self, _args: Value, _ctx: &'a mut ToolContext<'_>) -> ToolFuture<'a> {
        Box::pin(std::future::ready(Err(
            "an MCP toolset is not called itself".to_string(),
        )))
    }
    fn expand(self: Arc<Self>) -> Option<super::ExpandFuture> {
        Some(Box::pin(async move { self.tools().await }))
    }
}

/// One tool of an MCP server.
struct McpTool {
    toolset: Arc<McpToolset>,
    name: String,
    description: String,
    schema: Value,
}

impl Tool for McpTool {
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
        Box::pin(self.toolset.call(&self.name, args))
    }
}
