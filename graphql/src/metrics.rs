//! Prometheus metrics, kept in memory and rendered in the text exposition format. A dozen
//! numbers do not justify a metrics framework; the histogram is the one thing worth care.
//!
//! Operation names come from clients, so they are sanitised and capped at
//! [`MAX_OPERATIONS`] distinct labels (the rest count as `other`): a client inventing a new name
//! per request must not grow the server's memory or the scrape without bound.
//!
//! Services mounted on the same server (the sponsorship service, `nexus-sponsor`) keep their own
//! counters and [`Metrics::register`] a renderer, so one scrape of `/metrics` shows them all
//! without this crate knowing what they count.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Upper bounds (seconds) of the latency buckets: from a cached lookup (1 ms) to the timeout.
const BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Distinct operation labels kept before new names collapse into `other`.
pub const MAX_OPERATIONS: usize = 64;

/// Appends the exposition text of what a mounted service counts.
type Renderer = Arc<dyn Fn(&mut String) + Send + Sync>;

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
    /// What the services mounted next to the API add to the scrape, in registration order.
    mounted: Mutex<Vec<Renderer>>,
}

/// One counter with its `HELP` and `TYPE` lines, in the text exposition format.
pub fn write_counter(out: &mut String, name: &str, help: &str, value: u64) {
    let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n");
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

    /// Adds what a service mounted on this server counts to every later scrape: `render`
    /// appends its exposition text (names prefixed by the service, so they cannot collide).
    pub fn register(&self, render: impl Fn(&mut String) + Send + Sync + 'static) {
        if let Ok(mut mounted) = self.mounted.lock() {
            mounted.push(Arc::new(render));
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
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        write_counter(
            &mut out,
            "nexus_graphql_blobs_stored_total",
            "Blobs stored (new content).",
            load(&self.blobs_stored),
        );
        write_counter(
            &mut out,
            "nexus_graphql_blobs_existing_total",
            "Blob uploads of content already stored.",
            load(&self.blobs_existing),
        );
        write_counter(
            &mut out,
            "nexus_graphql_blobs_rejected_total",
            "Blob uploads refused (size, empty).",
            load(&self.blobs_rejected),
        );
        write_counter(
            &mut out,
            "nexus_graphql_rate_limited_total",
            "Requests refused by the per-client rate limit.",
            load(&self.rate_limited),
        );
        write_counter(
            &mut out,
            "nexus_graphql_rejected_requests_total",
            "HTTP requests refused before execution (body, encoding, token).",
            load(&self.rejected_requests),
        );
        write_counter(
            &mut out,
            "nexus_graphql_timeouts_total",
            "GraphQL requests that hit the request timeout.",
            load(&self.timeouts),
        );
        // Cloned out of the lock: a renderer never runs while `register` could be waiting.
        let mounted = self.mounted.lock().map(|m| m.clone()).unwrap_or_default();
        for render in &mounted {
            render(&mut out);
        }
        let _ = write!(
            out,
            "# HELP nexus_graphql_subscribers Live subscription streams.\n# TYPE nexus_graphql_subscribers gauge\nnexus_graphql_subscribers {subscribers}\n\
             # HELP nexus_graphql_listener_up Whether the LISTEN connection is up.\n# TYPE nexus_graphql_listener_up gauge\nnexus_graphql_listener_up {}\n",
            u8::from(listening)
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounted_services_render_into_the_same_scrape() {
        let metrics = Metrics::default();
        assert!(!metrics.render(0, true).contains("nexus_test_mounted_total"));
        metrics.register(|out: &mut String| write_counter(out, "nexus_test_mounted_total", "A mounted counter.", 7));
        let text = metrics.render(0, true);
        assert!(text.contains("# TYPE nexus_test_mounted_total counter\nnexus_test_mounted_total 7\n"), "{text}");
        assert!(text.contains("nexus_graphql_timeouts_total 0\n"), "the API's own counters stay: {text}");
    }
}
