//! The user-facing commands of `nexus`: what a wallet does with AgentNexus, from a terminal.
//!
//! Why in the service binary: one executable for the stack and for its users means the
//! configuration (RPC URL, deployments file) is named and defaulted the same way everywhere, and
//! `make dev` leaves a user with everything they need to try the marketplace.
//!
//! The commands act exactly as any wallet or dApp would: reads come from the GraphQL API (the
//! indexer's mirror), money moves through the contracts directly (signed locally, sent to the
//! chain RPC), inputs go up through `PUT /v1/blobs` and private outputs come back after a
//! Sign-In with Ethereum. Nothing here has privileges a user would not have.
//!
//! Keys: `--key` / `NEXUS_PRIVATE_KEY` (hex) or `--key-file`. The key is never printed or logged;
//! prefer the environment or a file, since a command-line argument is visible to other users of
//! the machine.
//!
//! Exit codes: 0 success, 1 error (the message says what to do), 3 the execution ended without
//! success (failed and refunded, or reclaimed).
//!
//! Untrusted text: whatever agents and publishers wrote (log lines, outputs, names, descriptions,
//! tags) and error messages that may quote it are printed through `terminal::Untrusted`, which
//! shows terminal control characters and bidi overrides as visible `\u{..}` escapes.
//!
//! Action proposals: `nexus apply` checks, shows and asks before it signs anything an agent
//! proposed (`commands::apply`; the checks in `proposal_checks`, the venue side in `submit`,
//! the question in `confirm`).
//!
//! Transactions: every command that signs goes through `tx` (`Chain::send`): the nonce comes
//! from the pending count, a nonce clash with another command using the same key is retried with
//! a fresh nonce, and the wait for the receipt is bounded by `--receipt-timeout` (default 120 s)
//! and ends with a sentence saying what happened and whether anything was paid.

mod account;
mod api;
mod chain;
mod commands;
mod confirm;
mod proposal_checks;
mod proposals_view;
mod purchase;
mod submit;
mod terminal;
mod tx;
mod units;
mod ws;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use alloy::primitives::U256;
use anyhow::Context;

pub use commands::Outcome;

/// Where the API is (the commands that read from it or upload to it).
#[derive(clap::Args, Debug, Clone)]
pub struct ApiArgs {
    /// Base URL of the AgentNexus API (GraphQL at /graphql, blobs at /v1/blobs).
    #[arg(long, env = "NEXUS_GRAPHQL_URL", default_value = "http://127.0.0.1:4000")]
    pub graphql_url: String,
}

/// Whose wallet signs.
#[derive(clap::Args, Debug, Clone)]
pub struct KeyArgs {
    /// Private key (hex). Prefer NEXUS_PRIVATE_KEY or --key-file: arguments show in `ps`.
    #[arg(long, env = "NEXUS_PRIVATE_KEY", hide_env_values = true, conflicts_with = "key_file")]
    pub key: Option<String>,
    /// File holding the private key (hex).
    #[arg(long, env = "NEXUS_PRIVATE_KEY_FILE")]
    pub key_file: Option<PathBuf>,
}

/// A wallet that may also act through its smart account: where the API is, whose key signs,
/// and the bundler its user operations go to.
#[derive(clap::Args, Debug, Clone)]
pub struct WalletArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    #[command(flatten)]
    pub key: KeyArgs,
    #[command(flatten)]
    pub bundler: account::BundlerArgs,
}

