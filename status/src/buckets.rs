//! Every histogram the services keep, with its bucket bounds: the one place they are declared.
//!
//! The exporter needs a histogram's bounds before the first observation (without them it would
//! keep a summary instead), so each [`Registry`](crate::Registry) is built knowing all of
//! [`ALL`], and a service can only register a histogram through its spec here.

/// A histogram's name, help text and bucket upper bounds (seconds, increasing).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HistogramSpec {
    pub name: &'static str,
    pub help: &'static str,
    pub buckets: &'static [f64],
}

impl HistogramSpec {
    /// A spec, checked at compile time (the constants below are evaluated by the compiler): at
    /// least one bound, strictly increasing.
    const fn new(name: &'static str, help: &'static str, buckets: &'static [f64]) -> Self {
        assert!(!buckets.is_empty(), "a histogram needs at least one bucket");
        let mut i = 1;
        while i < buckets.len() {
            assert!(buckets[i - 1] < buckets[i], "bucket bounds must increase");
            i += 1;
        }
        Self { name, help, buckets }
    }
}

/// Container runs and settlements: from tens of milliseconds (anvil, an agent that answers at
/// once) to minutes (max durations).
const JOB_SECONDS: &[f64] = &[0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0];

/// API requests: from a cached lookup (1 ms) to the request timeout.
const REQUEST_SECONDS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The relayer's container run time.
pub const RELAYER_RUN_SECONDS: HistogramSpec =
    HistogramSpec::new("nexus_relayer_run_seconds", "Container run time (create to exit).", JOB_SECONDS);

/// The relayer's settlement latency.
pub const RELAYER_SETTLEMENT_SECONDS: HistogramSpec =
    HistogramSpec::new("nexus_relayer_settlement_seconds", "First settle send to receipt.", JOB_SECONDS);

/// The API's request latency, labelled by `operation`.
pub const GRAPHQL_REQUEST_SECONDS: HistogramSpec = HistogramSpec::new(
    "nexus_graphql_request_duration_seconds",
    "GraphQL request latency by operation name.",
    REQUEST_SECONDS,
);

/// One agent request through the egress proxy (refused ones included, which take well under
/// a millisecond): an API call's range, up to the proxy's per-request timeout.
pub const RELAYER_EGRESS_REQUEST_SECONDS: HistogramSpec = HistogramSpec::new(
    "nexus_relayer_egress_request_seconds",
    "Agent requests through the egress proxy, arrival to last response byte.",
    REQUEST_SECONDS,
);

/// Every histogram, for the exporter's per-metric bucket configuration.
pub const ALL: &[HistogramSpec] =
    &[RELAYER_RUN_SECONDS, RELAYER_SETTLEMENT_SECONDS, GRAPHQL_REQUEST_SECONDS, RELAYER_EGRESS_REQUEST_SECONDS];
