//! `/health`, `/ready` and Prometheus `/metrics` for the relayer.
//!
//! Like the indexer's: workers update [`Metrics`]' handles (one atomic each), the HTTP side only
//! renders them, so a scrape never touches the database, the node or Docker. The routes, the
//! registry and the histograms' buckets are `nexus-status`'s.

use std::sync::atomic::{AtomicBool, Ordering};

use nexus_egress::{CallRecord, Outcome};
use nexus_status::buckets::{RELAYER_EGRESS_REQUEST_SECONDS, RELAYER_RUN_SECONDS, RELAYER_SETTLEMENT_SECONDS};
use nexus_status::{Counter, Gauge, Histogram, NotReady, Registry};

const OUTCOMES: &str = "nexus_relayer_outcomes_total";
const OUTCOMES_HELP: &str = "Finished requests by outcome.";
const CONTAINER_FAILURES: &str = "nexus_relayer_container_failures_total";
const CONTAINER_FAILURES_HELP: &str = "Failed container runs by cause.";
const EGRESS_REQUESTS: &str = "nexus_relayer_egress_requests_total";
const EGRESS_REQUESTS_HELP: &str =
    "Agent requests through the egress proxy by outcome (forwarded, refused, cut after the head).";
const EGRESS_REFUSALS: &str = "nexus_relayer_egress_refusals_total";
const EGRESS_REFUSALS_HELP: &str = "Egress requests refused or cut, by reason (Refusal::code).";

/// The relayer's counters, gauges and latency histograms.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Open requests not yet finished.
    pub queue_depth: Gauge,
    /// Requests being worked on now.
    pub running: Gauge,
    /// Container run time (create to exit).
    pub run_seconds: Histogram,
    /// First settle send to receipt.
    pub settle_seconds: Histogram,
    /// Errors that released a claim for a retry.
    pub errors: Counter,
    /// Bytes agents sent upstream through the egress proxy.
    pub egress_bytes_out: Counter,
    /// Bytes upstreams sent back through the egress proxy.
    pub egress_bytes_in: Counter,
    /// Egress call records the proxy could not queue (see `Session::dropped_records`).
    pub egress_dropped_records: Counter,
    egress_seconds: Histogram,
    /// Connected to the database, the node and Docker (sampled into a gauge by a scrape).
    pub ready: AtomicBool,
    ready_gauge: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let registry = Registry::new();
        Self {
            queue_depth: registry.gauge("nexus_relayer_queue_depth", "Open requests not yet finished."),
            running: registry.gauge("nexus_relayer_running", "Requests being worked on now."),
            run_seconds: registry.histogram(&RELAYER_RUN_SECONDS, &[]),
            settle_seconds: registry.histogram(&RELAYER_SETTLEMENT_SECONDS, &[]),
            errors: registry.counter("nexus_relayer_errors_total", "Errors that released a claim for a retry.", &[]),
            egress_bytes_out: registry.counter(
                "nexus_relayer_egress_bytes_out_total",
                "Bytes agents sent upstream through the egress proxy.",
                &[],
            ),
            egress_bytes_in: registry.counter(
                "nexus_relayer_egress_bytes_in_total",
                "Bytes upstreams sent back to agents through the egress proxy.",
                &[],
            ),
            egress_dropped_records: registry.counter(
                "nexus_relayer_egress_dropped_records_total",
                "Egress call records the proxy could not queue (not in the execution log).",
                &[],
            ),
            egress_seconds: registry.histogram(&RELAYER_EGRESS_REQUEST_SECONDS, &[]),
            ready: AtomicBool::new(false),
            ready_gauge: registry
                .gauge("nexus_relayer_ready", "1 when connected to the database, the node and Docker."),
            registry,
        }
    }
}

impl Metrics {
    /// Counts a finished request. Outcomes form a small fixed set, so the series is looked up
    /// (and registered the first time) per call rather than cached.
    pub fn outcome(&self, outcome: &str) {
        self.registry.counter(OUTCOMES, OUTCOMES_HELP, &[("outcome", outcome)]).increment(1);
    }

    /// Counts a failed container run by its cause.
    pub fn container_failure(&self, cause: &'static str) {
        self.registry.counter(CONTAINER_FAILURES, CONTAINER_FAILURES_HELP, &[("cause", cause)]).increment(1);
    }

