//! Shell-style globs (`*` any run, `?` one character) for allowed-model lists like
//! `["gpt-4o*", "ollama/*"]`. Small enough to own; no regex engine on the request path.

pub fn matches(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            backtrack = Some((pi, ti));
            pi += 1;
        } else if let Some((star, matched)) = backtrack {
            pi = star + 1;
            ti = matched + 1;
            backtrack = Some((star, matched + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn globs() {
        assert!(matches("*", "anything/at-all"));
        assert!(matches("gpt-4o*", "gpt-4o-mini"));
        assert!(matches("ollama/*", "ollama/llama3.2"));
        assert!(matches("a?c", "abc"));
        assert!(!matches("gpt-4o*", "gpt-5"));
        assert!(!matches("ollama/*", "deepseek/chat"));
        assert!(matches("*mini*", "gpt-4o-mini-2024"));
    }
}
