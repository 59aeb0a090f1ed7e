//! `nexus graphql`: serves the GraphQL API (nexus-graphql) over the indexer's database, and the
//! ERC-7677 sponsorship service (nexus-sponsor) next to it on the same listener when a sponsor key
//! is given. The two crates stay apart (the API reads, the sponsor signs and writes); this is
//! where they are composed.
//!
//! Configured by [`GraphqlSettings`] (the `[graphql]` table, `NEXUS_GRAPHQL_*`, the
//! subcommand's flags; every key with its default is in `nexus.example.toml`). The sponsorship
//! service at `POST /v1/paymaster` is on only when a sponsor key is given
//! (`sponsor_key_file`, or `NEXUS_SPONSOR_KEY` for development).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use nexus_bindings::Deployments;
use serde::{Deserialize, Serialize};

use crate::config::secret::{self, Secret};
use crate::config::{Section, Settings};

/// The GraphQL server's settings, with the sponsorship service's.
#[derive(clap::Args, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GraphqlSettings {
    /// Address to serve on: /graphql, /graphql/ws, /v1/blobs, /health, /ready, /metrics.
    #[arg(long, default_value = "127.0.0.1:4000")]
    pub listen: String,
    /// Serve GraphiQL at GET /graphql.
    #[arg(long, action = clap::ArgAction::Set, default_value_t = true)]
    pub development: bool,
    /// Allowed CORS origins, comma-separated (`*` for any).
    #[arg(long, value_delimiter = ',', default_value = "*")]
    pub cors_origins: Vec<String>,
    /// Domain that Sign-In with Ethereum (EIP-4361) messages must name.
    #[arg(long, default_value = "localhost:4000")]
    pub siwe_domain: String,
    /// HMAC key for bearer tokens, at least 16 bytes (random per process if unset: tokens then
    /// die with the process and replicas do not accept each other's).
    #[arg(long)]
    pub token_secret: Option<Secret>,
    /// File holding token_secret.
    #[arg(long)]
    pub token_secret_file: Option<PathBuf>,
    /// Seconds a bearer token stays valid.
    #[arg(long, default_value_t = 900)]
    pub token_ttl_secs: u64,
    /// Largest blob accepted by PUT /v1/blobs, in bytes.
    #[arg(long, default_value_t = 1_048_576)]
    pub blob_max_bytes: usize,
    /// Blob uploads per second per client address (refill rate).
    #[arg(long, default_value_t = 5.0)]
    pub blob_rate_per_second: f64,
    /// Blob uploads one client address may make in a burst.
    #[arg(long, default_value_t = 20.0)]
    pub blob_burst: f64,
    /// Largest GraphQL request body, in bytes.
    #[arg(long, default_value_t = 262_144)]
    pub graphql_max_bytes: usize,
    /// Milliseconds a GraphQL request may run.
    #[arg(long, default_value_t = 10_000)]
    pub request_timeout_ms: u64,
    /// Milliseconds one SQL statement may run.
    #[arg(long, default_value_t = 5_000)]
    pub statement_timeout_ms: u64,
    /// Database connections in the pool.
    #[arg(long, default_value_t = 16)]
    pub max_connections: u32,
    /// The deployments' roles.sponsor key (hex); the sponsorship service is off without one.
    #[arg(long)]
    pub sponsor_key: Option<Secret>,
    /// File holding sponsor_key.
    #[arg(long)]
    pub sponsor_key_file: Option<PathBuf>,
    /// Sponsored operations per account per UTC day.
    #[arg(long, default_value_t = nexus_sponsor::DEFAULT_DAILY_OPS)]
    pub sponsor_daily_ops: u32,
    /// Wei one account may have sponsored per UTC day (decimal).
    #[arg(long, default_value_t = nexus_sponsor::DEFAULT_DAILY_WEI.to_string())]
    pub sponsor_daily_wei: String,
    /// Wei the service may ever reserve in total (decimal).
    #[arg(long, default_value_t = nexus_sponsor::DEFAULT_BUDGET_WEI.to_string())]
    pub sponsor_budget_wei: String,
    /// Most wei one sponsored operation may cost (decimal).
    #[arg(long, default_value_t = nexus_sponsor::DEFAULT_MAX_OP_WEI.to_string())]
    pub sponsor_max_op_wei: String,
    /// Requests per second one client address may make to /v1/paymaster (refill rate).
    #[arg(long, default_value_t = nexus_sponsor::DEFAULT_CLIENT_RATE)]
    pub sponsor_client_rate_per_second: f64,
    /// Requests to /v1/paymaster one client address may make in a burst.
    #[arg(long, default_value_t = nexus_sponsor::DEFAULT_CLIENT_BURST)]
    pub sponsor_client_burst: f64,
}

impl Section for GraphqlSettings {
    const TABLE: Option<&'static str> = Some("graphql");
    /// The sponsor key's variable predates the `[graphql]` table.
    const ENV_ALIASES: &'static [(&'static str, &'static str)] = &[("sponsor_key", "NEXUS_SPONSOR_KEY")];
}

