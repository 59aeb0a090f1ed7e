//! `nexus-indexer`: every AgentNexus contract event mirrored into PostgreSQL, in block order.
//!
//! # How it runs
//!
//! The schema lives in `store/migrations/` and is applied by `nexus_store::migrate` (the store
//! crate also holds the typed statuses, codecs and NOTIFY payloads used below). [`Indexer::run`] loops over [`Indexer::step`], which does one of:
//!
//! * **Backfill** (blocks at least `max_reorg_depth` behind the head, i.e. final): one
//!   `eth_getLogs` over a block range for the registry and the marketplace, all logs applied in
//!   (block, tx index, log index) order, and the cursor moved to the range's last block, in one
//!   database transaction. The range starts at `max_block_range` and halves whenever the node
//!   refuses it (too many results, range limit, timeout), growing back after successes; it also
//!   shrinks so a batch holds about [`TARGET_BATCH_LOGS`] logs. While one batch is written, the
//!   next range's logs are already being fetched (one range ahead), so the node and the database
//!   work at the same time.
//! * **Follow** (unfinalized blocks): one block at a time. Its header's parent hash is checked
//!   against the stored hash of the block before; then its logs are fetched *by block hash* (so
//!   they belong to exactly that block) and applied, and its hash is recorded, all in one
//!   transaction. When caught up it re-checks the stored tip against the node each poll, which
//!   also catches a reorg onto a branch that is not (yet) longer. It waits for the next block
//!   on a websocket `newHeads` subscription when the RPC URL is `ws(s)://`, polling every
//!   `poll_interval` as the fallback.
//!
//! Because projections and the cursor (`chain_cursor`) commit together and a step only ever
//! applies blocks after the cursor, a crash at any instruction loses nothing and applies nothing
//! twice: the next start resumes after the last committed block. The same holds when the
//! *database* goes back under a running indexer (a crash that takes acknowledged commits with it
//! under `synchronous_commit = off`, a failover to a replica that lacked them): every write
//! transaction first locks the cursor and checks it is still the one the step read, and fails
//! the step ([`IndexerError::CursorMoved`], retried) otherwise, so the position is always
//! re-derived from what the database holds, never carried in memory from before. Every projection row is keyed
//! by an on-chain identity or by chain position, and inconsistent input (closing a request that
//! is not open, spending credits not held) aborts the transaction instead of being papered over.
//!
//! After each commit the indexer has issued, inside the same transaction (so only committed
//! changes are announced), `NOTIFY`s on these channels (`nexus_store::notify`: one `Channel`
//! variant and one serde payload struct each, which the listeners decode with):
//!
//! | channel | payload |
//! | --- | --- |
//! | `nexus_blocks` | `{"block": n, "hash": "0x..", "events": k}` after every commit |
//! | `nexus_executions` | `{"requestId": "<decimal>"}` per execution created or closed |
//! | `nexus_agents` | `{"agentId": "<decimal>"}` per agent registered or changed |
//! | `nexus_balances` | `{"token": "0x..", "account": "0x.."}` per withdrawable balance changed |
//! | `nexus_reorg` | `{"ancestor": n, "depth": d}` after a rollback |
//!
//! [`status`] serves `/health`, `/ready` (caught up) and Prometheus `/metrics` (head, cursor,
//! lag, events, reorgs, errors) from counters the indexer keeps in memory.
//!
//! # Reorgs: an undo journal kept by the database
//!
//! Every projection table carries an `AFTER INSERT OR UPDATE OR DELETE` trigger
//! (`nexus_journal()` in the migration). While the transaction-local setting
//! `nexus.journal_block` names a block (the indexer sets it before applying an unfinalized
//! block), the trigger records each row change in `reorg_journal`: table, old row and new row as
//! JSONB. On a parent-hash mismatch the indexer walks back through `chain_blocks` comparing
//! stored hashes with the node's until they agree (the common ancestor), then one transaction
//! calls `nexus_rollback(ancestor)`, which replays the journal of later blocks newest first
//! (delete what was inserted, restore what was updated or deleted, matched by primary key),
//! deletes their `chain_blocks`, and moves the cursor back; the new branch is then applied like
//! any new blocks. Final blocks (backfill) are applied with the journal off, and journal entries
//! and block hashes older than `max_reorg_depth` are pruned after each commit.
//!
//! Why this and not graph-node's block-range versioned rows or re-deriving from raw events:
//! the projections stay plain "current state" tables that GraphQL and the relayer read without
//! any `block_range @> ...` predicate; the undo is generic (a new projection table only needs the
//! trigger); its cost is paid only for the last `max_reorg_depth` blocks; and rollback cost is
//! proportional to what the abandoned blocks changed, not to history. Rows round-trip through
//! JSONB exactly (NUMERIC and BYTEA included), which is why projection tables have no generated
//! columns. A reorg deeper than `max_reorg_depth` (no stored ancestor within the limit) stops the
//! indexer with [`IndexerError::ReorgTooDeep`]: an operator must look before anything is undone.

