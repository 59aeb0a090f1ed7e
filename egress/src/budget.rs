//! Per-execution limits: request count, bytes out, bytes in, per-request timeout, total time.
//!
//! The operator sets the ceiling ([`Budget`], from the relayer config); an agent's metadata may
//! only ask for less ([`BudgetRequest`], combined with [`Budget::lowered_by`]): a listing can
//! promise buyers a tighter agent, never a looser one. A [`Meter`] is shared by all the
//! connections of one execution and is only ever consulted, never trusted to panic: a breach is
//! a [`Refusal`] for the request that breaks it, which the proxy turns into an HTTP error.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use serde::Deserialize;
use tokio::time::Instant;

use crate::Refusal;

/// Limits of one execution's egress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub requests: u32,
    /// Request heads and bodies sent upstream.
    pub bytes_out: u64,
    /// Response heads and bodies received from upstreams.
    pub bytes_in: u64,
    /// From the request's arrival to the last byte of its response.
    pub request_timeout: Duration,
    /// From the session's start; no request starts (or continues) past it.
    pub total_time: Duration,
}

impl Default for Budget {
    /// Sized for the catalog's agents (a few API calls, an LLM completion, some feeds) and far
    /// below what would let one execution hurt the host or serve as a scraping relay.
    fn default() -> Self {
        Self {
            requests: 64,
            bytes_out: 1 << 20,
            bytes_in: 16 << 20,
            request_timeout: Duration::from_secs(15),
            total_time: Duration::from_secs(60),
        }
    }
}

/// What an agent's metadata asks for (`network.budget`); every field optional.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BudgetRequest {
    pub requests: Option<u32>,
    pub bytes_out: Option<u64>,
    pub bytes_in: Option<u64>,
    pub request_timeout_ms: Option<u64>,
    pub total_time_ms: Option<u64>,
}

impl Budget {
    /// The smaller of each limit: the metadata can lower the operator's budget, not raise it.
    pub fn lowered_by(self, ask: &BudgetRequest) -> Budget {
        let ms = |d: Duration, ask: Option<u64>| ask.map_or(d, |a| d.min(Duration::from_millis(a)));
        Budget {
            requests: ask.requests.map_or(self.requests, |a| self.requests.min(a)),
            bytes_out: ask.bytes_out.map_or(self.bytes_out, |a| self.bytes_out.min(a)),
            bytes_in: ask.bytes_in.map_or(self.bytes_in, |a| self.bytes_in.min(a)),
            request_timeout: ms(self.request_timeout, ask.request_timeout_ms),
            total_time: ms(self.total_time, ask.total_time_ms),
        }
    }
}

/// An execution's spending against its [`Budget`].
#[derive(Debug)]
pub struct Meter {
    budget: Budget,
    started: Instant,
    requests: AtomicU32,
    bytes_out: AtomicU64,
    bytes_in: AtomicU64,
}

impl Meter {
    pub fn new(budget: Budget) -> Self {
        Self {
            budget,
            started: Instant::now(),
            requests: AtomicU32::new(0),
            bytes_out: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
        }
    }

    pub fn budget(&self) -> &Budget {
        &self.budget
    }

    /// Counts a request and returns its deadline (its timeout, cut by the total time). Every
    /// request the agent sends counts, refused ones too: a loop of refused requests is a loop.
    pub fn start_request(&self) -> Result<Instant, Refusal> {
        let n = self.requests.fetch_add(1, Ordering::Relaxed);
        if n >= self.budget.requests {
            return Err(Refusal::RequestCount(self.budget.requests));
        }
        let end = self.started + self.budget.total_time;
        let now = Instant::now();
        if now >= end {
            return Err(Refusal::TotalTime(millis(self.budget.total_time)));
        }
        Ok(end.min(now + self.budget.request_timeout))
    }

    /// When the execution's total time is spent: nothing of the session outlives it.
    pub fn session_end(&self) -> Instant {
        self.started + self.budget.total_time
    }

    /// A deadline for work that is not yet a request (reading a request head): the request
    /// timeout from now, cut by the total time.
    pub fn next_deadline(&self) -> Instant {
        self.session_end().min(Instant::now() + self.budget.request_timeout)
    }

    /// Whether the deadline reached was the total time rather than the request's own timeout.
    pub fn timeout_refusal(&self) -> Refusal {
        if Instant::now() >= self.started + self.budget.total_time {
            Refusal::TotalTime(millis(self.budget.total_time))
        } else {
            Refusal::Timeout(millis(self.budget.request_timeout))
        }
    }

    /// Spends `n` bytes out, or refuses (spending nothing) when they do not fit.
    pub fn take_out(&self, n: u64) -> Result<(), Refusal> {
        take(&self.bytes_out, n, self.budget.bytes_out).map_err(Refusal::BytesOut)
    }

    /// Spends `n` bytes in, or refuses (spending nothing) when they do not fit.
    pub fn take_in(&self, n: u64) -> Result<(), Refusal> {
        take(&self.bytes_in, n, self.budget.bytes_in).map_err(Refusal::BytesIn)
    }

    /// Bytes in still available (to refuse a response whose Content-Length cannot fit before
    /// streaming any of it).
    pub fn bytes_in_left(&self) -> u64 {
        self.budget.bytes_in.saturating_sub(self.bytes_in.load(Ordering::Relaxed))
    }

    pub fn bytes_out_left(&self) -> u64 {
        self.budget.bytes_out.saturating_sub(self.bytes_out.load(Ordering::Relaxed))
    }
}

fn take(counter: &AtomicU64, n: u64, limit: u64) -> Result<(), u64> {
    counter
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |spent| spent.checked_add(n).filter(|&t| t <= limit))
        .map(|_| ())
        .map_err(|_| limit)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_only_lowers() {
        let operator = Budget::default();
        let ask = BudgetRequest {
            requests: Some(1_000_000),
            bytes_in: Some(10),
            request_timeout_ms: Some(5),
            ..Default::default()
        };
        let b = operator.lowered_by(&ask);
        assert_eq!(b.requests, operator.requests);
        assert_eq!(b.bytes_in, 10);
        assert_eq!(b.bytes_out, operator.bytes_out);
        assert_eq!(b.request_timeout, Duration::from_millis(5));
        assert_eq!(b.total_time, operator.total_time);
    }

    #[tokio::test]
    async fn meter_refuses_past_the_limits_without_spending() {
        let m = Meter::new(Budget { requests: 2, bytes_out: 10, bytes_in: 10, ..Budget::default() });
        assert!(m.start_request().is_ok());
        assert!(m.start_request().is_ok());
        assert_eq!(m.start_request(), Err(Refusal::RequestCount(2)));
        assert!(m.take_out(6).is_ok());
        assert_eq!(m.take_out(5), Err(Refusal::BytesOut(10)));
        assert!(m.take_out(4).is_ok());
        assert_eq!(m.take_in(11), Err(Refusal::BytesIn(10)));
        assert_eq!(m.bytes_in_left(), 10);
    }

    #[tokio::test]
    async fn total_time_caps_deadlines_and_requests() {
        let total = Duration::from_millis(50);
        let m = Meter::new(Budget { total_time: total, request_timeout: Duration::from_secs(15), ..Budget::default() });
        let deadline = m.start_request().expect("in budget");
        assert_eq!(deadline, m.started + total);
        tokio::time::sleep(total).await;
        assert_eq!(m.start_request(), Err(Refusal::TotalTime(50)));
        assert_eq!(m.timeout_refusal(), Refusal::TotalTime(50));
    }
}
