//! `nexus-sandbox`: runs the sandbox upstreams on fixed ports for `make dev`.

use std::net::IpAddr;

use alloy::primitives::Address;
use anyhow::Context;
use clap::Parser;
use nexus_sandbox::{HyperliquidAccount, Ports, Sandbox, SandboxConfig};

/// Sandbox upstreams (Hyperliquid, OpenAI-compatible chat, RSS/Atom feeds, Open-Meteo, Wikipedia-style pages).
#[derive(Debug, Parser)]
struct Args {
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    #[arg(long, env = "SANDBOX_HYPERLIQUID_PORT", default_value_t = 18701)]
    hyperliquid_port: u16,
    #[arg(long, env = "SANDBOX_OPENAI_PORT", default_value_t = 18702)]
    openai_port: u16,
    #[arg(long, env = "SANDBOX_FEEDS_PORT", default_value_t = 18703)]
    feeds_port: u16,
    #[arg(long, env = "SANDBOX_METEO_PORT", default_value_t = 18704)]
    meteo_port: u16,
    #[arg(long, env = "SANDBOX_PAGES_PORT", default_value_t = 18705)]
    pages_port: u16,
    #[arg(long, env = "SANDBOX_SEED", default_value_t = 15)]
    seed: u64,
    /// The sandbox's "now" in Unix milliseconds (default: 2026-12-07T00:00Z, fixed so runs
    /// repeat; the wall clock is never read).
    #[arg(long, env = "SANDBOX_NOW_MS")]
    now_ms: Option<u64>,
    /// The key chat completions accept (the operator's key the egress proxy injects).
    #[arg(long, env = "SANDBOX_OPENAI_KEY", default_value = "sk-sandbox")]
    openai_key: String,
    /// Sign-check `/exchange` as mainnet (phantom agent source "a") instead of testnet.
    #[arg(long)]
    mainnet: bool,
    /// Accounts with USDC, as `0xaddress=usdc` (repeatable).
    #[arg(long = "account", value_parser = parse_account)]
    accounts: Vec<HyperliquidAccount>,
}

fn parse_account(raw: &str) -> Result<HyperliquidAccount, String> {
    let (address, usdc) = raw.split_once('=').ok_or("expected 0xaddress=usdc")?;
    Ok(HyperliquidAccount {
        address: address.parse::<Address>().map_err(|e| e.to_string())?,
        usdc: usdc.parse().map_err(|e| format!("usdc: {e}"))?,
        positions: Vec::new(),
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber_init();
    let args = Args::parse();
    let defaults = SandboxConfig::default();
    let config = SandboxConfig {
        bind: args.bind,
        ports: Ports {
            hyperliquid: args.hyperliquid_port,
            openai: args.openai_port,
            feeds: args.feeds_port,
            meteo: args.meteo_port,
            pages: args.pages_port,
        },
        seed: args.seed,
        now_ms: args.now_ms.unwrap_or(defaults.now_ms),
        openai_api_key: args.openai_key,
        hyperliquid_mainnet: args.mainnet,
        hyperliquid_accounts: args.accounts,
        ..defaults
    };
    let sandbox = Sandbox::start(config).await.context("starting the sandbox upstreams")?;
    for (name, upstream) in [
        ("hyperliquid", &sandbox.hyperliquid),
        ("openai", &sandbox.openai),
        ("feeds", &sandbox.feeds),
        ("meteo", &sandbox.meteo),
        ("pages", &sandbox.pages),
    ] {
        println!("{name}\t{}", upstream.base_url);
    }
    tokio::select! {
        () = sandbox.wait() => anyhow::bail!("a sandbox upstream stopped"),
        signal = tokio::signal::ctrl_c() => signal.context("waiting for ctrl-c"),
    }
}

fn tracing_subscriber_init() {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
}