/// The user commands.
#[derive(clap::Subcommand, Debug)]
pub enum UserCommand {
    /// List the agent catalog: id, name, price, category, executions and success rate.
    Agents {
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Buy execution credits of an agent (approving the payment token first if needed). The unit
    /// price read and shown is the most the purchase pays: if it rises before the purchase lands,
    /// the marketplace refuses and nothing is paid.
    Buy {
        /// The agent: its id, or its exact name.
        agent: String,
        /// How many executions to buy.
        #[arg(long, default_value_t = 1)]
        units: u64,
        /// Buy for your smart account in one sponsored user operation (no ETH needed).
        #[arg(long)]
        account: bool,
        #[command(flatten)]
        wallet: WalletArgs,
    },
    /// Run an agent on a JSON input: upload it, request an execution (spends one credit), and with
    /// --wait follow it to the end and print its output.
    Run {
        /// The agent: its id, or its exact name.
        agent: String,
        /// The input document (JSON).
        #[arg(long)]
        input: PathBuf,
        /// Follow the execution (status and log lines on stderr), then print its output.
        #[arg(long)]
        wait: bool,
        /// Stop waiting after this many seconds (default: until the request's deadline).
        #[arg(long)]
        timeout: Option<u64>,
        /// Request from your smart account, signed by its session key, gas sponsored.
        #[arg(long)]
        account: bool,
        #[command(flatten)]
        wallet: WalletArgs,
    },
    /// Print an execution's output (requester only: signs in first).
    Output {
        /// The request id `nexus run` printed.
        request: U256,
        /// The request was made by your smart account (`run --account`).
        #[arg(long)]
        account: bool,
        #[command(flatten)]
        wallet: WalletArgs,
    },
    /// Show the actions an execution's output proposes, decoded (requester only: signs in
    /// first). Nothing is signed or sent: `nexus apply` does that after asking.
    Proposals {
        /// The request id `nexus run` printed.
        request: U256,
        /// The request was made by your smart account (`run --account`).
        #[arg(long)]
        account: bool,
        /// Print the decoded proposals as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        wallet: WalletArgs,
    },
    /// Apply an execution's action proposals after showing them and asking: calls sent from your
    /// wallet (or, with --account, one user operation of your smart account), typed data signed
    /// and posted to the venue that asked for it.
    Apply {
        /// The request id `nexus run` printed.
        request: U256,
        /// Only this proposal (numbered from 0, as `nexus proposals` shows them); default all.
        #[arg(long)]
        index: Option<usize>,
        /// The request was made by your smart account, and its calls go out from it in one
        /// batched user operation (the account pays the gas: the sponsor pays for marketplace
        /// calls only).
        #[arg(long)]
        account: bool,
        /// Do not ask (scripts). Without it, apply asks on the terminal, and refuses without one.
        #[arg(long)]
        yes: bool,
        /// Sign well-known asset-moving typed data too (token permits, Permit2, Seaport orders,
        /// Hyperliquid transfers and agent approvals), which is otherwise refused.
        #[arg(long)]
        allow_permit: bool,
        /// Post signatures meant for one origin to another, as `FROM=TO` (make dev:
        /// `https://api.hyperliquid.xyz=http://127.0.0.1:18701`); repeatable.
        #[arg(long = "submit-route", env = "NEXUS_SUBMIT_ROUTES", value_delimiter = ',')]
        submit_routes: Vec<submit::Route>,
        #[command(flatten)]
        wallet: WalletArgs,
    },
    /// Take back the escrowed price of a request nobody settled before its deadline.
    Reclaim {
        /// The request id `nexus run` printed.
        request: U256,
        #[command(flatten)]
        api: ApiArgs,
        #[command(flatten)]
        key: KeyArgs,
    },
    /// Your ERC-4337 smart account: gasless purchases and session-key runs.
    Account {
        #[command(subcommand)]
        action: account::AccountCommand,
        #[command(flatten)]
        wallet: WalletArgs,
    },
    /// Withdraw what the marketplace owes you (developer earnings, refunds).
    Withdraw {
        /// `usdc` (the deployment's USDC), `eth`, or a token address.
        #[arg(long, default_value = "usdc")]
        token: String,
        #[command(flatten)]
        key: KeyArgs,
    },
}

/// Chain settings every command shares (from the global options and the config file).
pub struct ChainSettings<'a> {
    pub rpc_url: &'a str,
    pub deployments: &'a Path,
    /// How long a command waits for a transaction's receipt (`--receipt-timeout`).
    pub receipt_timeout: std::time::Duration,
}

pub use tx::DEFAULT_RECEIPT_TIMEOUT;

/// Runs one user command; errors are printed here, as a user reads them, not as a backtrace.
pub async fn run(command: UserCommand, chain: ChainSettings<'_>) -> ExitCode {
    match commands::dispatch(command, &chain).await {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::ExecutionFailed) => ExitCode::from(3),
        Err(e) => {
            // Error messages quote agent names, GraphQL errors and RPC revert texts.
            eprintln!("error: {:#}", terminal::Untrusted(&e));
            ExitCode::FAILURE
        }
    }
}

impl KeyArgs {
    /// The signer, from the flag/environment or the file. Error messages never quote the key.
    pub fn signer(&self) -> anyhow::Result<alloy::signers::local::PrivateKeySigner> {
        let text = match (&self.key, &self.key_file) {
            (Some(k), _) => k.clone(),
            (None, Some(path)) => {
                std::fs::read_to_string(path).with_context(|| format!("reading the key file {}", path.display()))?
            }
            (None, None) => {
                anyhow::bail!("no key: set NEXUS_PRIVATE_KEY, or pass --key-file (make dev prints demo keys)")
            }
        };
        let hex = text.trim();
        hex.parse().map_err(|_| anyhow::anyhow!("the private key is not 32 bytes of hex (0x optional)"))
    }
}
