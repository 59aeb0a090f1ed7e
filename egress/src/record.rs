//! One [`CallRecord`] per request the agent sends, refused or not: what the relayer turns into
//! the execution's system log lines and metrics, so a buyer sees exactly what an agent contacted.
//!
//! Records go on a bounded channel with `try_send`: the proxy must never wait on the relayer's
//! log writer (a slow database would stall the agent's requests, and an unbounded queue would let
//! a refused-request loop grow memory). A record that does not fit is counted instead
//! ([`Recorder::dropped`]) so the relayer can log "N calls not recorded" rather than lose them
//! silently; the request budget bounds how often that can happen for allowed calls.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;

use crate::Refusal;

/// How a call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The upstream's status; the whole response reached the agent (or the agent hung up).
    Status(u16),
    /// Refused before or instead of an upstream response; the agent got `refusal.status()`.
    Refused(Refusal),
    /// The upstream's status was sent, then the body was cut (budget, timeout, upstream error).
    Cut { status: u16, refusal: Refusal },
}

/// One request through the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecord {
    pub method: String,
    /// Lower-cased host from the request URL (`-` when the request had none).
    pub host: String,
    /// Path without the query (queries may be long and are the agent's data, not its target).
    pub path: String,
    pub outcome: Outcome,
    pub bytes_out: u64,
    pub bytes_in: u64,
    pub ms: u64,
}

impl fmt::Display for CallRecord {
    /// The execution-log line, e.g. `egress GET api.example/v1/x -> 200 (120 B out, 5123 B in, 41 ms)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "egress {} {}{} -> ", self.method, self.host, self.path)?;
        match &self.outcome {
            Outcome::Status(s) => write!(f, "{s}")?,
            Outcome::Refused(r) => write!(f, "refused {} ({r})", r.status().as_u16())?,
            Outcome::Cut { status, refusal } => write!(f, "{status}, cut ({refusal})")?,
        }
        write!(f, " ({} B out, {} B in, {} ms)", self.bytes_out, self.bytes_in, self.ms)
    }
}

/// Where a session's records go.
#[derive(Debug, Clone)]
pub struct Recorder {
    tx: mpsc::Sender<CallRecord>,
    dropped: Arc<AtomicU64>,
}

impl Recorder {
    pub fn new(tx: mpsc::Sender<CallRecord>) -> Self {
        Self { tx, dropped: Arc::new(AtomicU64::new(0)) }
    }

    pub fn record(&self, record: CallRecord) {
        if self.tx.try_send(record).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Records that did not fit in the channel (or found it closed).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(status: u16) -> CallRecord {
        CallRecord {
            method: "GET".into(),
            host: "api.test".into(),
            path: "/v1/x".into(),
            outcome: Outcome::Status(status),
            bytes_out: 10,
            bytes_in: 20,
            ms: 3,
        }
    }

    #[test]
    fn a_full_channel_counts_instead_of_blocking() {
        let (tx, mut rx) = mpsc::channel(1);
        let recorder = Recorder::new(tx);
        for status in [200, 201, 202] {
            recorder.record(call(status));
        }
        assert_eq!(recorder.dropped(), 2);
        assert_eq!(rx.try_recv().map(|r| r.outcome), Ok(Outcome::Status(200)));
    }

    #[test]
    fn log_lines_name_the_call_and_the_refusal() {
        assert_eq!(call(200).to_string(), "egress GET api.test/v1/x -> 200 (10 B out, 20 B in, 3 ms)");
        let refused = CallRecord { outcome: Outcome::Refused(Refusal::HostNotAllowed("evil.test".into())), ..call(0) };
        assert_eq!(
            refused.to_string(),
            "egress GET api.test/v1/x -> refused 403 (host evil.test is not in the agent's network policy) (10 B out, 20 B in, 3 ms)"
        );
    }
}
