//! `nexus`: the one AgentNexus binary. Each service is a subcommand, so the local stack, the
//! tests and production all run the same executable with different configuration.
//!
//! Configuration: an optional TOML file (`--config`, or `NEXUS_CONFIG`), overridden by
//! environment variables and flags (`NEXUS_RPC_URL`, `NEXUS_DATABASE_URL`, ...), over defaults
//! that run against the local stack (`make dev`: anvil on 8545, `deployments/31337.json`).
//!
//! ```toml
//! rpc_url = "http://127.0.0.1:8545"
//! database_url = "postgres://postgres@127.0.0.1:5432/nexus"
//! deployments = "deployments/31337.json"
//! receipt_timeout_secs = 120        # user commands: bound on waiting for a transaction's receipt
//! [indexer]
//! confirmations = 0
//! max_reorg_depth = 64
//! max_block_range = 2000
//! poll_interval_ms = 100
//! status_addr = "127.0.0.1:9101"   # /health, /ready, /metrics
//! ipfs_gateway = "http://127.0.0.1:8080/ipfs"
//! fallback_rpc_urls = ["http://backup-node:8545"]   # tried in order when rpc_url keeps failing
//! ```
//!
//! The user commands (`agents`, `buy`, `run`, `output`, `reclaim`, `withdraw`) are in [`cli`]:
//! they share the chain options above and add the API URL and the user's key.

mod cli;
mod graphql;
mod relayer;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use nexus_bindings::Deployments;
use serde::Deserialize;

