//! `nexus`: the one AgentNexus binary. Each service is a subcommand, so the local stack, the
//! tests and production all run the same executable with different configuration.
//!
//! Configuration ([`config`]): built-in defaults that run against the local stack (`make dev`:
//! anvil on 8545, `deployments/31337.json`), under an optional TOML file (`--config` /
//! `NEXUS_CONFIG`), under `NEXUS_<SECTION>_<KEY>` environment variables, under flags. Every key,
//! with its default, is in `nexus.example.toml` at the repository root. Each service declares
//! its keys once, next to the code that runs it: [`indexer`], [`graphql`], [`relayer`].
//!
//! The user commands (`agents`, `buy`, `run`, `output`, `proposals`, `apply`, `reclaim`,
//! `withdraw`, `account`) are in [`cli`]: they share the top-level chain settings and add the API
//! URL and the user's key.

mod cli;
mod config;
mod graphql;
mod indexer;
mod logging;
mod relayer;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "nexus", version, about = "AgentNexus services and CLI")]
struct Cli {
    /// TOML configuration file (every key, with its default: nexus.example.toml).
    #[arg(long, env = "NEXUS_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Log lines as text, or as one JSON object per line.
    #[arg(long, env = "NEXUS_LOG_FORMAT", global = true, value_enum, default_value_t)]
    log_format: logging::LogFormat,
    #[command(flatten)]
    shared: config::SharedSettings,
    #[command(subcommand)]
    command: Command,
}

/// The subcommands. A service's variant carries its settings as parsed from the flags alone;
/// what runs is [`config::load`]'s layered result.
#[derive(Subcommand, Debug)]
enum Command {
    /// Mirror contract events into PostgreSQL (backfill, then follow the head).
    Indexer(indexer::IndexerSettings),
    /// Serve the GraphQL API (queries, subscriptions, blob upload, private outputs).
    Graphql(graphql::GraphqlSettings),
    /// Run requested executions in locked-down containers and settle them on-chain.
    Relayer(relayer::RelayerSettings),
    #[command(flatten)]
    User(cli::UserCommand),
}

/// The command line as clap sees it, with each settings flag's environment variable in its help.
fn command() -> clap::Command {
    config::with_env_help(Cli::command())
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut command = command();
    let matches = command.get_matches_mut();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.format(&mut command).exit());
    logging::init(cli.log_format, matches!(cli.command, Command::User(_)));
    match serve(cli, &matches).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(cli: Cli, matches: &clap::ArgMatches) -> anyhow::Result<ExitCode> {
    let flags = config::Flags::from_matches(matches)?;
    let settings = config::load(cli.config.as_deref(), &config::Environment::process(), &flags)?;
    match cli.command {
        Command::Indexer(_) => indexer::run(&settings).await?,
        Command::Graphql(_) => graphql::run(&settings).await?,
        Command::Relayer(_) => relayer::run(&settings).await?,
        Command::User(command) => {
            let shared = &settings.shared;
            let chain = cli::ChainSettings {
                rpc_url: &shared.rpc_url,
                deployments: &shared.deployments,
                receipt_timeout: Duration::from_secs(shared.receipt_timeout_secs),
            };
            return Ok(cli::run(command, chain).await);
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
