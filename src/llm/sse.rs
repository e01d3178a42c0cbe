//! A minimal Server-Sent Events reader for upstream streams.
//!
//! Only `data:` matters for chat completions: multi-line data is joined with `\n`, comments and
//! `event:`/`id:`/`retry:` fields are skipped, `\r\n` line endings are accepted. Lines may be split
//! across network reads at any byte, so bytes are buffered until a newline arrives.

use bytes::{Buf, BytesMut};

/// Incremental parser: feed bytes, take out complete `data` payloads.
#[derive(Default)]
pub struct SseParser {
    buffer: BytesMut,
    data: Option<String>,
}

impl SseParser {
    /// Appends `bytes` and pushes every event completed by them onto `out`.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<String>) {
        self.buffer.extend_from_slice(bytes);
        while let Some(newline) = self.buffer.iter().position(|&b| b == b'\n') {
            let line = self.buffer.split_to(newline + 1);
            let mut line = &line[..newline];
            if line.last() == Some(&b'\r') {
                line = &line[..line.len() - 1];
            }
            self.line(line, out);
        }
    }

    /// At end of input: an event that was not followed by a blank line still counts.
    pub fn finish(&mut self, out: &mut Vec<String>) {
        if !self.buffer.is_empty() {
            let rest = self.buffer.split();
            let line = rest.chunk();
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            self.line(line, out);
        }
        if let Some(data) = self.data.take() {
            out.push(data);
        }
    }

    fn line(&mut self, line: &[u8], out: &mut Vec<String>) {
        if line.is_empty() {
            if let Some(data) = self.data.take() {
                out.push(data);
            }
            return;
        }
        let Some(value) = line.strip_prefix(b"data:") else {
            return; // comment, event:, id:, retry: or unknown field
        };
        let value = value.strip_prefix(b" ").unwrap_or(value);
        let value = String::from_utf8_lossy(value);
        match &mut self.data {
            Some(data) => {
                data.push('\n');
                data.push_str(&value);
            }
            None => self.data = Some(value.into_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_at_any_byte_are_reassembled() {
        let input =
            b": hi\r\ndata: {\"a\":1}\r\n\r\nevent: x\ndata: one\ndata: two\n\ndata: [DONE]\n\n";
        for split in 0..input.len() {
            let mut parser = SseParser::default();
            let mut out = Vec::new();
            parser.feed(&input[..split], &mut out);
            parser.feed(&input[split..], &mut out);
            parser.finish(&mut out);
            assert_eq!(
                out,
                vec!["{\"a\":1}", "one\ntwo", "[DONE]"],
                "split at {split}"
            );
        }
    }

    #[test]
    fn trailing_event_without_blank_line_counts() {
        let mut parser = SseParser::default();
        let mut out = Vec::new();
        parser.feed(b"data: last", &mut out);
        parser.finish(&mut out);
        assert_eq!(out, vec!["last"]);
    }
}
