//! `nexus indexer`: mirrors contract events into PostgreSQL (nexus-indexer), serves its
//! `/health`, `/ready` and `/metrics`, and resolves agents' remote metadata.
//!
//! Configured by [`IndexerSettings`] (the `[indexer]` table, `NEXUS_INDEXER_*`, the
//! subcommand's flags; every key with its default is in `nexus.example.toml`).

use std::time::Duration;

use anyhow::Context;
use nexus_bindings::Deployments;
use serde::{Deserialize, Serialize};

use crate::config::{Section, Settings};

/// The indexer's settings.
#[derive(clap::Args, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IndexerSettings {
    /// Blocks behind the head to stay (0 on the local chain).
    #[arg(long, default_value_t = 0)]
    pub confirmations: u64,
    /// Blocks that may still be reorganised; a deeper reorg stops the indexer.
    #[arg(long, default_value_t = 64)]
    pub max_reorg_depth: u64,
    /// Largest eth_getLogs block range during backfill.
    #[arg(long, default_value_t = 2_000)]
    pub max_block_range: u64,
    /// Milliseconds between asking for a new head when caught up.
    #[arg(long, default_value_t = 100)]
    pub poll_interval_ms: u64,
    /// Where /health, /ready and /metrics are served.
    #[arg(long, default_value = "127.0.0.1:9101")]
    pub status_addr: String,
    /// HTTP gateway for ipfs:// metadata URIs.
    #[arg(long, default_value = "http://127.0.0.1:8080/ipfs")]
    pub ipfs_gateway: String,
    /// More RPC endpoints of the same chain, comma-separated, tried in order when rpc_url keeps
    /// failing.
    #[arg(long, value_delimiter = ',')]
    pub fallback_rpc_urls: Vec<String>,
}

impl Section for IndexerSettings {
    const TABLE: Option<&'static str> = Some("indexer");
    const ENV_ALIASES: &'static [(&'static str, &'static str)] = &[("ipfs_gateway", "NEXUS_IPFS_GATEWAY")];
}

impl IndexerSettings {
    /// The indexer's configuration: these settings over the crate's local defaults.
    fn config(&self, deployments: Deployments, rpc_url: &str, database_url: &str) -> nexus_indexer::Config {
        let mut config = nexus_indexer::Config::local(deployments, rpc_url, database_url);
        config.confirmations = self.confirmations;
        config.max_reorg_depth = self.max_reorg_depth;
        config.max_block_range = self.max_block_range;
        config.poll_interval = Duration::from_millis(self.poll_interval_ms);
        // An empty entry (a trailing comma in the variable) is no endpoint.
        config.fallback_rpc_urls = self.fallback_rpc_urls.iter().filter(|u| !u.trim().is_empty()).cloned().collect();
        config
    }

    fn resolver(&self) -> nexus_indexer::metadata::ResolverConfig {
        nexus_indexer::metadata::ResolverConfig { ipfs_gateway: self.ipfs_gateway.clone(), ..Default::default() }
    }
}

pub async fn run(settings: &Settings) -> anyhow::Result<()> {
    let shared = &settings.shared;
    let deployments = Deployments::load(&shared.deployments)?;
    let database_url = shared.database_url()?;
    let config = settings.indexer.config(deployments, &shared.rpc_url, database_url.expose());
    tracing::info!(rpc = %config.rpc_url, deployments = %shared.deployments.display(), "starting indexer");
    let status_addr = &settings.indexer.status_addr;
    let mut indexer = nexus_indexer::Indexer::connect(config).await?;
    let listener = tokio::net::TcpListener::bind(status_addr)
        .await
        .with_context(|| format!("binding the status address {status_addr}"))?;
    tracing::info!(addr = %status_addr, "serving /health, /ready, /metrics");
    tokio::spawn(nexus_indexer::status::serve(listener, indexer.metrics(), std::future::pending()));
    tokio::spawn(nexus_indexer::metadata::run_resolver(
        indexer.pool().clone(),
        settings.indexer.resolver(),
        std::future::pending(),
    ));
    indexer.run(crate::stop_requested()).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::{defaults, deployments};

    /// The built-in defaults are the crate's own: applying them changes nothing, so moving a
    /// default here did not change what an unconfigured indexer does.
    #[test]
    fn defaults_are_the_crates_own() {
        let settings = defaults().indexer;
        let local = nexus_indexer::Config::local(deployments(), "http://rpc", "postgres://db");
        let configured = settings.config(deployments(), "http://rpc", "postgres://db");
        assert_eq!(format!("{configured:?}"), format!("{local:?}"));
        let resolver = nexus_indexer::metadata::ResolverConfig::default();
        assert_eq!(format!("{:?}", settings.resolver()), format!("{resolver:?}"));
    }

    #[test]
    fn empty_fallback_entries_are_dropped() {
        let settings = IndexerSettings { fallback_rpc_urls: vec!["http://a".into(), " ".into()], ..defaults().indexer };
        assert_eq!(settings.config(deployments(), "r", "d").fallback_rpc_urls, ["http://a"]);
    }
}
