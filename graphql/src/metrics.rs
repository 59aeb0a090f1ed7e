//! The API's Prometheus metrics, counted through `nexus-status`'s [`Registry`] (one per server,
//! so several servers in one process keep their own counts) and served by its `/metrics` route
//! (see [`crate::status`]).
//!
//! Operation names come from clients, so they are sanitised and capped at
//! [`MAX_OPERATIONS`] distinct labels (the rest count as `other`): a client inventing a new name
//! per request must not grow the server's memory or the scrape without bound. Each label's
//! handles are registered once and cached, so a request costs a map lookup under a read lock and
//! two atomic updates, never a label allocation after the first request of its name.
//!
//! Services mounted on the same server (the sponsorship service, `nexus-sponsor`) register their
//! own handles in [`Metrics::registry`], so one scrape of `/metrics` shows them all without this
//! crate knowing what they count.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

use nexus_status::buckets::GRAPHQL_REQUEST_SECONDS;
use nexus_status::{Counter, Gauge, Histogram, Registry};

/// Distinct operation labels kept before new names collapse into `other`.
pub const MAX_OPERATIONS: usize = 64;

const ERRORS: &str = "nexus_graphql_request_errors_total";
const ERRORS_HELP: &str = "GraphQL responses carrying errors, by operation name.";

/// One operation label's series.
struct Operation {
    duration: Histogram,
    errors: Counter,
}

/// Counters, gauges and the request latency histogram.
pub struct Metrics {
    registry: Registry,
    operations: RwLock<HashMap<String, Operation>>,
    pub blobs_stored: Counter,
    pub blobs_existing: Counter,
    pub blobs_rejected: Counter,
    pub rate_limited: Counter,
    pub rejected_requests: Counter,
    pub timeouts: Counter,
    subscribers: Gauge,
    listener_up: Gauge,
}

/// A label value: letters, digits and `_` only, at most 64 characters.
pub fn operation_label(name: Option<&str>) -> String {
    match name {
        Some(n) if !n.is_empty() => n.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(64).collect(),
        _ => "anonymous".into(),
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let registry = Registry::new();
        let counter = |name, help| registry.counter(name, help, &[]);
        Self {
            operations: RwLock::default(),
            blobs_stored: counter("nexus_graphql_blobs_stored_total", "Blobs stored (new content)."),
            blobs_existing: counter("nexus_graphql_blobs_existing_total", "Blob uploads of content already stored."),
            blobs_rejected: counter("nexus_graphql_blobs_rejected_total", "Blob uploads refused (size, empty)."),
            rate_limited: counter("nexus_graphql_rate_limited_total", "Requests refused by the per-client rate limit."),
            rejected_requests: counter(
                "nexus_graphql_rejected_requests_total",
                "HTTP requests refused before execution (body, encoding, token).",
            ),
            timeouts: counter("nexus_graphql_timeouts_total", "GraphQL requests that hit the request timeout."),
            subscribers: registry.gauge("nexus_graphql_subscribers", "Live subscription streams."),
            listener_up: registry.gauge("nexus_graphql_listener_up", "Whether the LISTEN connection is up."),
            registry,
        }
    }
}

impl Metrics {
    /// Records one GraphQL request.
    pub fn observe(&self, operation: &str, elapsed: Duration, error: bool) {
        let record = |op: &Operation| {
            op.duration.record(elapsed);
            if error {
                op.errors.increment(1);
            }
        };
        if let Ok(ops) = self.operations.read()
            && let Some(op) = ops.get(operation)
        {
            record(op);
            return;
        }
        let Ok(mut ops) = self.operations.write() else { return };
        let key = if ops.contains_key(operation) || ops.len() < MAX_OPERATIONS { operation } else { "other" };
        let op = ops.entry(key.to_string()).or_insert_with(|| Operation {
            duration: self.registry.histogram(&GRAPHQL_REQUEST_SECONDS, &[("operation", key)]),
            errors: self.registry.counter(ERRORS, ERRORS_HELP, &[("operation", key)]),
        });
        record(op);
    }

