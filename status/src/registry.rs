//! One service instance's metrics: a Prometheus recorder, its render handle and the process
//! collector (see the crate doc for why there is one per instance, not one global recorder).

use std::fmt;
use std::sync::{Arc, Weak};
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Label, Level, Metadata, Recorder};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

use crate::buckets::{self, HistogramSpec};

/// How often observed histogram samples are folded into their buckets. The exporter queues each
/// observation until a scrape or an upkeep drains it: without upkeep, a service nobody scrapes
/// would hold every request's latency in memory.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// What the recorder is told about the call site; the Prometheus recorder ignores it.
static METADATA: Metadata<'static> = Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// One service instance's metrics. Cheap to clone (shared); handles it hands out stay valid for
/// as long as any clone lives.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

struct Inner {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    process: metrics_process::Collector,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry").finish_non_exhaustive()
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    /// An empty registry knowing every histogram's buckets ([`buckets::ALL`]). Inside a Tokio
    /// runtime it also starts the upkeep task, which ends once the last clone is dropped.
    pub fn new() -> Self {
        let mut builder = PrometheusBuilder::new();
        for spec in buckets::ALL {
            builder = match builder.set_buckets_for_metric(Matcher::Full(spec.name.to_string()), spec.buckets) {
                Ok(builder) => builder,
                // The exporter refuses only an empty bound list, which `HistogramSpec::new`
                // already rejects when the compiler evaluates the spec constants.
                Err(e) => unreachable!("histogram {} has no buckets: {e}", spec.name),
            };
        }
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        let process = metrics_process::Collector::default();
        metrics::with_local_recorder(&recorder, || process.describe());
        let inner = Arc::new(Inner { recorder, handle, process });
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(upkeep(Arc::downgrade(&inner)));
        }
        Self { inner }
    }

    /// The counter `name` with `labels` (registered on first use, the same series after).
    pub fn counter(&self, name: &'static str, help: &'static str, labels: &[(&'static str, &str)]) -> Counter {
        self.inner.recorder.describe_counter(KeyName::from_const_str(name), None, help.into());
        self.inner.recorder.register_counter(&key(name, labels), &METADATA)
    }

    /// The gauge `name`.
    pub fn gauge(&self, name: &'static str, help: &'static str) -> Gauge {
        self.inner.recorder.describe_gauge(KeyName::from_const_str(name), None, help.into());
        self.inner.recorder.register_gauge(&key(name, &[]), &METADATA)
    }

    /// The histogram `spec` with `labels`; observations are in seconds (a `Duration` records
    /// as its seconds).
    pub fn histogram(&self, spec: &HistogramSpec, labels: &[(&'static str, &str)]) -> Histogram {
        self.inner.recorder.describe_histogram(KeyName::from_const_str(spec.name), None, spec.help.into());
        self.inner.recorder.register_histogram(&key(spec.name, labels), &METADATA)
    }

    /// Every series in the Prometheus text exposition format, process metrics read now.
    pub fn render(&self) -> String {
        metrics::with_local_recorder(&self.inner.recorder, || self.inner.process.collect());
        self.inner.handle.render()
    }
}

fn key(name: &'static str, labels: &[(&'static str, &str)]) -> Key {
    if labels.is_empty() {
        return Key::from_static_name(name);
    }
    let labels: Vec<Label> = labels.iter().map(|&(k, v)| Label::new(k, v.to_owned())).collect();
    Key::from_parts(name, labels)
}

async fn upkeep(registry: Weak<Inner>) {
    let mut tick = tokio::time::interval(UPKEEP_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(inner) = registry.upgrade() else { return };
        inner.handle.run_upkeep();
    }
}

/// The value of one series (`name` or `name{label="value",...}`, labels as rendered) in an
/// exposition text, for readers of a scrape such as tests and benchmarks.
pub fn sample(exposition: &str, series: &str) -> Option<f64> {
    exposition.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buckets::{GRAPHQL_REQUEST_SECONDS, RELAYER_RUN_SECONDS};

    #[test]
    fn an_observation_lands_in_every_bucket_at_or_above_it() {
        let registry = Registry::new();
        registry.histogram(&RELAYER_RUN_SECONDS, &[]).record(Duration::from_millis(300));
        let text = registry.render();
        let bucket = |le: &str| sample(&text, &format!("nexus_relayer_run_seconds_bucket{{le=\"{le}\"}}"));
        assert_eq!(bucket("0.25"), Some(0.0), "{text}");
        assert_eq!(bucket("0.5"), Some(1.0), "{text}");
        assert_eq!(bucket("300"), Some(1.0), "{text}");
        assert_eq!(bucket("+Inf"), Some(1.0), "{text}");
        assert_eq!(sample(&text, "nexus_relayer_run_seconds_count"), Some(1.0), "{text}");
        assert_eq!(sample(&text, "nexus_relayer_run_seconds_sum"), Some(0.3), "{text}");
    }

    #[test]
    fn histograms_render_exactly_their_declared_bounds() {
        let registry = Registry::new();
        registry.histogram(&GRAPHQL_REQUEST_SECONDS, &[("operation", "Op")]).record(0.002);
        let text = registry.render();
        let bounds: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("nexus_graphql_request_duration_seconds_bucket{operation=\"Op\",le=\""))
            .filter_map(|l| l.split('"').next())
            .collect();
        let expected: Vec<String> = GRAPHQL_REQUEST_SECONDS.buckets.iter().map(|b| b.to_string()).collect();
        assert_eq!(bounds[..bounds.len() - 1], expected[..], "{text}");
        assert_eq!(bounds.last(), Some(&"+Inf"));
        assert!(text.contains("# TYPE nexus_graphql_request_duration_seconds histogram\n"), "{text}");
    }

    #[test]
    fn two_registries_do_not_mix_counts() {
        let (a, b) = (Registry::new(), Registry::new());
        a.counter("nexus_test_total", "A test counter.", &[("k", "v")]).increment(2);
        b.counter("nexus_test_total", "A test counter.", &[("k", "v")]).increment(5);
        a.counter("nexus_test_total", "A test counter.", &[("k", "v")]).increment(1);
        assert_eq!(sample(&a.render(), "nexus_test_total{k=\"v\"}"), Some(3.0));
        assert_eq!(sample(&b.render(), "nexus_test_total{k=\"v\"}"), Some(5.0));
    }

    #[test]
    fn scrapes_carry_process_metrics() {
        let text = Registry::new().render();
        for name in [
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_open_fds",
            "process_start_time_seconds",
        ] {
            assert!(sample(&text, name).is_some(), "no {name} in\n{text}");
        }
        assert!(sample(&text, "process_resident_memory_bytes").is_some_and(|b| b > 0.0), "{text}");
    }

    #[test]
    fn counters_and_gauges_keep_their_types_and_help() {
        let registry = Registry::new();
        registry.counter("nexus_test_total", "Things counted.", &[]).increment(1);
        registry.gauge("nexus_test_level", "A level.").set(7.0);
        let text = registry.render();
        assert!(text.contains("# HELP nexus_test_total Things counted.\n# TYPE nexus_test_total counter\n"), "{text}");
        assert!(text.contains("# TYPE nexus_test_level gauge\nnexus_test_level 7\n"), "{text}");
    }
}
