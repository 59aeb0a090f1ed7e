//! The node side: connecting to an RPC endpoint (and failing over to the next one), fetching
//! logs and block headers, and placing a log in the chain (its `Position`).
//!
//! Kept apart from the step loop in `lib.rs` so that the loop reads as "what happens in which
//! order", while everything about *how* the node is asked (endpoint choice, address filter,
//! block-order sorting, header fallbacks for missing `blockTimestamp`) lives here.

use alloy::eips::BlockNumberOrTag;
use alloy::primitives::B256;
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::{Filter, Log};
use sqlx::postgres::PgPoolOptions;
use tracing::warn;

use crate::apply::Position;
use crate::{Config, Indexer, IndexerError};

/// A backfill range whose logs are being fetched ahead (see `Indexer::backfill`).
pub(crate) struct Prefetch {
    pub(crate) from: u64,
    pub(crate) to: u64,
    pub(crate) logs: tokio::task::JoinHandle<Result<Vec<Log>, IndexerError>>,
}

/// The parts of a block header the indexer uses.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Header {
    pub(crate) number: u64,
    pub(crate) hash: B256,
    pub(crate) parent_hash: B256,
    pub(crate) timestamp: u64,
}

impl Indexer {
    /// Connects to the node (the first endpoint that answers) and the database, migrates the
    /// schema and checks the chain id.
    pub async fn connect(config: Config) -> Result<Self, IndexerError> {
        let pool = PgPoolOptions::new().max_connections(4).connect(&config.database_url).await?;
        let endpoints = config.endpoints();
        let mut last = None;
        for (i, url) in endpoints.iter().enumerate() {
            // An http(s) provider connects lazily: ask it something to know it answers.
            let answering = match connect_endpoint(url).await {
                Ok(provider) => provider.get_chain_id().await.map(|_| provider).map_err(IndexerError::from),
                Err(e) => Err(e),
            };
            match answering {
                Ok(provider) => {
                    let mut indexer = Self::new(provider, pool, config).await?;
                    indexer.endpoint = i;
                    return Ok(indexer);
                }
                Err(e) => {
                    warn!(rpc = %url, error = %e, "RPC endpoint unavailable");
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or(IndexerError::NoEndpoint))
    }

    /// The URL of the endpoint in use.
    pub(crate) fn endpoint_url(&self) -> &str {
        self.config.endpoint(self.endpoint)
    }

    /// Moves to the next endpoint that connects and serves the same chain; false when there is
    /// no other endpoint or none of them does (the current one is kept and retried).
    pub(crate) async fn fail_over(&mut self) -> bool {
        let endpoints = self.config.endpoints();
        for offset in 1..endpoints.len() {
            let i = (self.endpoint + offset) % endpoints.len();
            let url = &endpoints[i];
            let provider = match connect_endpoint(url).await {
                Ok(p) => p,
                Err(e) => {
                    warn!(rpc = %url, error = %e, "fallback RPC endpoint unavailable");
                    continue;
                }
            };
            match provider.get_chain_id().await {
                Ok(id) if id == self.config.deployments.chain_id => {
                    warn!(from = %endpoints[self.endpoint], to = %url, "RPC failover");
                    if let Some(p) = self.prefetch.take() {
                        p.logs.abort();
                    }
                    self.provider = provider;
                    self.endpoint = i;
                    self.rpc_failures = 0;
                    self.metrics.failovers.increment(1);
                    return true;
                }
                Ok(id) => warn!(rpc = %url, chain_id = id, "fallback RPC endpoint serves another chain; skipped"),
                Err(e) => warn!(rpc = %url, error = %e, "fallback RPC endpoint unavailable"),
            }
        }
        false
    }

    /// `filter` narrowed to the AgentNexus contracts.
    pub(crate) fn filter(&self, filter: Filter) -> Filter {
        let c = &self.config.deployments.contracts;
        filter.address(vec![c.agent_registry, c.agent_marketplace])
    }

    pub(crate) async fn logs(&self, filter: Filter) -> Result<Vec<Log>, IndexerError> {
        fetch_logs(&self.provider, &self.filter(filter)).await
    }

    pub(crate) async fn header(&self, number: u64) -> Result<Option<Header>, IndexerError> {
        let block = self.provider.get_block_by_number(BlockNumberOrTag::Number(number)).await?;
        Ok(block.map(|b| Header {
            number: b.header.number,
            hash: b.header.hash,
            parent_hash: b.header.parent_hash,
            timestamp: b.header.timestamp,
        }))
    }

    /// Block times of the blocks whose logs lack `blockTimestamp`, fetched concurrently.
    pub(crate) async fn block_times(&self, logs: &[Log]) -> Result<std::collections::HashMap<u64, u64>, IndexerError> {
        use futures::{StreamExt, TryStreamExt};
        let mut missing: Vec<u64> =
            logs.iter().filter(|l| l.block_timestamp.is_none()).filter_map(|l| l.block_number).collect();
        missing.dedup();
        futures::stream::iter(missing)
            .map(|n| async move {
                let header = self.header(n).await?.ok_or(IndexerError::MissingBlock(n))?;
                Ok::<_, IndexerError>((n, header.timestamp))
            })
            .buffer_unordered(16)
            .try_collect()
            .await
    }

    /// A backfilled log's position; its block time comes from the log when the node includes it,
    /// else from the block header (prefetched by `block_times`, or fetched here).
    pub(crate) async fn position(
        &self,
        log: &Log,
        times: &mut std::collections::HashMap<u64, u64>,
    ) -> Result<Position, IndexerError> {
        let number = log.block_number.ok_or(IndexerError::IncompleteLog("block number"))?;
        let time = match (log.block_timestamp, times.get(&number)) {
            (Some(t), _) => t,
            (None, Some(&t)) => t,
            (None, None) => {
                let t = self.header(number).await?.ok_or(IndexerError::MissingBlock(number))?.timestamp;
                times.insert(number, t);
                t
            }
        };
        position_in(log, time)
    }
}

impl Config {
    /// `rpc_url` then the fallbacks.
    pub fn endpoints(&self) -> Vec<String> {
        std::iter::once(self.rpc_url.clone()).chain(self.fallback_rpc_urls.iter().cloned()).collect()
    }

    /// Endpoint `i` of [`Config::endpoints`], without building the list.
    fn endpoint(&self, i: usize) -> &str {
        if i == 0 { &self.rpc_url } else { &self.fallback_rpc_urls[i - 1] }
    }
}

pub(crate) async fn connect_endpoint(url: &str) -> Result<DynProvider, IndexerError> {
    Ok(ProviderBuilder::new().connect(url).await?.erased())
}

/// The logs `filter` selects, checked and in block order.
pub(crate) async fn fetch_logs(provider: &DynProvider, filter: &Filter) -> Result<Vec<Log>, IndexerError> {
    let mut logs = provider.get_logs(filter).await?;
    if logs.iter().any(|l| l.removed) {
        return Err(IndexerError::Inconsistent("node returned a removed log".into()));
    }
    // Block order is law: sort explicitly rather than trust the node.
    logs.sort_by_key(|l| (l.block_number, l.transaction_index, l.log_index));
    Ok(logs)
}

pub(crate) fn position_in(log: &Log, block_time: u64) -> Result<Position, IndexerError> {
    Ok(Position {
        block_number: log.block_number.ok_or(IndexerError::IncompleteLog("block number"))?,
        block_time,
        log_index: log.log_index.ok_or(IndexerError::IncompleteLog("log index"))?,
        tx_index: log.transaction_index.ok_or(IndexerError::IncompleteLog("transaction index"))?,
        tx_hash: log.transaction_hash.ok_or(IndexerError::IncompleteLog("transaction hash"))?,
        block_hash: log.block_hash.ok_or(IndexerError::IncompleteLog("block hash"))?,
    })
}
