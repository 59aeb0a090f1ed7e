//! The service's counters, shown on the API's `/metrics` (the service registers
//! [`SponsorMetrics::render`] there when it is mounted). The names keep their `nexus_graphql_`
//! prefix from when the service lived inside the API, so dashboards built on them still work.
//!
//! Both labels of the request counter come from fixed sets (see [`crate::http`]): clients choose
//! method names, and a label per invented name would grow the scrape without bound.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use nexus_graphql::metrics::write_counter;

/// Requests by (method, outcome) and failed reconciliation rounds.
#[derive(Default)]
pub struct SponsorMetrics {
    requests: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    reconcile_errors: AtomicU64,
}

impl SponsorMetrics {
    /// Records one request: `method` is one of the two ERC-7677 methods or `other`, `outcome` one
    /// of `sponsored`, `refused`, `invalid`, `error`, `limited`.
    pub fn request(&self, method: &'static str, outcome: &'static str) {
        if let Ok(mut m) = self.requests.lock() {
            *m.entry((method, outcome)).or_default() += 1;
        }
    }

    /// Records a reconciliation round that failed.
    pub fn reconcile_error(&self) {
        self.reconcile_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Appends the exposition text (Prometheus text format 0.0.4) to `out`.
    pub fn render(&self, out: &mut String) {
        use std::fmt::Write;
        out.push_str(
            "# HELP nexus_graphql_paymaster_requests_total Sponsorship (ERC-7677) requests by method and outcome.\n\
             # TYPE nexus_graphql_paymaster_requests_total counter\n",
        );
        let requests = self.requests.lock().map(|m| m.clone()).unwrap_or_default();
        for ((method, outcome), n) in &requests {
            let _ = writeln!(
                out,
                "nexus_graphql_paymaster_requests_total{{method=\"{method}\",outcome=\"{outcome}\"}} {n}"
            );
        }
        write_counter(
            out,
            "nexus_graphql_paymaster_reconcile_errors_total",
            "Sponsorship reconciliation rounds that failed (retried next interval).",
            self.reconcile_errors.load(Ordering::Relaxed),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_requests_by_label_and_reconcile_errors() {
        let m = SponsorMetrics::default();
        m.request("pm_getPaymasterData", "sponsored");
        m.request("pm_getPaymasterData", "sponsored");
        m.request("other", "invalid");
        m.reconcile_error();
        let mut out = String::new();
        m.render(&mut out);
        assert!(out.contains(
            "nexus_graphql_paymaster_requests_total{method=\"pm_getPaymasterData\",outcome=\"sponsored\"} 2\n"
        ));
        assert!(out.contains("nexus_graphql_paymaster_requests_total{method=\"other\",outcome=\"invalid\"} 1\n"));
        assert!(out.contains("nexus_graphql_paymaster_reconcile_errors_total 1\n"), "{out}");
    }
}
