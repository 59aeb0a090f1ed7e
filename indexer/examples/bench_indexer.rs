//! `make bench-indexer`: backfill throughput and live lag of the real indexer against a real
//! chain and a real PostgreSQL, printed as `name=value` lines.
//!
//! 1. Builds a local chain with at least `BENCH_EVENTS` (default 100,000) events from the real
//!    contracts (driven by the test-only `BenchDriver`, a few hundred events per transaction),
//!    then mines enough empty blocks that all of them are final (backfill, not follow).
//! 2. Indexes it from an empty database: `indexer.backfill_events_per_sec` = events / wall time
//!    from the first step until the indexer is caught up with the head.
//! 3. Runs the indexer live on the websocket endpoint and sends `BENCH_LIVE_BLOCKS` (default 200)
//!    transactions, one block each (5 to 15 events). The lag of one block is from the moment the
//!    node announces it (the bench's own `newHeads` subscription, next to the indexer's) until
//!    the indexer's `nexus_blocks` NOTIFY for it arrives on a separate database connection, i.e.
//!    mined → committed and visible. Prints `indexer.live_lag_ms_p50` and `indexer.live_lag_ms_p99`.
//!
//! Bars (issue 3): backfill ≥ 25,000 events/s; live lag p50 < 50 ms.

use nexus_store::{Channel, Notification};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy::providers::ext::AnvilApi;
use alloy::providers::{Provider, ProviderBuilder};
use anyhow::{Context, Result, anyhow, bail};
use futures::StreamExt;
use nexus_indexer::{Config, Indexer};
use nexus_testkit::load::EventLoad;
use nexus_testkit::{Devnet, Postgres};
use sqlx::postgres::PgListener;

fn env_u64(name: &str, default: u64) -> Result<u64> {
    match std::env::var(name) {
        Ok(v) => v.parse().with_context(|| format!("{name}={v} is not a number")),
        Err(_) => Ok(default),
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let events = env_u64("BENCH_EVENTS", 100_000)?;
    let live_blocks = env_u64("BENCH_LIVE_BLOCKS", 200)?;

    let devnet = Devnet::start().await?;
    let pg = Postgres::start()?;
    let load = EventLoad::deploy(&devnet).await?;
    let built = Instant::now();
    load.emit(events).await?;
    let config = Config::local(devnet.deployments.clone(), devnet.rpc_url(), pg.create_database("bench")?);
    // Bury the events under more than the reorg window, so all of them are backfilled.
    devnet.dev_provider(0).anvil_mine(Some(config.max_reorg_depth + 1), None).await?;
    eprintln!("bench-indexer: chain built in {:.1} s", built.elapsed().as_secs_f64());

    // Backfill.
    let mut indexer = Indexer::connect(config.clone()).await?;
    let started = Instant::now();
    indexer.sync().await?;
    let elapsed = started.elapsed();
    let indexed: i64 = sqlx::query_scalar("SELECT count(*) FROM chain_events").fetch_one(indexer.pool()).await?;
    if (indexed as u64) < events {
        bail!("indexed {indexed} events, expected at least {events}");
    }
    eprintln!("bench-indexer: {indexed} events backfilled in {:.2} s", elapsed.as_secs_f64());
    println!("indexer.backfill_events={indexed}");
    println!("indexer.backfill_events_per_sec={}", (indexed as f64 / elapsed.as_secs_f64()).round());
    drop(indexer);

    // Live following over the websocket.
    let mut live_config = config.clone();
    live_config.rpc_url = devnet.ws_url();
    let mut indexer = Indexer::connect(live_config).await?;
    let committed: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
    let mut listener = PgListener::connect(&config.database_url).await?;
    listener.listen(Channel::Blocks.name()).await?;
    let mined: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
    let heads = ProviderBuilder::new().connect(&devnet.ws_url()).await?;
    let mut stream = heads.subscribe_blocks().await?.into_stream();
    let announced = mined.clone();
    let watching = tokio::spawn(async move {
        while let Some(header) = stream.next().await {
            let at = Instant::now();
            if let Ok(mut announced) = announced.lock() {
                announced.insert(header.number, at);
            }
        }
    });
    let seen = committed.clone();
    let listening = tokio::spawn(async move {
        while let Ok(n) = listener.recv().await {
            let at = Instant::now();
            if let (Ok(Notification::Block(b)), Ok(mut seen)) =
                (Notification::parse(n.channel(), n.payload()), seen.lock())
            {
                seen.insert(b.block, at);
            }
        }
    });
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(async move {
        indexer
            .run(async {
                let _ = stopped.await;
            })
            .await
    });
    // Let it catch up with the empty blocks it has not seen yet.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut lags = Vec::with_capacity(live_blocks as usize);
    for i in 0..live_blocks {
        let sent = Instant::now();
        let block = load.run(1 + i % 3).await?;
        let deadline = sent + Duration::from_secs(10);
        let (mined_at, committed_at) = loop {
            let mined_at = mined.lock().map_err(|_| anyhow!("poisoned"))?.get(&block).copied();
            let committed_at = committed.lock().map_err(|_| anyhow!("poisoned"))?.get(&block).copied();
            if let (Some(m), Some(c)) = (mined_at, committed_at) {
                break (m, c);
            }
            if Instant::now() > deadline {
                bail!("block {block} was not announced and indexed within 10 s");
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        };
        lags.push(committed_at.saturating_duration_since(mined_at).as_secs_f64() * 1000.0);
        // Blocks a little apart, as on a real chain, so each is measured on its own.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop.send(());
    running.await??;
    listening.abort();
    watching.abort();
    if lags.is_empty() {
        bail!("no live blocks measured (BENCH_LIVE_BLOCKS=0)");
    }

    lags.sort_by(f64::total_cmp);
    let pct = |p: f64| lags[((lags.len() as f64 - 1.0) * p).round() as usize];
    println!("indexer.live_blocks={}", lags.len());
    println!("indexer.live_lag_ms_p50={:.1}", pct(0.50));
    println!("indexer.live_lag_ms_p99={:.1}", pct(0.99));
    Ok(())
}
