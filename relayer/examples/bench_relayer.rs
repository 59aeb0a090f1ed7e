//! `make bench-relayer`: the relayer's latency and throughput over the real stack (anvil with
//! automine, a private PostgreSQL, the indexer, dockerd, the hostile `echo` image, which
//! answers at once), printed as `name=value` lines.
//!
//! - `relayer.container_overhead_ms_p50` / `_p99`: claim → container exited, from the relayer's
//!   own timing event ([`nexus_relayer::TIMING_TARGET`]), requests sent one at a time.
//! - `relayer.request_to_settled_ms_p50` / `_p99`: `ExecutionRequested` mined →
//!   `ExecutionSettled` mined, both timed by their arrival on the bench's own websocket log
//!   subscription (anvil pushes a block's logs when it mines it), requests one at a time.
//! - `relayer.throughput_per_min`: a burst of requests worked at concurrency 4; requests settled
//!   per minute from the first request mined to the last settlement mined. The same burst's
//!   latencies are printed too (`..._at_concurrency_4`), as they include queueing.
//!
//! - `relayer.egress_overhead_ms_p50` / `_p99`: what the egress proxy adds to one request
//!   (module `egress`, no containers: the proxy against a direct connection, alternating).
//!
//! Bars (issue 5): overhead p50 < 150 ms, request → settled p50 < 750 ms, ≥ 120 per minute.
//! `BENCH_RELAYER_SEQUENTIAL` and `BENCH_RELAYER_BURST` change the request counts;
//! `BENCH_RELAYER_EGRESS_ONLY=1` prints the egress lines alone (no stack, no containers);
//! `BENCH_RELAYER_WARM=0` turns pre-started containers off (cold create + start every run).
//! Per-phase medians (create + start, attach, start, drive) go to stderr.

// The relayer tests' stack (its own `#![allow(dead_code)]` covers the helpers not used here).
#[path = "../tests/common/mod.rs"]
mod common;
#[path = "bench_relayer/egress.rs"]
mod egress;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy::primitives::U256;
use alloy::providers::{Provider, ProviderBuilder, WsConnect};
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEvent;
use anyhow::{Context, Result, bail};
use futures::StreamExt;
use nexus_bindings::AgentMarketplace;
use tokio::sync::Notify;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Concurrency the issue's throughput bar is set at.
const CONCURRENCY: usize = 4;
/// Requests run and discarded first: the first container of a fresh image starts slowly
/// (TOOLCHAIN.md measured ~600 ms), and connection pools fill.
const WARMUP: u64 = 3;
/// Longest wait for one settlement before the bench gives up.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);

fn env_u64(name: &str, default: u64) -> Result<u64> {
    match std::env::var(name) {
        Ok(v) => v.parse().with_context(|| format!("{name}={v} is not a number")),
        Err(_) => Ok(default),
    }
}

/// Collects the relayer's timing events: every `<phase>_us` field, in milliseconds by phase
/// (`claim_to_exit` is the overhead; the others show where it goes).
#[derive(Clone, Default)]
struct Timings(Arc<Mutex<HashMap<&'static str, Vec<f64>>>>);

impl Timings {
    fn take(&self) -> HashMap<&'static str, Vec<f64>> {
        self.0.lock().map(|mut v| std::mem::take(&mut *v)).unwrap_or_default()
    }
}

impl<S: tracing::Subscriber> Layer<S> for Timings {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Visit<'a>(&'a mut HashMap<&'static str, Vec<f64>>);
        impl tracing::field::Visit for Visit<'_> {
            fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
                if let Some(phase) = field.name().strip_suffix("_us") {
                    self.0.entry(phase).or_default().push(value as f64 / 1000.0);
                }
            }
            fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
        }
        if let Ok(mut map) = self.0.lock() {
            event.record(&mut Visit(&mut map));
        }
    }
}