    /// Where services mounted next to the API register what they count.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The exposition text. `subscribers` and `listening` are sampled by the caller.
    pub fn render(&self, subscribers: usize, listening: bool) -> String {
        self.subscribers.set(subscribers as f64);
        self.listener_up.set(f64::from(u8::from(listening)));
        self.registry.render()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nexus_status::sample;

    #[test]
    fn renders_every_series_under_its_name() {
        let metrics = Metrics::default();
        metrics.observe("CatalogPage", Duration::from_millis(3), false);
        metrics.observe("CatalogPage", Duration::from_millis(30), true);
        metrics.rate_limited.increment(1);
        let text = metrics.render(2, true);
        for (series, value) in [
            ("nexus_graphql_request_duration_seconds_bucket{operation=\"CatalogPage\",le=\"0.0025\"}", 0.0),
            ("nexus_graphql_request_duration_seconds_bucket{operation=\"CatalogPage\",le=\"0.005\"}", 1.0),
            ("nexus_graphql_request_duration_seconds_bucket{operation=\"CatalogPage\",le=\"0.05\"}", 2.0),
            ("nexus_graphql_request_duration_seconds_count{operation=\"CatalogPage\"}", 2.0),
            ("nexus_graphql_request_errors_total{operation=\"CatalogPage\"}", 1.0),
            ("nexus_graphql_rate_limited_total", 1.0),
            ("nexus_graphql_blobs_stored_total", 0.0),
            ("nexus_graphql_timeouts_total", 0.0),
            ("nexus_graphql_subscribers", 2.0),
            ("nexus_graphql_listener_up", 1.0),
        ] {
            assert_eq!(sample(&text, series), Some(value), "{series} in\n{text}");
        }
        assert!(text.contains("# TYPE nexus_graphql_request_errors_total counter\n"), "{text}");
        assert!(sample(&text, "process_open_fds").is_some(), "{text}");
    }

    #[test]
    fn operation_labels_are_capped() {
        let metrics = Metrics::default();
        for i in 0..MAX_OPERATIONS + 10 {
            metrics.observe(&operation_label(Some(&format!("Op{i}"))), Duration::from_millis(1), false);
        }
        // A name seen before the cap keeps its own series after it.
        metrics.observe("Op0", Duration::from_millis(1), false);
        let text = metrics.render(0, true);
        let labels = text.lines().filter(|l| l.starts_with("nexus_graphql_request_duration_seconds_count{")).count();
        assert_eq!(labels, MAX_OPERATIONS + 1, "{text}");
        assert_eq!(sample(&text, "nexus_graphql_request_duration_seconds_count{operation=\"other\"}"), Some(10.0));
        assert_eq!(sample(&text, "nexus_graphql_request_duration_seconds_count{operation=\"Op0\"}"), Some(2.0));
    }

    #[test]
    fn mounted_services_render_into_the_same_scrape() {
        let metrics = Metrics::default();
        assert!(!metrics.render(0, true).contains("nexus_test_mounted_total"));
        metrics.registry().counter("nexus_test_mounted_total", "A mounted counter.", &[]).increment(7);
        let text = metrics.render(0, true);
        assert!(text.contains("# TYPE nexus_test_mounted_total counter\nnexus_test_mounted_total 7\n"), "{text}");
        assert!(text.contains("nexus_graphql_timeouts_total 0\n"), "the API's own counters stay: {text}");
    }

    #[test]
    fn labels_are_sanitised() {
        assert_eq!(operation_label(Some("a\"b}{c d-e_F9")), "abcde_F9");
        assert_eq!(operation_label(Some("")), "anonymous");
        assert_eq!(operation_label(None), "anonymous");
        assert_eq!(operation_label(Some(&"x".repeat(100))).len(), 64);
    }
}
