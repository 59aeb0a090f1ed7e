//! `/health`, `/ready` and Prometheus `/metrics` for the indexer.
//!
//! The indexer updates a few atomics as it works ([`Metrics`]); the HTTP side only reads them,
//! so serving status never touches the database or the node and never slows indexing.
//! `/health` answers 200 while the process runs; `/ready` answers 200 once the indexer has
//! caught up with the (confirmed) head at least once since its last step, 503 before. The routes
//! themselves are `nexus-status`'s, shared with the relayer.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Counters and gauges the indexer keeps current.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Latest head seen on the node.
    pub head: AtomicU64,
    /// Last committed block.
    pub cursor: AtomicU64,
    /// Logs applied since start.
    pub events: AtomicU64,
    /// Rollbacks performed since start.
    pub reorgs: AtomicU64,
    /// Failed steps (retried) since start.
    pub errors: AtomicU64,
    /// Switches to another RPC endpoint since start.
    pub failovers: AtomicU64,
    /// Whether the last step found nothing new to apply.
    pub caught_up: AtomicBool,
}

impl Metrics {
    /// Prometheus text exposition.
    pub fn render(&self) -> String {
        let head = self.head.load(Ordering::Relaxed);
        let cursor = self.cursor.load(Ordering::Relaxed);
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"));
        };
        metric("nexus_indexer_head_block", "gauge", "Latest head block seen on the node.", head);
        metric("nexus_indexer_cursor_block", "gauge", "Last block committed to the database.", cursor);
        metric("nexus_indexer_lag_blocks", "gauge", "Head minus cursor.", head.saturating_sub(cursor));
        metric("nexus_indexer_events_total", "counter", "Logs applied.", self.events.load(Ordering::Relaxed));
        metric(
            "nexus_indexer_reorgs_total",
            "counter",
            "Rollbacks to a common ancestor.",
            self.reorgs.load(Ordering::Relaxed),
        );
        metric("nexus_indexer_errors_total", "counter", "Failed (retried) steps.", self.errors.load(Ordering::Relaxed));
        metric(
            "nexus_indexer_rpc_failovers_total",
            "counter",
            "Switches to another RPC endpoint.",
            self.failovers.load(Ordering::Relaxed),
        );
        metric("nexus_indexer_ready", "gauge", "1 once caught up with the head.", u64::from(self.ready()));
        out
    }

    pub fn ready(&self) -> bool {
        self.caught_up.load(Ordering::Relaxed)
    }
}

impl nexus_status::Status for Metrics {
    const NOT_READY: &'static str = "catching up";

    fn ready(&self) -> bool {
        Metrics::ready(self)
    }

    fn render(&self) -> String {
        Metrics::render(self)
    }
}

pub use nexus_status::{router, serve};