/// Prints the p50 of every phase to stderr (where the overhead goes; not a bench line).
fn phases(label: &str, timings: &mut HashMap<&'static str, Vec<f64>>) {
    let mut names: Vec<_> = timings.keys().copied().collect();
    names.sort();
    let parts: Vec<String> =
        names.iter().map(|n| format!("{n} {:.1} ms", percentile(timings.entry(n).or_default(), 50.0))).collect();
    eprintln!("bench-relayer: {label} p50 by phase: {}", parts.join(", "));
}

/// When each request's `ExecutionRequested` and `ExecutionSettled` logs arrived.
#[derive(Default)]
struct Seen {
    requested: HashMap<U256, Instant>,
    settled: HashMap<U256, Instant>,
}

/// Nearest-rank percentile of `samples` (sorted here).
fn percentile(samples: &mut [f64], p: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    samples.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * samples.len() as f64).ceil() as usize;
    samples[rank.clamp(1, samples.len()) - 1]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() -> Result<()> {
    if std::env::var("BENCH_RELAYER_EGRESS_ONLY").is_ok_and(|v| v == "1") {
        return print_egress().await;
    }
    let sequential = env_u64("BENCH_RELAYER_SEQUENTIAL", 40)?;
    let burst = env_u64("BENCH_RELAYER_BURST", 80)?;
    let timings = Timings::default();
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_filter(tracing_subscriber::EnvFilter::new("warn")))
        .with(
            timings
                .clone()
                .with_filter(tracing_subscriber::filter::filter_fn(|m| m.target() == nexus_relayer::TIMING_TARGET)),
        )
        .init();

    let stack = common::Stack::start("bench_relayer").await;
    // BENCH_RELAYER_WARM=0 measures cold starts only (no pre-started containers).
    let warm_start = env_u64("BENCH_RELAYER_WARM", 1)? != 0;
    let relayer = stack
        .relayer(|c| {
            c.concurrency = CONCURRENCY;
            c.warm_start = warm_start;
        })
        .await;
    let echo = stack.register("echo", 60).await;
    let credit = stack.buy(echo, WARMUP + sequential + burst).await;
    let input = stack.upload(br#"{"bench": true}"#).await;

    // Our own view of the chain: every marketplace log, timed on arrival.
    let d = &stack.devnet.deployments.contracts;
    let ws = ProviderBuilder::new().connect_ws(WsConnect::new(stack.devnet.ws_url())).await?;
    let mut logs = ws.subscribe_logs(&Filter::new().address(d.agent_marketplace)).await?.into_stream();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let arrived = Arc::new(Notify::new());
    let watcher = {
        let (seen, arrived) = (seen.clone(), arrived.clone());
        tokio::spawn(async move {
            while let Some(log) = logs.next().await {
                let now = Instant::now();
                let (Some(topic), Some(id)) = (log.topic0(), log.topics().get(1)) else { continue };
                let id = U256::from_be_bytes(id.0);
                if let Ok(mut s) = seen.lock() {
                    if *topic == AgentMarketplace::ExecutionRequested::SIGNATURE_HASH {
                        s.requested.insert(id, now);
                    } else if *topic == AgentMarketplace::ExecutionSettled::SIGNATURE_HASH {
                        s.settled.insert(id, now);
                    }
                }
                arrived.notify_waiters();
            }
        })
    };
    let market = AgentMarketplace::new(d.agent_marketplace, stack.devnet.dev_provider(common::BUYER));
    let first_id = market.nextRequestId().call().await?;
    let wait_settled = |id: U256| {
        let (seen, arrived) = (seen.clone(), arrived.clone());
        async move {
            let deadline = Instant::now() + SETTLE_TIMEOUT;
            loop {
                let notified = arrived.notified();
                if seen.lock().is_ok_and(|s| s.settled.contains_key(&id)) {
                    return Ok(());
                }
                if tokio::time::timeout_at(deadline.into(), notified).await.is_err() {
                    bail!("request {id} not settled within {SETTLE_TIMEOUT:?}");
                }
            }
        }
    };
    let latencies = |ids: std::ops::Range<u64>| -> Vec<f64> {
        let s = seen.lock().map(|s| (s.requested.clone(), s.settled.clone())).unwrap_or_default();
        ids.filter_map(|i| {
            let id = first_id + U256::from(i);
            Some(s.1.get(&id)?.duration_since(*s.0.get(&id)?).as_secs_f64() * 1000.0)
        })
        .collect()
    };

    // One at a time: the latency of a request that finds the relayer idle.
    for i in 0..WARMUP + sequential {
        if i == WARMUP {
            timings.take();
        }
        let _pending = market.requestExecution(credit, input).send().await?;
        wait_settled(first_id + U256::from(i)).await?;
    }
    let mut sequential_timings = timings.take();
    phases("one at a time", &mut sequential_timings);
    let mut overhead = sequential_timings.remove("claim_to_exit").unwrap_or_default();
    let mut latency = latencies(WARMUP..WARMUP + sequential);

    // A burst worked at CONCURRENCY: throughput, and latency including queueing.
    let start = WARMUP + sequential;
    for _ in 0..burst {
        let _pending = market.requestExecution(credit, input).send().await?;
    }
    for i in start..start + burst {
        wait_settled(first_id + U256::from(i)).await?;
    }
    let (first_requested, last_settled) = {
        let s = seen.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
        let ids = (start..start + burst).map(|i| first_id + U256::from(i));
        let first = ids.clone().filter_map(|id| s.requested.get(&id).copied()).min().context("no request seen")?;
        let last = ids.filter_map(|id| s.settled.get(&id).copied()).max().context("no settlement seen")?;
        (first, last)
    };
    let window = last_settled.duration_since(first_requested).as_secs_f64();
    let mut burst_timings = timings.take();
    phases("burst", &mut burst_timings);
    let mut burst_overhead = burst_timings.remove("claim_to_exit").unwrap_or_default();
    let mut burst_latency = latencies(start..start + burst);
    // Rendered after the stop: a job records its outcome just after its receipt, which our
    // subscription may have seen first.
    let metrics = relayer.metrics.clone();
    // Unsubscribe before anvil goes, so the websocket does not try to reconnect to it.
    watcher.abort();
    drop(ws);
    relayer.stop().await;
    stack.stop().await;
    let outcomes = metrics.render();

    let succeeded = outcomes
        .lines()
        .find_map(|l| l.strip_prefix("nexus_relayer_outcomes_total{outcome=\"succeeded\"} "))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    if succeeded != WARMUP + sequential + burst {
        bail!("only {succeeded} of {} requests succeeded:\n{outcomes}", WARMUP + sequential + burst);
    }
    println!("relayer.container_overhead_ms_p50={:.1}", percentile(&mut overhead, 50.0));
    println!("relayer.container_overhead_ms_p99={:.1}", percentile(&mut overhead, 99.0));
    println!("relayer.request_to_settled_ms_p50={:.1}", percentile(&mut latency, 50.0));
    println!("relayer.request_to_settled_ms_p99={:.1}", percentile(&mut latency, 99.0));
    println!("relayer.throughput_per_min={:.0}", burst as f64 / window * 60.0);
    println!("relayer.container_overhead_ms_p50_at_concurrency_4={:.1}", percentile(&mut burst_overhead, 50.0));
    println!("relayer.request_to_settled_ms_p50_at_concurrency_4={:.1}", percentile(&mut burst_latency, 50.0));
    println!("relayer.request_to_settled_ms_p99_at_concurrency_4={:.1}", percentile(&mut burst_latency, 99.0));
    print_egress().await
}

async fn print_egress() -> Result<()> {
    let (p50, p99) = egress::overhead(percentile).await?;
    println!("relayer.egress_overhead_ms_p50={p50:.2}");
    println!("relayer.egress_overhead_ms_p99={p99:.2}");
    Ok(())
}
