//! An agent's stderr as log lines: [`LogSplitter`] cuts the attach stream's frames into
//! [`LogLine`]s under the log caps of [`Limits`], which the relayer stores in
//! `execution_logs` as the run goes.

use nexus_store::LogStream;

use crate::docker::Limits;

/// One line of an execution's log, as `execution_logs.stream` records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogLine {
    /// Written by the agent on stderr.
    Stderr(String),
    /// Written by the relayer about the run (caps reached, why it failed). Kept apart by type,
    /// never by content: an agent printing "[relayer] ..." still writes a stderr line.
    System(String),
}

impl LogLine {
    /// `execution_logs.stream`.
    pub fn stream(&self) -> LogStream {
        match self {
            LogLine::Stderr(_) => LogStream::Stderr,
            LogLine::System(_) => LogStream::System,
        }
    }

    pub fn text(&self) -> &str {
        match self {
            LogLine::Stderr(t) | LogLine::System(t) => t,
        }
    }

    /// (`stream`, text), as a row of `execution_logs` takes them.
    pub fn into_parts(self) -> (LogStream, String) {
        let stream = self.stream();
        match self {
            LogLine::Stderr(t) | LogLine::System(t) => (stream, t),
        }
    }
}

/// Cuts an agent's stderr frames into log lines under the log caps ([`Limits::log_bytes`],
/// [`Limits::log_lines`], [`Limits::log_line_bytes`]). Pure, so the caps are unit-tested.
///
/// Lines are text for PostgreSQL: invalid UTF-8 becomes U+FFFD and NUL (which a `TEXT` column
/// refuses, failing the whole batch) is dropped.
#[derive(Debug)]
pub struct LogSplitter {
    pending: Vec<u8>,
    bytes_left: usize,
    lines_left: usize,
    line_max: usize,
    truncated: bool,
}

impl LogSplitter {
    pub fn new(limits: &Limits) -> Self {
        LogSplitter {
            pending: Vec::new(),
            bytes_left: limits.log_bytes,
            lines_left: limits.log_lines,
            line_max: limits.log_line_bytes,
            truncated: false,
        }
    }

    /// The lines `frame` completes (and, once, the note that a cap was reached).
    pub fn push(&mut self, frame: &[u8]) -> Vec<LogLine> {
        let mut out = Vec::new();
        if self.truncated {
            return out;
        }
        let take = frame.len().min(self.bytes_left);
        self.bytes_left -= take;
        self.pending.extend_from_slice(&frame[..take]);
        while let Some(pos) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=pos).collect();
            self.emit(&line[..line.len() - 1], &mut out);
        }
        if self.pending.len() > self.line_max {
            let line = std::mem::take(&mut self.pending);
            self.emit(&line, &mut out);
        }
        if take < frame.len() {
            // The byte cap cut this frame: everything from here on is dropped.
            self.truncate(&mut out);
        }
        out
    }

    /// The last, unterminated line.
    pub fn finish(&mut self) -> Option<LogLine> {
        let line = std::mem::take(&mut self.pending);
        let mut out = Vec::new();
        if !line.is_empty() {
            self.emit(&line, &mut out);
        }
        out.pop()
    }

    fn emit(&mut self, line: &[u8], out: &mut Vec<LogLine>) {
        if self.lines_left == 0 {
            self.truncate(out);
            return;
        }
        self.lines_left -= 1;
        let line = &line[..line.len().min(self.line_max)];
        let text: String =
            String::from_utf8_lossy(line).trim_end_matches('\r').chars().filter(|&c| c != '\0').collect();
        out.push(LogLine::Stderr(text));
    }

    fn truncate(&mut self, out: &mut Vec<LogLine>) {
        if !self.truncated {
            self.truncated = true;
            self.pending.clear();
            out.push(LogLine::System("[relayer] log cap reached, further lines dropped".into()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(bytes: usize, lines: usize, line_bytes: usize) -> Limits {
        Limits { log_bytes: bytes, log_lines: lines, log_line_bytes: line_bytes, ..Limits::default() }
    }

    fn texts(lines: &[LogLine]) -> Vec<(&'static str, &str)> {
        lines.iter().map(|l| (l.stream().as_str(), l.text())).collect()
    }

    #[test]
    fn lines_are_split_across_frames() {
        let mut split = LogSplitter::new(&Limits::default());
        assert!(split.push(b"hel").is_empty());
        assert_eq!(texts(&split.push(b"lo\r\nwor")), [("stderr", "hello")]);
        assert_eq!(split.finish(), Some(LogLine::Stderr("wor".into())));
        assert_eq!(split.finish(), None);
    }

    #[test]
    fn empty_lines_hit_the_line_cap() {
        let mut split = LogSplitter::new(&limits(1 << 20, 3, 100));
        let out = split.push(&[b'\n'; 10_000]);
        assert_eq!(
            texts(&out),
            [
                ("stderr", ""),
                ("stderr", ""),
                ("stderr", ""),
                ("system", "[relayer] log cap reached, further lines dropped")
            ]
        );
        assert!(split.push(b"more\n").is_empty(), "nothing after the cap");
        assert_eq!(split.finish(), None);
    }

    #[test]
    fn byte_cap_cuts_and_says_so_once() {
        let mut split = LogSplitter::new(&limits(8, 100, 100));
        let out = split.push(b"abc\ndefghij\n");
        assert_eq!(texts(&out), [("stderr", "abc"), ("system", "[relayer] log cap reached, further lines dropped")]);
        assert!(split.push(b"x\n").is_empty());
        // Exactly at the cap nothing is dropped, so nothing is said.
        let mut split = LogSplitter::new(&limits(4, 100, 100));
        assert_eq!(texts(&split.push(b"abc\n")), [("stderr", "abc")]);
    }

    #[test]
    fn long_lines_are_cut_and_text_is_safe_for_postgres() {
        let mut split = LogSplitter::new(&limits(1 << 20, 100, 4));
        assert_eq!(texts(&split.push(b"abcdefgh")), [("stderr", "abcd")]);
        assert_eq!(texts(&split.push(b"\n")), [("stderr", "")]);
        assert_eq!(texts(&split.push(b"a\0b\xffc\n")), [("stderr", "ab\u{fffd}")]);
        // An agent cannot write system lines by imitating them.
        assert_eq!(texts(&split.push(b"[relayer] fake\n")), [("stderr", "[rel")]);
    }
}
