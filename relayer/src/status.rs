//! `/health`, `/ready` and Prometheus `/metrics` for the relayer.
//!
//! Like the indexer's: workers update atomics and small maps, the HTTP side only renders them,
//! so a scrape never touches the database, the node or Docker.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// Histogram bucket bounds in seconds: container runs and settlements range from tens of
/// milliseconds (anvil, an agent that answers at once) to minutes (max durations).
const BUCKETS: &[f64] = &[0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0];

#[derive(Debug, Default)]
pub struct Histogram {
    counts: [AtomicU64; 11],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                self.counts[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} histogram\n"));
        for (i, bound) in BUCKETS.iter().enumerate() {
            out.push_str(&format!("{name}_bucket{{le=\"{bound}\"}} {}\n", self.counts[i].load(Ordering::Relaxed)));
        }
        let count = self.count.load(Ordering::Relaxed);
        out.push_str(&format!("{name}_bucket{{le=\"+Inf\"}} {count}\n"));
        out.push_str(&format!("{name}_sum {}\n", self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6));
        out.push_str(&format!("{name}_count {count}\n"));
    }
}

#[derive(Debug, Default)]
pub struct Metrics {
    pub queue_depth: AtomicI64,
    pub running: AtomicI64,
    pub run_seconds: Histogram,
    pub settle_seconds: Histogram,
    pub outcomes: Mutex<BTreeMap<String, u64>>,
    pub container_failures: Mutex<BTreeMap<&'static str, u64>>,
    pub errors: AtomicU64,
    pub ready: AtomicBool,
}

impl Metrics {
    pub fn outcome(&self, outcome: &str) {
        if let Ok(mut m) = self.outcomes.lock() {
            *m.entry(outcome.to_string()).or_default() += 1;
        }
    }

    pub fn container_failure(&self, cause: &'static str) {
        if let Ok(mut m) = self.container_failures.lock() {
            *m.entry(cause).or_default() += 1;
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let gauge = |out: &mut String, name: &str, kind: &str, help: &str, v: i64| {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}\n"));
        };
        gauge(
            &mut out,
            "nexus_relayer_queue_depth",
            "gauge",
            "Open requests not yet finished.",
            self.queue_depth.load(Ordering::Relaxed),
        );
        gauge(
            &mut out,
            "nexus_relayer_running",
            "gauge",
            "Requests being worked on now.",
            self.running.load(Ordering::Relaxed),
        );
        gauge(
            &mut out,
            "nexus_relayer_errors_total",
            "counter",
            "Errors that released a claim for a retry.",
            self.errors.load(Ordering::Relaxed) as i64,
        );
        gauge(
            &mut out,
            "nexus_relayer_ready",
            "gauge",
            "1 when connected to the database, the node and Docker.",
            i64::from(self.ready()),
        );
        self.run_seconds.render(&mut out, "nexus_relayer_run_seconds", "Container run time (create to exit).");
        self.settle_seconds.render(&mut out, "nexus_relayer_settlement_seconds", "First settle send to receipt.");
        out.push_str("# HELP nexus_relayer_outcomes_total Finished requests by outcome.\n# TYPE nexus_relayer_outcomes_total counter\n");
        if let Ok(m) = self.outcomes.lock() {
            for (k, v) in m.iter() {
                out.push_str(&format!("nexus_relayer_outcomes_total{{outcome=\"{k}\"}} {v}\n"));
            }
        }
        out.push_str("# HELP nexus_relayer_container_failures_total Failed container runs by cause.\n# TYPE nexus_relayer_container_failures_total counter\n");
        if let Ok(m) = self.container_failures.lock() {
            for (k, v) in m.iter() {
                out.push_str(&format!("nexus_relayer_container_failures_total{{cause=\"{k}\"}} {v}\n"));
            }
        }
        out
    }

    pub fn ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }
}

impl nexus_status::Status for Metrics {
    fn ready(&self) -> bool {
        Metrics::ready(self)
    }

    fn render(&self) -> String {
        Metrics::render(self)
    }
}

pub use nexus_status::{router, serve};
