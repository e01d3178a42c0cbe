//! Instruction templating, as ADK does it: `{key}` is replaced by the state value, `{key?}` by
//! the value or nothing, `{user:key}` / `{app:key}` / `{temp:key}` read the scoped keys. Braces
//! around anything that is not a state name (JSON examples in a prompt, `{ }`) stay as written.
//! A missing required key is an error that names the key and the agent.

use serde_json::{Map, Value};

/// What a template may not use, found when the agent loads: ADK's `{artifact.name}` inserts an
/// artifact's text, and this runtime keeps no artifacts — left as literal text, the model would
/// get the placeholder instead of the content.
pub fn check(template: &str) -> Result<(), String> {
    let mut rest = template;
    while let Some(open) = rest.find("{artifact.") {
        let after = &rest[open + 1..];
        let name = after.split(['}', '{']).next().unwrap_or(after);
        if after.as_bytes().get(name.len()) == Some(&b'}') {
            return Err(format!(
                "{{{name}}}: artifacts are not supported by this runtime; put the text in the instruction or in session state"
            ));
        }
        rest = after;
    }
    Ok(())
}

pub fn render(template: &str, state: &Map<String, Value>, agent: &str) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after
            .find(['}', '{'])
            .filter(|&i| after.as_bytes()[i] == b'}')
        else {
            out.push('{');
            rest = after;
            continue;
        };
        let inner = &after[..close];
        let (name, optional) = match inner.strip_suffix('?') {
            Some(name) => (name, true),
            None => (inner, false),
        };
        if !is_state_name(name) {
            out.push('{');
            out.push_str(inner);
            out.push('}');
        } else {
            match state.get(name) {
                Some(Value::String(text)) => out.push_str(text),
                Some(Value::Null) | None if optional => {}
                Some(Value::Null) | None => {
                    return Err(format!(
                        "agent '{agent}': the instruction uses {{{name}}} but the session state has no '{name}' (write {{{name}?}} if it may be missing)"
                    ));
                }
                Some(other) => out.push_str(&other.to_string()),
            }
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// An identifier, optionally with one of the scope prefixes.
fn is_state_name(name: &str) -> bool {
    let bare = ["app:", "user:", "temp:"]
        .iter()
        .find_map(|p| name.strip_prefix(p))
        .unwrap_or(name);
    let mut chars = bare.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::{check, render};
    use serde_json::{Map, Value, json};

    #[test]
    fn artifact_placeholders_are_refused_and_other_braces_pass() {
        let error = check("Summarise {artifact.report.txt} for {user}").unwrap_err();
        assert!(
            error.contains("{artifact.report.txt}") && error.contains("not supported"),
            "{error}"
        );
        assert!(check("JSON like {\"artifact.x\": 1} and {artifact.open").is_ok());
    }

    fn state(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn keys_scopes_optional_and_literal_braces() {
        let s = state(json!({"topic": "rust", "user:name": "Ann", "n": 3}));
        let out = render(
            "Topic {topic} for {user:name} x{n}{missing?}. JSON: {\"a\": 1} and { } {not a key}",
            &s,
            "a",
        )
        .expect("renders");
        assert_eq!(
            out,
            "Topic rust for Ann x3. JSON: {\"a\": 1} and { } {not a key}"
        );
    }

    #[test]
    fn missing_required_key_names_key_and_agent() {
        let error = render("Plan: {plan}", &Map::new(), "writer").expect_err("missing");
        assert!(
            error.contains("'plan'") && error.contains("writer"),
            "{error}"
        );
    }
}