    /// Counts one egress call: its outcome, its refusal reason if any, its bytes and latency.
    /// Reasons are `Refusal::code()`s, a fixed set, like the outcomes.
    pub fn egress_call(&self, record: &CallRecord) {
        let (outcome, refusal) = match &record.outcome {
            Outcome::Status(_) => ("forwarded", None),
            Outcome::Refused(r) => ("refused", Some(r)),
            Outcome::Cut { refusal, .. } => ("cut", Some(refusal)),
        };
        self.registry.counter(EGRESS_REQUESTS, EGRESS_REQUESTS_HELP, &[("outcome", outcome)]).increment(1);
        if let Some(r) = refusal {
            self.registry.counter(EGRESS_REFUSALS, EGRESS_REFUSALS_HELP, &[("reason", r.code())]).increment(1);
        }
        self.egress_bytes_out.increment(record.bytes_out);
        self.egress_bytes_in.increment(record.bytes_in);
        self.egress_seconds.record(std::time::Duration::from_millis(record.ms));
    }

    /// Prometheus text exposition.
    pub fn render(&self) -> String {
        self.ready_gauge.set(f64::from(u8::from(self.ready())));
        self.registry.render()
    }

    pub fn ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }
}

impl nexus_status::Status for Metrics {
    async fn ready(&self) -> Result<(), NotReady> {
        if Metrics::ready(self) { Ok(()) } else { Err("not ready".into()) }
    }

    fn render(&self) -> String {
        Metrics::render(self)
    }
}

pub use nexus_status::{router, serve};

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use nexus_status::sample;

    #[test]
    fn renders_every_series_under_its_name() {
        let m = Metrics::default();
        m.queue_depth.set(4.0);
        m.running.increment(2.0);
        m.running.decrement(1.0);
        m.errors.increment(1);
        m.outcome("succeeded");
        m.outcome("succeeded");
        m.outcome("lease_lost");
        m.container_failure("image");
        m.settle_seconds.record(Duration::from_millis(700));
        let call = |outcome, bytes_in, ms| CallRecord {
            method: "GET".into(),
            host: "api.example".into(),
            path: "/v1".into(),
            outcome,
            bytes_out: 10,
            bytes_in,
            ms,
        };
        m.egress_call(&call(Outcome::Status(200), 500, 3));
        m.egress_call(&call(Outcome::Refused(nexus_egress::Refusal::HostNotAllowed("x".into())), 0, 0));
        m.egress_call(&call(Outcome::Cut { status: 200, refusal: nexus_egress::Refusal::BytesIn(9) }, 9, 40));
        m.ready.store(true, Ordering::Relaxed);
        let text = m.render();
        for (series, value) in [
            ("nexus_relayer_queue_depth", 4.0),
            ("nexus_relayer_running", 1.0),
            ("nexus_relayer_errors_total", 1.0),
            ("nexus_relayer_ready", 1.0),
            ("nexus_relayer_outcomes_total{outcome=\"succeeded\"}", 2.0),
            ("nexus_relayer_outcomes_total{outcome=\"lease_lost\"}", 1.0),
            ("nexus_relayer_container_failures_total{cause=\"image\"}", 1.0),
            ("nexus_relayer_settlement_seconds_bucket{le=\"0.5\"}", 0.0),
            ("nexus_relayer_settlement_seconds_bucket{le=\"1\"}", 1.0),
            ("nexus_relayer_run_seconds_count", 0.0),
            ("nexus_relayer_egress_requests_total{outcome=\"forwarded\"}", 1.0),
            ("nexus_relayer_egress_requests_total{outcome=\"refused\"}", 1.0),
            ("nexus_relayer_egress_requests_total{outcome=\"cut\"}", 1.0),
            ("nexus_relayer_egress_refusals_total{reason=\"host\"}", 1.0),
            ("nexus_relayer_egress_refusals_total{reason=\"budget_bytes_in\"}", 1.0),
            ("nexus_relayer_egress_bytes_out_total", 30.0),
            ("nexus_relayer_egress_bytes_in_total", 509.0),
            ("nexus_relayer_egress_request_seconds_bucket{le=\"0.005\"}", 2.0),
            ("nexus_relayer_egress_request_seconds_count", 3.0),
        ] {
            assert_eq!(sample(&text, series), Some(value), "{series} in\n{text}");
        }
        assert!(text.contains("# TYPE nexus_relayer_outcomes_total counter\n"), "{text}");
        assert!(text.contains("# TYPE nexus_relayer_run_seconds histogram\n"), "{text}");
        assert!(text.contains("# TYPE nexus_relayer_queue_depth gauge\n"), "{text}");
    }

    #[test]
    fn two_relayers_in_one_process_keep_their_own_counts() {
        let (a, b) = (Metrics::default(), Metrics::default());
        a.outcome("lease_lost");
        let series = "nexus_relayer_outcomes_total{outcome=\"lease_lost\"}";
        assert_eq!(sample(&a.render(), series), Some(1.0));
        assert_eq!(sample(&b.render(), series), None, "b lost no lease");
    }
}
