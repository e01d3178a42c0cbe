//! Regex replacement on a stream of text pieces that never delays text a pattern cannot need.
//!
//! A match can be split across chunks ("#1" + "23"). Text is released as soon as it can no longer
//! be part of a match: each piece is appended to a pending buffer, the earliest position from
//! which the pattern could still match (given more text) is found by running the pattern's lazy
//! DFA anchored at each position to the end of the buffer, and everything before it is released
//! with its complete matches replaced. So only the shortest suffix that could still become (or
//! extend) a match is held back; at the end of the stream it is released as it is.

use regex_automata::hybrid::dfa::{Cache, DFA};
use regex_automata::{Anchored, Input};

/// Held text longer than this is released anyway (a pattern such as `.*` could otherwise hold a
/// whole answer back).
pub const MAX_HELD_BYTES: usize = 512;

pub struct Replacer {
    regex: regex::Regex,
    dfa: DFA,
    template: String,
}

impl Replacer {
    /// `template` uses `$1` / `${name}` for capture groups (the `regex` crate's syntax).
    pub fn new(pattern: &str, template: &str) -> Result<Self, String> {
        let regex = regex::Regex::new(pattern).map_err(|e| e.to_string())?;
        let dfa = DFA::new(&ascii_word_boundaries(pattern)).map_err(|e| e.to_string())?;
        Ok(Self {
            regex,
            dfa,
            template: template.to_string(),
        })
    }

    /// Per-stream state for this replacer.
    pub fn stream(&self) -> HoldBack {
        HoldBack {
            pending: String::new(),
            cache: self.dfa.create_cache(),
            replaced: 0,
        }
    }

    /// Whether a match could start at `start` and still be incomplete (or grow) at the end of
    /// `text`.
    fn alive_at_end(&self, cache: &mut Cache, text: &str, start: usize) -> bool {
        let input = Input::new(text).range(start..).anchored(Anchored::Yes);
        let Ok(mut state) = self.dfa.start_state_forward(cache, &input) else {
            return true;
        };
        for &byte in &text.as_bytes()[start..] {
            state = match self.dfa.next_state(cache, state, byte) {
                Ok(next) => next,
                Err(_) => return true,
            };
            if state.is_dead() {
                return false;
            }
            if state.is_quit() {
                return true;
            }
        }
        // Alive at the end only if some further byte keeps it alive.
        (0..=255u8).any(|byte| {
            self.dfa
                .next_state(cache, state, byte)
                .map(|next| !next.is_dead())
                .unwrap_or(true)
        })
    }
}

/// Lazy DFAs cannot do Unicode word boundaries, and the built-in patterns use `\b`. The DFA only
/// decides how much text to hold back (the `regex` crate still does the matching), so ASCII word
/// boundaries serve: at the end of the pending text a boundary is undecided, so the text is held
/// either way, and a complete match in released text is still found by the real regex.
fn ascii_word_boundaries(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('b') => out.push_str("(?-u:\\b)"),
            Some('B') => out.push_str("(?-u:\\B)"),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

pub struct HoldBack {
    pending: String,
    cache: Cache,
    /// Matches replaced so far (for "redacted 2 …" notes).
    pub replaced: usize,
}

impl HoldBack {
    /// Adds a piece; returns the text that can be released now.
    pub fn push(&mut self, replacer: &Replacer, piece: &str) -> String {
        self.pending.push_str(piece);
        let text = std::mem::take(&mut self.pending);
        let mut cut = text.len();
        let floor = text.len().saturating_sub(MAX_HELD_BYTES);
        for (start, _) in text.char_indices().filter(|(i, _)| *i >= floor) {
            if replacer.alive_at_end(&mut self.cache, &text, start) {
                cut = start;
                break;
            }
        }
        // A complete match that crosses the cut is released whole, not split.
        for m in replacer.regex.find_iter(&text) {
            if m.start() < cut && m.end() > cut {
                cut = m.start();
            }
        }
        let (ready, held) = text.split_at(cut);
        self.pending = held.to_string();
        self.replace(replacer, ready)
    }

    /// Releases everything still held (end of the answer).
    pub fn finish(&mut self, replacer: &Replacer) -> String {
        let text = std::mem::take(&mut self.pending);
        self.replace(replacer, &text)
    }

    fn replace(&mut self, replacer: &Replacer, text: &str) -> String {
        if text.is_empty() {
            return String::new();
        }
        let count = replacer.regex.find_iter(text).count();
        if count == 0 {
            return text.to_string();
        }
        self.replaced += count;
        replacer
            .regex
            .replace_all(text, replacer.template.as_str())
            .into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(pattern: &str, template: &str, pieces: &[&str]) -> Vec<String> {
        let replacer = Replacer::new(pattern, template).expect("pattern");
        let mut state = replacer.stream();
        let mut out: Vec<String> = pieces.iter().map(|p| state.push(&replacer, p)).collect();
        out.push(state.finish(&replacer));
        out
    }

    #[test]
    fn matches_split_across_chunks_are_replaced_and_nothing_else_waits() {
        let out = run(
            r"#(\d+)",
            "[#$1](https://t/$1)",
            &["see #1", "2", "3 and more", " text"],
        );
        assert_eq!(
            out,
            ["see ", "", "[#123](https://t/123) and more", " text", ""]
        );
        let out = run(r"#(\d+)", "<$1>", &["plain text ", "no hash"]);
        assert_eq!(out, ["plain text ", "no hash", ""]);
    }

    #[test]
    fn word_boundaries_and_non_ascii_text_work() {
        let out = run(r"\b\d{4} \d{4}\b", "[card]", &["Карта 4111 ", "1111 и всё"]);
        assert_eq!(out.concat(), "Карта [card] и всё");
        assert_eq!(out[0], "Карта ", "Cyrillic text is not held back");
        assert_eq!(
            super::ascii_word_boundaries(r"\bx\\b\B"),
            r"(?-u:\b)x\\b(?-u:\B)"
        );
    }

    #[test]
    fn a_match_split_over_three_chunks_and_a_dangling_prefix_at_the_end() {
        let out = run(
            r"[a-z]+@[a-z]+\.com",
            "[email]",
            &["mail bob", "@exam", "ple.com now", " #"],
        );
        assert_eq!(out.concat(), "mail [email] now #");
        assert_eq!(
            out[0], "mail ",
            "only the word that could start an address is held"
        );
        let out = run(r"secret", "***", &["the sec"]);
        assert_eq!(
            out,
            ["the ", "sec"],
            "an unfinished prefix is released at the end"
        );
    }
}
