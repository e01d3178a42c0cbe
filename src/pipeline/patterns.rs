//! Built-in patterns for `redact` and `redact_output`: what a team usually must not send to a
//! model provider, or show in an answer.

/// (name in settings, what a note calls one, what a note calls several, regex)
pub const BUILTINS: [(&str, &str, &str, &str); 4] = [
    (
        "email",
        "e-mail address",
        "e-mail addresses",
        r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
    ),
    (
        "phone",
        "phone number",
        "phone numbers",
        // International (+49 …), national (030 …) and (area) formats; not dates or plain numbers.
        r"(?:\+\d{1,3}|\(\d{1,4}\)|\b0\d{1,4})(?:[ .-]?\d{2,4}){2,5}\b",
    ),
    (
        "card",
        "card number",
        "card numbers",
        r"\b(?:\d[ -]?){12,18}\d\b",
    ),
    (
        "api_key",
        "API key",
        "API keys",
        r"\b(?:sk-[A-Za-z0-9_-]{16,}|(?:ghp|gho|ghs|github_pat)_[A-Za-z0-9_]{20,}|AKIA[0-9A-Z]{16}|xox[abpr]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{35})",
    ),
];

pub fn builtin(name: &str) -> Option<(&'static str, &'static str, &'static str)> {
    BUILTINS
        .iter()
        .find(|(n, ..)| *n == name)
        .map(|(_, one, many, pattern)| (*one, *many, *pattern))
}

pub fn names() -> Vec<&'static str> {
    BUILTINS.iter().map(|(n, ..)| *n).collect()
}

/// "2 e-mail addresses", "1 API key".
pub fn count_phrase(count: usize, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_find_what_they_name() {
        let text = "on 2026-11-29 mail ann@example.org or call +49 30 1234 5678, card 4111 1111 1111 1111, key sk-abcdefghijklmnopqrstuvwx";
        for (name, expected) in [
            ("email", "ann@example.org"),
            ("phone", "+49 30 1234 5678"),
            ("card", "4111 1111 1111 1111"),
            ("api_key", "sk-abcdefghijklmnopqrstuvwx"),
        ] {
            let (_, _, pattern) = builtin(name).expect("builtin");
            let found = regex::Regex::new(pattern)
                .expect("pattern")
                .find(text)
                .map(|m| m.as_str().to_string());
            assert_eq!(found.as_deref(), Some(expected), "{name}");
        }
    }
}