#[derive(Parser, Debug)]
#[command(name = "nexus", about = "AgentNexus services and CLI")]
struct Cli {
    /// TOML configuration file.
    #[arg(long, env = "NEXUS_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// JSON-RPC endpoint of the chain.
    #[arg(long, env = "NEXUS_RPC_URL", global = true)]
    rpc_url: Option<String>,
    /// PostgreSQL URL.
    #[arg(long, env = "NEXUS_DATABASE_URL", global = true)]
    database_url: Option<String>,
    /// The deployments file written by the deploy script.
    #[arg(long, env = "NEXUS_DEPLOYMENTS", global = true)]
    deployments: Option<PathBuf>,
    /// User commands: seconds to wait for a transaction's receipt before saying what became of
    /// it (default 120).
    #[arg(long, env = "NEXUS_RECEIPT_TIMEOUT", global = true, value_name = "SECONDS")]
    receipt_timeout: Option<u64>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Mirror contract events into PostgreSQL (backfill, then follow the head).
    Indexer {
        #[arg(long, env = "NEXUS_INDEXER_CONFIRMATIONS")]
        confirmations: Option<u64>,
        #[arg(long, env = "NEXUS_INDEXER_MAX_REORG_DEPTH")]
        max_reorg_depth: Option<u64>,
        #[arg(long, env = "NEXUS_INDEXER_MAX_BLOCK_RANGE")]
        max_block_range: Option<u64>,
        #[arg(long, env = "NEXUS_INDEXER_POLL_INTERVAL_MS")]
        poll_interval_ms: Option<u64>,
        /// Where `/health`, `/ready` and `/metrics` are served.
        #[arg(long, env = "NEXUS_INDEXER_STATUS_ADDR")]
        status_addr: Option<String>,
        /// HTTP gateway for `ipfs://` metadata URIs.
        #[arg(long, env = "NEXUS_IPFS_GATEWAY")]
        ipfs_gateway: Option<String>,
        /// More RPC endpoints of the same chain, comma-separated, used in order when the current
        /// one keeps failing.
        #[arg(long, env = "NEXUS_INDEXER_FALLBACK_RPC_URLS", value_delimiter = ',')]
        fallback_rpc_urls: Option<Vec<String>>,
    },
    /// Serve the GraphQL API (queries, subscriptions, blob upload, private outputs).
    Graphql(graphql::Args),
    /// Run requested executions in locked-down containers and settle them on-chain.
    Relayer(relayer::Args),
    #[command(flatten)]
    User(cli::UserCommand),
}

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    rpc_url: Option<String>,
    database_url: Option<String>,
    deployments: Option<PathBuf>,
    receipt_timeout_secs: Option<u64>,
    #[serde(default)]
    indexer: IndexerFileConfig,
    #[serde(default)]
    graphql: graphql::FileConfig,
    #[serde(default)]
    relayer: relayer::FileConfig,
}

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
struct IndexerFileConfig {
    confirmations: Option<u64>,
    max_reorg_depth: Option<u64>,
    max_block_range: Option<u64>,
    poll_interval_ms: Option<u64>,
    status_addr: Option<String>,
    ipfs_gateway: Option<String>,
    fallback_rpc_urls: Option<Vec<String>>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // Services log at info; user commands print their own results and keep logs to warnings,
    // on stderr so stdout stays the command's output.
    let user = matches!(cli.command, Command::User(_));
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(if user { "warn" } else { "info" }));
    if user {
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    }
    match serve(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(cli: Cli) -> anyhow::Result<ExitCode> {
    let file: FileConfig = match &cli.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?
        }
        None => FileConfig::default(),
    };
    let rpc_url = cli.rpc_url.or(file.rpc_url).unwrap_or_else(|| "http://127.0.0.1:8545".into());
    let database_url =
        cli.database_url.or(file.database_url).unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/nexus".into());
    let deployments_path = cli.deployments.or(file.deployments).unwrap_or_else(|| "deployments/31337.json".into());

    match cli.command {
        Command::Indexer {
            confirmations,
            max_reorg_depth,
            max_block_range,
            poll_interval_ms,
            status_addr,
            ipfs_gateway,
            fallback_rpc_urls,
        } => {
            let deployments = Deployments::load(&deployments_path)?;
            let mut config = nexus_indexer::Config::local(deployments, rpc_url, database_url);
            let f = file.indexer;
            if let Some(v) = confirmations.or(f.confirmations) {
                config.confirmations = v;
            }
            if let Some(v) = max_reorg_depth.or(f.max_reorg_depth) {
                config.max_reorg_depth = v;
            }
            if let Some(v) = max_block_range.or(f.max_block_range) {
                config.max_block_range = v;
            }
            if let Some(v) = poll_interval_ms.or(f.poll_interval_ms) {
                config.poll_interval = Duration::from_millis(v);
            }
            if let Some(v) = fallback_rpc_urls.or(f.fallback_rpc_urls) {
                config.fallback_rpc_urls = v.into_iter().filter(|u| !u.trim().is_empty()).collect();
            }
            tracing::info!(rpc = %config.rpc_url, deployments = %deployments_path.display(), "starting indexer");
            let status_addr = status_addr.or(f.status_addr).unwrap_or_else(|| "127.0.0.1:9101".into());
            let mut indexer = nexus_indexer::Indexer::connect(config).await?;
            let listener = tokio::net::TcpListener::bind(&status_addr)
                .await
                .with_context(|| format!("binding the status address {status_addr}"))?;
            tracing::info!(addr = %status_addr, "serving /health, /ready, /metrics");
            tokio::spawn(nexus_indexer::status::serve(listener, indexer.metrics(), std::future::pending()));
            let mut resolver = nexus_indexer::metadata::ResolverConfig::default();
            if let Some(gateway) = ipfs_gateway.or(f.ipfs_gateway) {
                resolver.ipfs_gateway = gateway;
            }
            tokio::spawn(nexus_indexer::metadata::run_resolver(
                indexer.pool().clone(),
                resolver,
                std::future::pending(),
            ));
            indexer.run(stop_requested()).await?;
        }
        Command::Graphql(args) => {
            graphql::run(args, file.graphql, rpc_url, database_url, &deployments_path).await?;
        }
        Command::Relayer(args) => {
            relayer::run(args, file.relayer, rpc_url, database_url, &deployments_path).await?;
        }
        Command::User(command) => {
            let receipt_timeout = cli
                .receipt_timeout
                .or(file.receipt_timeout_secs)
                .map_or(cli::DEFAULT_RECEIPT_TIMEOUT, Duration::from_secs);
            let settings = cli::ChainSettings { rpc_url: &rpc_url, deployments: &deployments_path, receipt_timeout };
            return Ok(cli::run(command, settings).await);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Resolves when the process is asked to stop: Ctrl-C (SIGINT) or SIGTERM, which is what
/// `make dev`'s clean-up, systemd and `docker stop` send. The services then shut down gracefully
/// (the relayer finishes or releases its running requests). A signal handler that cannot be
/// installed is logged and that signal is left to its default action (exit at once).
pub(crate) async fn stop_requested() {
    let interrupt = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!("interrupted: stopping"),
        () = terminate => tracing::info!("SIGTERM: stopping"),
    }
}

/// The TOML table `[name]` shown in a module's docs (`//!` lines between "//! [name]" and the
/// closing fence), as a test reads it to check that the documented example parses.
#[cfg(test)]
pub(crate) fn documented_table(docs: &str, name: &str) -> String {
    let header = format!("//! [{name}]");
    docs.lines()
        .skip_while(|l| !l.starts_with(&header))
        .skip(1)
        .take_while(|l| !l.starts_with("//! ```"))
        .map(|l| format!("{}\n", l.trim_start_matches("//!").trim_start()))
        .collect()
}