impl GraphqlSettings {
    /// The server's configuration: these settings over the crate's local defaults.
    fn config(
        &self,
        database_url: &str,
        rpc_url: &str,
        chain_id: Option<u64>,
    ) -> anyhow::Result<nexus_graphql::Config> {
        let mut config = nexus_graphql::Config::local(database_url);
        config.rpc_url = Some(rpc_url.to_owned());
        config.chain_id = chain_id;
        config.development = self.development;
        config.cors_origins = self.cors_origins.clone();
        config.siwe_domain = self.siwe_domain.clone();
        config.token_secret =
            secret::resolve("token_secret", self.token_secret.as_ref(), self.token_secret_file.as_deref())?
                .map(|s| s.expose().as_bytes().to_vec());
        config.token_ttl = Duration::from_secs(self.token_ttl_secs);
        config.blob_max_bytes = self.blob_max_bytes;
        config.blob_rate_per_second = self.blob_rate_per_second;
        config.blob_burst = self.blob_burst;
        config.graphql_max_bytes = self.graphql_max_bytes;
        config.request_timeout = Duration::from_millis(self.request_timeout_ms);
        config.statement_timeout = Duration::from_millis(self.statement_timeout_ms);
        config.max_connections = self.max_connections;
        Ok(config)
    }

    fn sponsor_limits(&self) -> nexus_sponsor::SponsorLimits {
        nexus_sponsor::SponsorLimits {
            daily_ops: Some(self.sponsor_daily_ops),
            daily_wei: Some(self.sponsor_daily_wei.clone()),
            budget_wei: Some(self.sponsor_budget_wei.clone()),
            max_op_wei: Some(self.sponsor_max_op_wei.clone()),
            client_rate_per_second: Some(self.sponsor_client_rate_per_second),
            client_burst: Some(self.sponsor_client_burst),
        }
    }

    /// The sponsor, when a key is given (an empty key is none, as `NEXUS_SPONSOR_KEY=` always was).
    fn sponsor(&self, deployments: &Path) -> anyhow::Result<Option<nexus_sponsor::SponsorConfig>> {
        let key = secret::resolve("sponsor_key", self.sponsor_key.as_ref(), self.sponsor_key_file.as_deref())?;
        let Some(key) = key.filter(|k| !k.expose().is_empty()) else { return Ok(None) };
        let deployments = Deployments::load(deployments).context("the sponsor needs the deployments")?;
        let sponsor = nexus_sponsor::SponsorConfig::from_deployments_and_key(&deployments, key.expose())?;
        Ok(Some(sponsor.with_limits(&self.sponsor_limits())?))
    }
}

pub async fn run(settings: &Settings) -> anyhow::Result<()> {
    let shared = &settings.shared;
    let graphql = &settings.graphql;
    // Sign-in messages must name this chain; without a deployments file any chain id is accepted.
    let chain_id = Deployments::load(&shared.deployments).ok().map(|d| d.chain_id);
    let config = graphql.config(shared.database_url()?.expose(), &shared.rpc_url, chain_id)?;
    let sponsor = graphql.sponsor(&shared.deployments)?;
    let listen = &graphql.listen;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let shutdown = move |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let server = nexus_graphql::start(config, shutdown(stopped.clone())).await?;
    let app = nexus_sponsor::router(&server, sponsor).merge(nexus_graphql::router(server));
    let listener =
        tokio::net::TcpListener::bind(listen).await.with_context(|| format!("binding the GraphQL address {listen}"))?;
    let addr = listener.local_addr()?;
    tracing::info!(url = %format!("http://{addr}/graphql"), "serving GraphQL (ws: /graphql/ws, blobs: /v1/blobs)");
    println!("GraphQL API: http://{addr}/graphql");
    tokio::spawn(async move {
        crate::stop_requested().await;
        let _ = stop.send(true);
    });
    nexus_graphql::serve(listener, app, shutdown(stopped)).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::defaults;

    /// The built-in defaults are the crates' own: applying them changes nothing, so moving a
    /// default here did not change what an unconfigured server or sponsor does.
    #[test]
    fn defaults_are_the_crates_own() {
        let settings = defaults().graphql;
        let mut local = nexus_graphql::Config::local("postgres://db");
        local.chain_id = Some(31337);
        let configured = settings.config("postgres://db", "http://127.0.0.1:8545", Some(31337)).expect("config");
        assert_eq!(format!("{configured:?}"), format!("{local:?}"));

        let signer = alloy::signers::local::PrivateKeySigner::random();
        let (a, b) = (alloy::primitives::Address::repeat_byte(1), alloy::primitives::Address::repeat_byte(2));
        let sponsor = nexus_sponsor::SponsorConfig::new(signer, 31337, a, a, b, b);
        let limited = sponsor.clone().with_limits(&settings.sponsor_limits()).expect("default limits");
        assert_eq!(format!("{limited:?}"), format!("{sponsor:?}"));
    }

    #[test]
    fn the_sponsor_is_off_without_a_key_and_with_an_empty_one() {
        let settings = defaults().graphql;
        let nowhere = Path::new("/nonexistent/deployments.json");
        assert!(settings.sponsor(nowhere).expect("no key, no sponsor").is_none());
        let empty = GraphqlSettings { sponsor_key: Some(Secret::from(String::new())), ..settings };
        assert!(empty.sponsor(nowhere).expect("empty key, no sponsor").is_none());
    }
}