mod apply;
mod error;
pub mod metadata;
mod rpc;
pub mod status;
mod store;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use std::time::Duration;

use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::Filter;
use nexus_bindings::Deployments;
use sqlx::PgPool;
use tracing::{Instrument, debug, info, info_span, warn};

pub use error::IndexerError;
use rpc::{Prefetch, fetch_logs};
use store::Cursor;
pub use store::{PROJECTION_TABLES, projection_dump};

/// Logs per backfill batch the range is sized for. Large enough that a batch's fixed cost (a
/// transaction, a dozen statements, a header) is noise; small enough that fetching the next batch
/// overlaps writing this one several times over a long backfill, and that a batch's logs stay a
/// few tens of megabytes in memory.
pub const TARGET_BATCH_LOGS: usize = 10_000;

/// Blocks in the first backfill range. The range doubles from here while batches stay under
/// [`TARGET_BATCH_LOGS`], so a dense chain never starts with one enormous `eth_getLogs` that
/// nothing else can overlap with, and a sparse one reaches `max_block_range` in a few steps.
pub const INITIAL_BLOCK_RANGE: u64 = 64;

/// Consecutive failed steps with an RPC error after which the indexer moves to the next
/// endpoint. Two, not one: a single timeout or dropped connection is usually transient and the
/// retry (with backoff) on the same endpoint is cheaper than reconnecting elsewhere.
pub const FAILOVER_AFTER: u32 = 2;

/// What the indexer needs; the defaults run against the local stack.
#[derive(Debug, Clone)]
pub struct Config {
    /// JSON-RPC endpoint (http(s) or ws(s)).
    pub rpc_url: String,
    /// More endpoints of the same chain, tried in order when the current one keeps failing
    /// (see [`FAILOVER_AFTER`]); after the last comes `rpc_url` again.
    pub fallback_rpc_urls: Vec<String>,
    pub database_url: String,
    pub deployments: Deployments,
    /// Blocks behind the head to stay (0 on the local chain).
    pub confirmations: u64,
    /// Blocks that may still be reorganised; deeper reorgs stop the indexer.
    pub max_reorg_depth: u64,
    /// Largest `eth_getLogs` range during backfill.
    pub max_block_range: u64,
    /// How often to ask for a new head when caught up.
    pub poll_interval: Duration,
}

impl Config {
    /// Local-stack defaults for everything but the addresses.
    pub fn local(deployments: Deployments, rpc_url: impl Into<String>, database_url: impl Into<String>) -> Self {
        Self {
            rpc_url: rpc_url.into(),
            fallback_rpc_urls: Vec::new(),
            database_url: database_url.into(),
            deployments,
            confirmations: 0,
            max_reorg_depth: 64,
            max_block_range: 2_000,
            poll_interval: Duration::from_millis(100),
        }
    }
}

/// What one [`Indexer::step`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Applied blocks up to this number.
    Applied(u64),
    /// Rolled back to this ancestor.
    RolledBack(u64),
    /// Nothing new: the cursor is at the (confirmed) head.
    CaughtUp(u64),
}

/// The indexer. One per database.
pub struct Indexer {
    provider: DynProvider,
    /// Index into [`Config::endpoints`] of the endpoint `provider` talks to.
    endpoint: usize,
    /// Steps in a row that failed with an RPC error.
    rpc_failures: u32,
    pool: PgPool,
    config: Config,
    range: u64,
    /// The next backfill range's logs, being fetched while the current range is written.
    prefetch: Option<Prefetch>,
    metrics: Arc<status::Metrics>,
}

