//! `nexus graphql`: serves the GraphQL API (nexus-graphql) over the indexer's database, and the
//! ERC-7677 sponsorship service (nexus-sponsor) next to it on the same listener when a sponsor key
//! is given. The two crates stay apart (the API reads, the sponsor signs and writes); this is
//! where they are composed.
//!
//! Kept out of main.rs so the services' options do not tangle; configured like the indexer:
//! the `[graphql]` table of the TOML file, overridden by `NEXUS_GRAPHQL_*` variables and flags.
//!
//! ```toml
//! [graphql]
//! listen = "127.0.0.1:4000"          # /graphql, /graphql/ws, /v1/blobs, /health, /ready, /metrics
//! development = true                 # GraphiQL at GET /graphql
//! cors_origins = ["*"]
//! siwe_domain = "localhost:4000"     # the domain EIP-4361 sign-in messages must name
//! token_secret = "at least 16 bytes" # HMAC key for bearer tokens (random per process if unset)
//! token_ttl_secs = 900
//! blob_max_bytes = 1048576
//! blob_rate_per_second = 5.0
//! blob_burst = 20.0
//! request_timeout_ms = 10000
//! max_connections = 16
//! # ERC-7677 sponsorship service at POST /v1/paymaster, on only when a sponsor key is given
//! # (NEXUS_SPONSOR_KEY or --sponsor-key: the deployments' roles.sponsor key; never put in a file
//! # that is committed). Caps: operations and wei per account per UTC day, total wei, most one
//! # operation may cost; requests per client address (a token bucket).
//! sponsor_daily_ops = 100
//! sponsor_daily_wei = "50000000000000000"
//! sponsor_budget_wei = "5000000000000000000"
//! sponsor_max_op_wei = "10000000000000000"
//! sponsor_client_rate_per_second = 1.0
//! sponsor_client_burst = 60.0
//! ```

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Address to serve on.
    #[arg(long, env = "NEXUS_GRAPHQL_LISTEN")]
    listen: Option<String>,
    /// Serve GraphiQL at GET /graphql.
    #[arg(long, env = "NEXUS_GRAPHQL_DEVELOPMENT")]
    development: Option<bool>,
    /// Allowed CORS origins, comma-separated (`*` for any).
    #[arg(long, env = "NEXUS_GRAPHQL_CORS_ORIGINS", value_delimiter = ',')]
    cors_origins: Option<Vec<String>>,
    /// Domain that Sign-In with Ethereum messages must name.
    #[arg(long, env = "NEXUS_GRAPHQL_SIWE_DOMAIN")]
    siwe_domain: Option<String>,
    /// HMAC secret for bearer tokens.
    #[arg(long, env = "NEXUS_GRAPHQL_TOKEN_SECRET", hide_env_values = true)]
    token_secret: Option<String>,
    /// Largest blob accepted by PUT /v1/blobs, in bytes.
    #[arg(long, env = "NEXUS_GRAPHQL_BLOB_MAX_BYTES")]
    blob_max_bytes: Option<usize>,
    /// Sponsor key (hex) for the ERC-7677 sponsorship service at /v1/paymaster; off without one.
    #[arg(long, env = "NEXUS_SPONSOR_KEY", hide_env_values = true)]
    sponsor_key: Option<String>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    listen: Option<String>,
    development: Option<bool>,
    cors_origins: Option<Vec<String>>,
    siwe_domain: Option<String>,
    token_secret: Option<String>,
    token_ttl_secs: Option<u64>,
    blob_max_bytes: Option<usize>,
    blob_rate_per_second: Option<f64>,
    blob_burst: Option<f64>,
    graphql_max_bytes: Option<usize>,
    request_timeout_ms: Option<u64>,
    statement_timeout_ms: Option<u64>,
    max_connections: Option<u32>,
    sponsor_daily_ops: Option<u32>,
    sponsor_daily_wei: Option<String>,
    sponsor_budget_wei: Option<String>,
    sponsor_max_op_wei: Option<String>,
    sponsor_client_rate_per_second: Option<f64>,
    sponsor_client_burst: Option<f64>,
}

