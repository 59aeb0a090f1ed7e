//! The service's counters, registered in the API's metrics registry when the service is mounted
//! ([`nexus_graphql::metrics::Metrics::registry`]), so the API's `/metrics` shows them. The names
//! keep their `nexus_graphql_` prefix from when the service lived inside the API, so dashboards
//! built on them still work.
//!
//! Both labels of the request counter come from fixed sets (see [`crate::http`]): clients choose
//! method names, and a label per invented name would grow the scrape without bound.

use nexus_status::{Counter, Registry};

const REQUESTS: &str = "nexus_graphql_paymaster_requests_total";
const REQUESTS_HELP: &str = "Sponsorship (ERC-7677) requests by method and outcome.";

/// Requests by (method, outcome) and failed reconciliation rounds.
pub struct SponsorMetrics {
    registry: Registry,
    reconcile_errors: Counter,
}

impl SponsorMetrics {
    /// The service's counters in `registry` (the API server's).
    pub fn new(registry: &Registry) -> Self {
        let reconcile_errors = registry.counter(
            "nexus_graphql_paymaster_reconcile_errors_total",
            "Sponsorship reconciliation rounds that failed (retried next interval).",
            &[],
        );
        Self { registry: registry.clone(), reconcile_errors }
    }

    /// Records one request: `method` is one of the two ERC-7677 methods or `other`, `outcome` one
    /// of `sponsored`, `refused`, `invalid`, `error`, `limited`. The series is looked up per call
    /// (the registry keeps it): the labels form a fixed set of fifteen, and a sponsorship request
    /// costs a database round trip and a signature anyway.
    pub fn request(&self, method: &'static str, outcome: &'static str) {
        self.registry.counter(REQUESTS, REQUESTS_HELP, &[("method", method), ("outcome", outcome)]).increment(1);
    }

    /// Records a reconciliation round that failed.
    pub fn reconcile_error(&self) {
        self.reconcile_errors.increment(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nexus_status::sample;

    #[test]
    fn counts_requests_by_label_and_reconcile_errors() {
        let registry = Registry::new();
        let m = SponsorMetrics::new(&registry);
        m.request("pm_getPaymasterData", "sponsored");
        m.request("pm_getPaymasterData", "sponsored");
        m.request("other", "invalid");
        m.reconcile_error();
        let out = registry.render();
        let requests = |method: &str, outcome: &str| {
            sample(&out, &format!("{REQUESTS}{{method=\"{method}\",outcome=\"{outcome}\"}}"))
        };
        assert_eq!(requests("pm_getPaymasterData", "sponsored"), Some(2.0), "{out}");
        assert_eq!(requests("other", "invalid"), Some(1.0), "{out}");
        assert_eq!(sample(&out, "nexus_graphql_paymaster_reconcile_errors_total"), Some(1.0), "{out}");
        assert!(out.contains(&format!("# TYPE {REQUESTS} counter\n")), "{out}");
    }
}
