//! Prometheus metrics, kept in memory and rendered in the text exposition format. A dozen
//! numbers do not justify a metrics framework; the histogram is the one thing worth care.
//!
//! Operation names come from clients, so they are sanitised and capped at
//! [`MAX_OPERATIONS`] distinct labels (the rest count as `other`): a client inventing a new name
//! per request must not grow the server's memory or the scrape without bound.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the latency buckets: from a cached lookup (1 ms) to the timeout.
const BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Distinct operation labels kept before new names collapse into `other`.
pub const MAX_OPERATIONS: usize = 64;

#[derive(Default, Clone)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
    errors: u64,
}

/// Counters and the request latency histogram.
#[derive(Default)]
pub struct Metrics {
    operations: Mutex<BTreeMap<String, Histogram>>,
    pub blobs_stored: AtomicU64,
    pub blobs_existing: AtomicU64,
    pub blobs_rejected: AtomicU64,
    pub rate_limited: AtomicU64,
    pub rejected_requests: AtomicU64,
    pub timeouts: AtomicU64,
    /// Sponsorship (ERC-7677) requests by (method, outcome); both labels come from fixed sets.
    paymaster: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    pub paymaster_reconcile_errors: AtomicU64,
}

/// A label value: letters, digits and `_` only, at most 64 characters.
pub fn operation_label(name: Option<&str>) -> String {
    match name {
        Some(n) if !n.is_empty() => n.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(64).collect(),
        _ => "anonymous".into(),
    }
}

impl Metrics {
    /// Records one GraphQL request.
    pub fn observe(&self, operation: &str, elapsed: Duration, error: bool) {
        let Ok(mut ops) = self.operations.lock() else { return };
        let key = if ops.contains_key(operation) || ops.len() < MAX_OPERATIONS { operation } else { "other" };
        let h = ops
            .entry(key.to_string())
            .or_insert_with(|| Histogram { counts: vec![0; BUCKETS.len()], ..Default::default() });
        let secs = elapsed.as_secs_f64();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                h.counts[i] += 1;
            }
        }
        h.sum += secs;
        h.count += 1;
        if error {
            h.errors += 1;
        }
    }

    /// Records one sponsorship request: `method` is one of the two ERC-7677 methods or `other`,
    /// `outcome` one of `sponsored`, `refused`, `invalid`, `error` (see `sponsor::rpc`).
    pub fn paymaster_request(&self, method: &'static str, outcome: &'static str) {
        if let Ok(mut m) = self.paymaster.lock() {
            *m.entry((method, outcome)).or_default() += 1;
        }
    }

    /// The exposition text. `subscribers` and `listening` are sampled by the caller.
    pub fn render(&self, subscribers: usize, listening: bool) -> String {
        let mut out = String::new();
        let ops = self.operations.lock().map(|o| o.clone()).unwrap_or_default();
        out.push_str("# HELP nexus_graphql_request_duration_seconds GraphQL request latency by operation name.\n");
        out.push_str("# TYPE nexus_graphql_request_duration_seconds histogram\n");
        for (op, h) in &ops {
            for (i, bound) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "nexus_graphql_request_duration_seconds_bucket{{operation=\"{op}\",le=\"{bound}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(
                out,
                "nexus_graphql_request_duration_seconds_bucket{{operation=\"{op}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(out, "nexus_graphql_request_duration_seconds_sum{{operation=\"{op}\"}} {}", h.sum);
            let _ = writeln!(out, "nexus_graphql_request_duration_seconds_count{{operation=\"{op}\"}} {}", h.count);
        }
        out.push_str(
            "# HELP nexus_graphql_request_errors_total GraphQL responses carrying errors, by operation name.\n",
        );
        out.push_str("# TYPE nexus_graphql_request_errors_total counter\n");
        for (op, h) in &ops {
            let _ = writeln!(out, "nexus_graphql_request_errors_total{{operation=\"{op}\"}} {}", h.errors);
        }
        let counter = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}\n");
        };
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        counter(&mut out, "nexus_graphql_blobs_stored_total", "Blobs stored (new content).", load(&self.blobs_stored));
        counter(
            &mut out,
            "nexus_graphql_blobs_existing_total",
            "Blob uploads of content already stored.",
            load(&self.blobs_existing),
        );
        counter(
            &mut out,
            "nexus_graphql_blobs_rejected_total",
            "Blob uploads refused (size, empty).",
            load(&self.blobs_rejected),
        );
        counter(
            &mut out,
            "nexus_graphql_rate_limited_total",
            "Requests refused by the per-client rate limit.",
            load(&self.rate_limited),
        );
        counter(
            &mut out,
            "nexus_graphql_rejected_requests_total",
            "HTTP requests refused before execution (body, encoding, token).",
            load(&self.rejected_requests),
        );
        counter(
            &mut out,
            "nexus_graphql_timeouts_total",
            "GraphQL requests that hit the request timeout.",
            load(&self.timeouts),
        );
        out.push_str(
            "# HELP nexus_graphql_paymaster_requests_total Sponsorship (ERC-7677) requests by method and outcome.\n\
             # TYPE nexus_graphql_paymaster_requests_total counter\n",
        );
        let paymaster = self.paymaster.lock().map(|m| m.clone()).unwrap_or_default();
        for ((method, outcome), n) in &paymaster {
            let _ = writeln!(
                out,
                "nexus_graphql_paymaster_requests_total{{method=\"{method}\",outcome=\"{outcome}\"}} {n}"
            );
        }
        counter(
            &mut out,
            "nexus_graphql_paymaster_reconcile_errors_total",
            "Sponsorship reconciliation rounds that failed (retried next interval).",
            load(&self.paymaster_reconcile_errors),
        );
        let _ = write!(
            out,
            "# HELP nexus_graphql_subscribers Live subscription streams.\n# TYPE nexus_graphql_subscribers gauge\nnexus_graphql_subscribers {subscribers}\n\
             # HELP nexus_graphql_listener_up Whether the LISTEN connection is up.\n# TYPE nexus_graphql_listener_up gauge\nnexus_graphql_listener_up {}\n",
            u8::from(listening)
        );
        out
    }
}
