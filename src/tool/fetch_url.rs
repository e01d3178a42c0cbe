//! `fetch_url`: lets an agent read a web page. Because the proxy often runs next to internal
//! services, it refuses loopback, private, link-local (cloud metadata) and other non-public
//! addresses unless the agent's YAML allows them, checks every redirect hop again, and connects to
//! the address it checked (no second DNS lookup an attacker could change). Size and time are
//! limited; HTML is reduced to readable text.
//!
//! `args: {allow_hosts: ["*.wikipedia.org"], allow_private: false, max_bytes: 200000,
//! timeout_secs: 10}`; without `allow_hosts` any public host may be fetched.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use futures_util::StreamExt;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Tool, ToolContext, ToolFuture, ToolRegistry};

const MAX_REDIRECTS: usize = 5;

pub fn register(registry: &mut ToolRegistry) {
    registry.register(
        "fetch_url",
        Arc::new(|args: &Value| {
            #[derive(Deserialize, Default)]
            #[serde(deny_unknown_fields, default)]
            struct Settings {
                allow_hosts: Vec<String>,
                allow_private: bool,
                max_bytes: Option<usize>,
                timeout_secs: Option<f64>,
            }
            let settings: Settings = if args.is_null() {
                Settings::default()
            } else {
                serde_json::from_value(args.clone()).map_err(|e| {
                    format!(
                        "args: {e} (known: allow_hosts, allow_private, max_bytes, timeout_secs)"
                    )
                })?
            };
            Ok(Arc::new(FetchUrl {
                allow_hosts: settings.allow_hosts,
                allow_private: settings.allow_private,
                max_bytes: settings.max_bytes.unwrap_or(200_000),
                timeout: Duration::from_secs_f64(settings.timeout_secs.unwrap_or(10.0).max(0.1)),
            }) as Arc<dyn Tool>)
        }),
    );
}

pub struct FetchUrl {
    allow_hosts: Vec<String>,
    allow_private: bool,
    max_bytes: usize,
    timeout: Duration,
}

#[derive(Deserialize, JsonSchema)]
struct FetchArgs {
    /// The http(s) URL to fetch.
    url: String,
}

impl Tool for FetchUrl {
    fn name(&self) -> &str {
        "fetch_url"
    }
    fn description(&self) -> &str {
        "Fetches a web page (http/https) and returns its text content."
    }
    fn parameters(&self) -> Value {
        super::builtins::schema_of::<FetchArgs>()
    }
    fn run<'a>(&'a self, args: Value, _ctx: &'a mut ToolContext<'_>) -> ToolFuture<'a> {
        Box::pin(async move {
            let args: FetchArgs =
                serde_json::from_value(args).map_err(|e| format!("invalid arguments: {e}"))?;
            tokio::time::timeout(self.timeout, self.fetch(&args.url))
                .await
                .map_err(|_| {
                    format!(
                        "no complete answer within {:.0} s",
                        self.timeout.as_secs_f64()
                    )
                })?
        })
    }
}

impl FetchUrl {
    async fn fetch(&self, url: &str) -> Result<Value, String> {
        let mut url = reqwest::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
        for _ in 0..=MAX_REDIRECTS {
            let address = self.check(&url).await?;
            let host = url.host_str().unwrap_or_default().to_string();
            let client = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .resolve(&host, address)
                .timeout(self.timeout)
                .user_agent("adk-llm-proxy fetch_url")
                .build()
                .map_err(|e| e.to_string())?;
            let response = client
                .get(url.clone())
                .send()
                .await
                .map_err(|e| format!("request failed: {e}"))?;
            let status = response.status();
            if status.is_redirection() {
                let location = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or("redirect without a Location")?;
                url = url
                    .join(location)
                    .map_err(|e| format!("bad redirect: {e}"))?;
                continue;
            }
            let content_type = response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let mut body = Vec::new();
            let mut truncated = false;
            let mut stream = response.bytes_stream();
            while let Some(piece) = stream.next().await {
                let piece = piece.map_err(|e| format!("reading failed: {e}"))?;
                let room = self.max_bytes.saturating_sub(body.len());
                if piece.len() > room {
                    body.extend_from_slice(&piece[..room]);
                    truncated = true;
                    break;
                }
                body.extend_from_slice(&piece);
            }
            let raw = String::from_utf8_lossy(&body);
            let looks_html = content_type.contains("html")
                || raw
                    .trim_start()
                    .get(..15)
                    .is_some_and(|s| s.to_ascii_lowercase().starts_with("<!doctype html"));
            let text = if looks_html {
                html_to_text(&raw)
            } else {
                raw.into_owned()
            };
            return Ok(json!({
                "url": url.as_str(), "status": status.as_u16(), "content_type": content_type,
                "text": text, "truncated": truncated
            }));
        }
        Err(format!("more than {MAX_REDIRECTS} redirects"))
    }

