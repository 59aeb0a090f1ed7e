//! `/health`, `/ready` and Prometheus `/metrics` for the relayer.
//!
//! Like the indexer's: workers update [`Metrics`]' handles (one atomic each), the HTTP side only
//! renders them, so a scrape never touches the database, the node or Docker. The routes, the
//! registry and the histograms' buckets are `nexus-status`'s.

use std::sync::atomic::{AtomicBool, Ordering};

use nexus_status::buckets::{RELAYER_RUN_SECONDS, RELAYER_SETTLEMENT_SECONDS};
use nexus_status::{Counter, Gauge, Histogram, NotReady, Registry};

const OUTCOMES: &str = "nexus_relayer_outcomes_total";
const OUTCOMES_HELP: &str = "Finished requests by outcome.";
const CONTAINER_FAILURES: &str = "nexus_relayer_container_failures_total";
const CONTAINER_FAILURES_HELP: &str = "Failed container runs by cause.";

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