impl Indexer {
    /// Like [`Indexer::connect`] with an existing provider (for `config.rpc_url`) and pool.
    pub async fn new(provider: DynProvider, pool: PgPool, config: Config) -> Result<Self, IndexerError> {
        nexus_store::migrate(&pool).await?;
        let chain_id = provider.get_chain_id().await?;
        if chain_id != config.deployments.chain_id {
            return Err(IndexerError::WrongChain { expected: config.deployments.chain_id, found: chain_id });
        }
        let found: Option<i64> = sqlx::query_scalar("SELECT chain_id FROM chain_cursor").fetch_optional(&pool).await?;
        if let Some(found) = found
            && found as u64 != chain_id
        {
            return Err(IndexerError::WrongChain { expected: chain_id, found: found as u64 });
        }
        let range = config.max_block_range.clamp(1, INITIAL_BLOCK_RANGE);
        let metrics = Arc::new(status::Metrics::default());
        Ok(Self { provider, endpoint: 0, rpc_failures: 0, pool, config, range, prefetch: None, metrics })
    }

    /// What `/metrics` and `/ready` report (see [`status::serve`]).
    pub fn metrics(&self) -> Arc<status::Metrics> {
        self.metrics.clone()
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The last applied block, if any.
    pub async fn cursor(&self) -> Result<Option<u64>, IndexerError> {
        Ok(self.load_cursor().await?.map(|c| c.number))
    }

    /// Runs until `shutdown` resolves or a fatal error. Transient RPC and database errors are
    /// retried with backoff; [`IndexerError::ReorgTooDeep`] and inconsistencies are fatal (see
    /// [`IndexerError::is_retryable`]); [`FAILOVER_AFTER`] steps in a row failing on the node
    /// ([`IndexerError::is_rpc_failure`]) move to the next endpoint.
    ///
    /// On a websocket endpoint a `newHeads` subscription wakes the loop as soon as a block is
    /// mined; polling every `poll_interval` stays on as the fallback (and is all there is over
    /// HTTP, or while the subscription is down; it is retried after each poll).
    pub async fn run(&mut self, shutdown: impl std::future::Future<Output = ()>) -> Result<(), IndexerError> {
        use futures::StreamExt;
        tokio::pin!(shutdown);
        let mut backoff = Duration::from_millis(100);
        let mut heads = None;
        loop {
            let websocket = self.endpoint_url().starts_with("ws");
            if websocket && heads.is_none() {
                match self.provider.subscribe_blocks().await {
                    Ok(sub) => heads = Some(sub.into_stream().boxed()),
                    Err(e) => warn!(error = %e, "newHeads subscription failed; polling"),
                }
            }
            let step = tokio::select! {
                _ = &mut shutdown => return Ok(()),
                step = self.step() => step,
            };
            let pause = match step {
                Ok(Progress::CaughtUp(_)) => {
                    backoff = Duration::from_millis(100);
                    self.config.poll_interval
                }
                Ok(_) => {
                    backoff = Duration::from_millis(100);
                    continue;
                }
                Err(e) if !e.is_retryable() => {
                    tracing::error!(error = %e, "indexer stopped");
                    return Err(e);
                }
                Err(e) => {
                    if e.is_rpc_failure() {
                        self.rpc_failures += 1;
                        if self.rpc_failures >= FAILOVER_AFTER && self.fail_over().await {
                            // The subscription belonged to the old endpoint.
                            heads = None;
                        }
                    }
                    warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "indexer step failed");
                    let pause = backoff;
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                    pause
                }
            };
            let next_head = async {
                match heads.as_mut() {
                    Some(stream) => stream.next().await.is_some(),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = &mut shutdown => return Ok(()),
                _ = tokio::time::sleep(pause) => {}
                alive = next_head => {
                    if !alive {
                        warn!("newHeads subscription ended; polling until it is back");
                        heads = None;
                    }
                }
            }
        }
    }

    /// Runs steps until caught up with the head as it is now (for tests and one-shot runs).
    pub async fn sync(&mut self) -> Result<u64, IndexerError> {
        loop {
            if let Progress::CaughtUp(n) = self.step().await? {
                return Ok(n);
            }
        }
    }

    /// One unit of work: a backfill batch, one followed block, a rollback, or a tip check.
    pub async fn step(&mut self) -> Result<Progress, IndexerError> {
        let result = self.step_inner().await;
        if result.is_ok() {
            self.rpc_failures = 0;
        }
        let m = &self.metrics;
        match &result {
            Ok(Progress::CaughtUp(n)) => {
                m.cursor.store(*n, Ordering::Relaxed);
                m.caught_up.store(true, Ordering::Relaxed);
            }
            Ok(Progress::Applied(n)) => {
                m.cursor.store(*n, Ordering::Relaxed);
                m.caught_up.store(false, Ordering::Relaxed);
            }
            Ok(Progress::RolledBack(n)) => {
                m.cursor.store(*n, Ordering::Relaxed);
                m.reorgs.increment(1);
                m.caught_up.store(false, Ordering::Relaxed);
            }
            Err(_) => {
                m.errors.increment(1);
            }
        }
        result
    }

    async fn step_inner(&mut self) -> Result<Progress, IndexerError> {
        let head = self.provider.get_block_number().await?;
        self.metrics.head.store(head, Ordering::Relaxed);
        let target = head.saturating_sub(self.config.confirmations);
        let cursor = self.load_cursor().await?;
        let next = cursor.map_or(self.config.deployments.deployment_block, |c| c.number + 1);
        let final_up_to = head.saturating_sub(self.config.max_reorg_depth);

        if next > target {
            // Caught up: make sure the block we stand on is still the node's.
            if let Some(c) = cursor {
                let check = c.number.min(head);
                let stored = if check == c.number { Some(c.hash) } else { self.stored_hash(check).await? };
                let chain = self.header(check).await?.map(|h| h.hash);
                if stored.is_some() && stored != chain || check < c.number {
                    return self.rewind(c).await;
                }
                return Ok(Progress::CaughtUp(c.number));
            }
            return Ok(Progress::CaughtUp(next.saturating_sub(1)));
        }

        if next <= final_up_to {
            let to = (next + self.range - 1).min(final_up_to).min(target);
            self.backfill(next, to, final_up_to.min(target), cursor).await
        } else {
            self.follow(next, cursor).await
        }
    }

    async fn backfill(
        &mut self,
        from: u64,
        to: u64,
        backfill_to: u64,
        cursor: Option<Cursor>,
    ) -> Result<Progress, IndexerError> {
        let span = info_span!("backfill", from, to);
        async {
            let (to, fetched) = match self.prefetch.take() {
                // The range fetched ahead may end earlier than `to` (the head moved since): any
                // end inside the final range is a valid batch.
                Some(p) if p.from == from && p.to <= to => match p.logs.await {
                    Ok(result) => (p.to, result),
                    Err(join) => (p.to, Err(IndexerError::Prefetch(join))),
                },
                stale => {
                    if let Some(p) = stale {
                        p.logs.abort();
                    }
                    (to, self.logs(Filter::new().from_block(from).to_block(to)).await)
                }
            };
            let logs = match fetched {
                Ok(logs) => logs,
                Err(e) if to > from => {
                    self.range = (to - from).div_ceil(2).max(1);
                    warn!(error = %e, range = self.range, "eth_getLogs refused; shrinking the range");
                    return Ok(Progress::Applied(cursor.map_or(from.saturating_sub(1), |c| c.number)));
                }
                Err(e) => return Err(e),
            };
            // Size the next range for about TARGET_BATCH_LOGS logs, and start fetching it.
            let blocks = to - from + 1;
            let sized = blocks * TARGET_BATCH_LOGS as u64 / logs.len().max(1) as u64;
            self.range = sized.clamp(1, (self.range * 2).min(self.config.max_block_range).max(1));
            if to < backfill_to {
                let (next_from, next_to) = (to + 1, (to + self.range).min(backfill_to));
                let filter = self.filter(Filter::new().from_block(next_from).to_block(next_to));
                let provider = self.provider.clone();
                let logs = tokio::spawn(async move { fetch_logs(&provider, &filter).await });
                self.prefetch = Some(Prefetch { from: next_from, to: next_to, logs });
            }
            let last = self.header(to).await?.ok_or(IndexerError::MissingBlock(to))?;
            let changes = self.write_backfill(&logs, &last, cursor).await?;
            self.metrics.events.increment(changes.events);
            debug!(events = changes.events, "backfilled");
            Ok(Progress::Applied(to))
        }
        .instrument(span)
        .await
    }

    async fn follow(&mut self, number: u64, cursor: Option<Cursor>) -> Result<Progress, IndexerError> {
        let span = info_span!("block", number);
        async {
            let Some(header) = self.header(number).await? else {
                // The head moved back under us: check the tip next step.
                return Ok(Progress::CaughtUp(number.saturating_sub(1)));
            };
            if let Some(c) = cursor
                && header.parent_hash != c.hash
            {
                info!(parent = %header.parent_hash, stored = %c.hash, "parent hash mismatch: reorg");
                return self.rewind(c).await;
            }
            let logs = self.logs(Filter::new().at_block_hash(header.hash)).await?;
            let changes = self.write_block(number, &header, &logs, cursor).await?;
            self.metrics.events.increment(changes.events);
            if changes.events > 0 {
                debug!(events = changes.events, "applied");
            }
            Ok(Progress::Applied(number))
        }
        .instrument(span)
        .await
    }
}