    /// The address to connect to, once the URL passed every rule.
    async fn check(&self, url: &reqwest::Url) -> Result<SocketAddr, String> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("only http and https URLs, not '{}'", url.scheme()));
        }
        let host = url.host_str().ok_or("the URL has no host")?;
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if !self.allow_hosts.is_empty()
            && !self
                .allow_hosts
                .iter()
                .any(|p| crate::glob::matches(p, bare))
        {
            return Err(format!("host '{bare}' is not in this agent's allow_hosts"));
        }
        let port = url.port_or_known_default().unwrap_or(80);
        let addresses: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::net::lookup_host((bare, port))
                .await
                .map_err(|e| format!("cannot resolve '{bare}': {e}"))?
                .collect(),
        };
        let first = *addresses
            .first()
            .ok_or(format!("'{bare}' has no address"))?;
        if !self.allow_private
            && let Some(blocked) = addresses.iter().find(|a| !is_public(a.ip()))
        {
            return Err(format!(
                "refused: '{bare}' resolves to {} (loopback, private or link-local; set allow_private to permit)",
                blocked.ip()
            ));
        }
        Ok(first)
    }
}

/// Addresses on the public internet: not loopback, private, link-local, shared, multicast,
/// unspecified or reserved.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_ipv4(v6) {
                return is_public(IpAddr::V4(v4));
            }
            let [first, second, ..] = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                // Teredo (2001:0::/32) hides its target; documentation (2001:db8::/32).
                || (first == 0x2001 && (second == 0 || second == 0xdb8)))
        }
    }
}

/// The IPv4 address an IPv6 address stands for, in every form that reaches an IPv4 host:
/// IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`), IPv4-translated
/// (`::ffff:0:a.b.c.d`), NAT64 (`64:ff9b::a.b.c.d`, `64:ff9b:1::/48`) and 6to4
/// (`2002:aabb:ccdd::`). On a NAT64 network `64:ff9b::a9fe:a9fe` is the metadata address.
fn embedded_ipv4(v6: std::net::Ipv6Addr) -> Option<std::net::Ipv4Addr> {
    let s = v6.segments();
    let low = std::net::Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(low),
        [0, 0, 0, 0, 0xffff, 0, _, _] => Some(low),
        // `::` and `::1` are IPv6's own unspecified and loopback addresses.
        [0, 0, 0, 0, 0, 0, _, _] if s[6] != 0 => Some(low),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(low),
        [0x64, 0xff9b, 1, ..] => Some(low),
        [0x2002, hi, lo, ..] => Some(std::net::Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        )),
        _ => None,
    }
}

static DROP: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"(?is)<(script|style|noscript|template|svg)\b.*?</(script|style|noscript|template|svg)\s*>|<!--.*?-->")
        .expect("constant pattern")
});
static BREAKS: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"(?i)<br\s*/?>|</(p|div|li|tr|h[1-6]|section|article|header|footer|blockquote|pre|table|ul|ol)\s*>")
        .expect("constant pattern")
});
static TAGS: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"(?s)<[^>]*>").expect("constant pattern"));

/// Readable text from HTML: scripts, styles and comments removed, block ends as line breaks,
/// tags dropped, common entities decoded, blank runs collapsed.
pub fn html_to_text(html: &str) -> String {
    let text = DROP.replace_all(html, " ");
    let text = BREAKS.replace_all(&text, "\n");
    let text = TAGS.replace_all(&text, "");
    let text = decode_entities(&text);
    let mut out = String::new();
    for line in text.lines() {
        let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
        if !line.is_empty() {
            out.push_str(&line);
            out.push('\n');
        }
    }
    out.trim_end().to_string()
}

fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let end = tail.find(';').filter(|&e| e <= 10);
        let decoded = end.and_then(|end| {
            let name = &tail[1..end];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" | "#39" => Some('\''),
                "nbsp" => Some(' '),
                _ => name
                    .strip_prefix("#x")
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .or_else(|| name.strip_prefix('#').and_then(|d| d.parse().ok()))
                    .and_then(char::from_u32),
            }?;
            Some((c, end + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &tail[len..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_and_non_public_addresses() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "::ffff:0:127.0.0.1",
            "64:ff9b::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::a9fe:a9fe",
            "2002:7f00:1::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
        ] {
            assert!(!is_public(ip.parse().expect("ip")), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700::1111",
            "64:ff9b::808:808",
            "::ffff:1.1.1.1",
        ] {
            assert!(is_public(ip.parse().expect("ip")), "{ip}");
        }
    }

    #[test]
    fn html_becomes_readable_text() {
        let html = "<html><head><style>p{}</style><script>alert(1)</script></head><body><h1>Title</h1><p>One &amp; two&nbsp;&#8212; <b>three</b></p><!-- hidden --><ul><li>a</li><li>b</li></ul></body></html>";
        assert_eq!(html_to_text(html), "Title\nOne & two — three\na\nb");
    }
}
