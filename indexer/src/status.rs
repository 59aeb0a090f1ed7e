//! `/health`, `/ready` and Prometheus `/metrics` for the indexer.
//!
//! The indexer counts through [`Metrics`]' handles as it works and keeps its position (head,
//! cursor, caught up) in atomics that a scrape samples; the HTTP side only reads them, so serving
//! status never touches the database or the node and never slows indexing. `/health` answers 200
//! while the process runs; `/ready` answers 200 once the indexer has caught up with the
//! (confirmed) head at least once since its last step, 503 before. The routes and the metrics
//! registry are `nexus-status`'s, shared with the relayer and the API.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use nexus_status::{Counter, Gauge, NotReady, Registry};

/// The indexer's counters and the position a scrape samples into its gauges.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Latest head seen on the node.
    pub head: AtomicU64,
    /// Last committed block.
    pub cursor: AtomicU64,
    /// Whether the last step found nothing new to apply.
    pub caught_up: AtomicBool,
    /// Logs applied since start.
    pub events: Counter,
    /// Rollbacks performed since start.
    pub reorgs: Counter,
    /// Failed steps (retried) since start.
    pub errors: Counter,
    /// Switches to another RPC endpoint since start.
    pub failovers: Counter,
    head_block: Gauge,
    cursor_block: Gauge,
    lag_blocks: Gauge,
    ready_gauge: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let registry = Registry::new();
        Self {
            head: AtomicU64::new(0),
            cursor: AtomicU64::new(0),
            caught_up: AtomicBool::new(false),
            events: registry.counter("nexus_indexer_events_total", "Logs applied.", &[]),
            reorgs: registry.counter("nexus_indexer_reorgs_total", "Rollbacks to a common ancestor.", &[]),
            errors: registry.counter("nexus_indexer_errors_total", "Failed (retried) steps.", &[]),
            failovers: registry.counter("nexus_indexer_rpc_failovers_total", "Switches to another RPC endpoint.", &[]),
            head_block: registry.gauge("nexus_indexer_head_block", "Latest head block seen on the node."),
            cursor_block: registry.gauge("nexus_indexer_cursor_block", "Last block committed to the database."),
            lag_blocks: registry.gauge("nexus_indexer_lag_blocks", "Head minus cursor."),
            ready_gauge: registry.gauge("nexus_indexer_ready", "1 once caught up with the head."),
            registry,
        }
    }
}

impl Metrics {
    /// Prometheus text exposition.
    pub fn render(&self) -> String {
        let head = self.head.load(Ordering::Relaxed);
        let cursor = self.cursor.load(Ordering::Relaxed);
        self.head_block.set(head as f64);
        self.cursor_block.set(cursor as f64);
        self.lag_blocks.set(head.saturating_sub(cursor) as f64);
        self.ready_gauge.set(f64::from(u8::from(self.ready())));
        self.registry.render()
    }

    pub fn ready(&self) -> bool {
        self.caught_up.load(Ordering::Relaxed)
    }
}

impl nexus_status::Status for Metrics {
    async fn ready(&self) -> Result<(), NotReady> {
        if Metrics::ready(self) { Ok(()) } else { Err("catching up".into()) }
    }

    fn render(&self) -> String {
        Metrics::render(self)
    }
}

pub use nexus_status::{router, serve};

#[cfg(test)]
mod tests {
    use super::*;
    use nexus_status::sample;

    #[test]
    fn renders_the_position_and_counters_under_their_names() {
        let m = Metrics::default();
        m.head.store(12, Ordering::Relaxed);
        m.cursor.store(10, Ordering::Relaxed);
        m.events.increment(3);
        m.failovers.increment(1);
        let text = m.render();
        for (series, value) in [
            ("nexus_indexer_head_block", 12.0),
            ("nexus_indexer_cursor_block", 10.0),
            ("nexus_indexer_lag_blocks", 2.0),
            ("nexus_indexer_events_total", 3.0),
            ("nexus_indexer_reorgs_total", 0.0),
            ("nexus_indexer_errors_total", 0.0),
            ("nexus_indexer_rpc_failovers_total", 1.0),
            ("nexus_indexer_ready", 0.0),
        ] {
            assert_eq!(sample(&text, series), Some(value), "{series} in\n{text}");
        }
        assert!(text.contains("# TYPE nexus_indexer_events_total counter\n"), "{text}");
        assert!(text.contains("# TYPE nexus_indexer_lag_blocks gauge\n"), "{text}");
        assert!(sample(&text, "process_resident_memory_bytes").is_some(), "{text}");
    }
}