pub async fn run(
    args: Args,
    file: FileConfig,
    rpc_url: String,
    database_url: String,
    deployments: &Path,
) -> anyhow::Result<()> {
    let mut config = nexus_graphql::Config::local(database_url);
    config.rpc_url = Some(rpc_url);
    // Sign-in messages must name this chain; without a deployments file any chain id is accepted.
    config.chain_id = nexus_bindings::Deployments::load(deployments).ok().map(|d| d.chain_id);
    if let Some(v) = args.development.or(file.development) {
        config.development = v;
    }
    if let Some(v) = args.cors_origins.or(file.cors_origins) {
        config.cors_origins = v;
    }
    if let Some(v) = args.siwe_domain.or(file.siwe_domain) {
        config.siwe_domain = v;
    }
    if let Some(v) = args.token_secret.or(file.token_secret) {
        config.token_secret = Some(v.into_bytes());
    }
    if let Some(v) = args.blob_max_bytes.or(file.blob_max_bytes) {
        config.blob_max_bytes = v;
    }
    if let Some(v) = file.token_ttl_secs {
        config.token_ttl = Duration::from_secs(v);
    }
    if let Some(v) = file.blob_rate_per_second {
        config.blob_rate_per_second = v;
    }
    if let Some(v) = file.blob_burst {
        config.blob_burst = v;
    }
    if let Some(v) = file.graphql_max_bytes {
        config.graphql_max_bytes = v;
    }
    if let Some(v) = file.request_timeout_ms {
        config.request_timeout = Duration::from_millis(v);
    }
    if let Some(v) = file.statement_timeout_ms {
        config.statement_timeout = Duration::from_millis(v);
    }
    if let Some(v) = file.max_connections {
        config.max_connections = v;
    }
    let sponsor = match args.sponsor_key.filter(|k| !k.is_empty()) {
        Some(key) => {
            let deployments =
                nexus_bindings::Deployments::load(deployments).context("the sponsor needs the deployments")?;
            let sponsor = nexus_sponsor::SponsorConfig::from_deployments_and_key(&deployments, &key)?;
            let limits = nexus_sponsor::SponsorLimits {
                daily_ops: file.sponsor_daily_ops,
                daily_wei: file.sponsor_daily_wei,
                budget_wei: file.sponsor_budget_wei,
                max_op_wei: file.sponsor_max_op_wei,
                client_rate_per_second: file.sponsor_client_rate_per_second,
                client_burst: file.sponsor_client_burst,
            };
            Some(sponsor.with_limits(&limits)?)
        }
        None => None,
    };
    let listen = args.listen.or(file.listen).unwrap_or_else(|| "127.0.0.1:4000".into());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let shutdown = move |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let server = nexus_graphql::start(config, shutdown(stopped.clone())).await?;
    let app = nexus_sponsor::router(&server, sponsor).merge(nexus_graphql::router(server));
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("binding the GraphQL address {listen}"))?;
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
    use super::FileConfig;

    /// The `[graphql]` table in the module docs is the reference users copy: it must parse, every
    /// key it shows must exist (unknown keys are refused), and the values must land.
    #[test]
    fn documented_table_parses() {
        let table = crate::documented_table(include_str!("graphql.rs"), "graphql");
        let file: FileConfig = toml::from_str(&table).expect("documented [graphql] table");
        assert_eq!(file.blob_burst, Some(20.0));
        assert_eq!(file.sponsor_max_op_wei.as_deref(), Some("10000000000000000"));
        assert_eq!(file.sponsor_client_rate_per_second, Some(1.0));
        assert!(toml::from_str::<FileConfig>("no_such_option = 1").is_err(), "unknown keys are refused");
    }
}
