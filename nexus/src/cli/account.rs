//! Smart accounts in the CLI: `nexus account create|show`, and `--account` on `buy` and `run`.
//!
//! Why: the user's key then only signs; it never needs ETH. Operations go to an ERC-4337 bundler
//! as user operations of the key's NexusAccount (nexus-accounts), their gas paid by
//! NexusPaymaster through the API's ERC-7677 sponsorship service (`/v1/paymaster`). A purchase is
//! one batched operation (USDC approval and purchase, all or nothing). Runs go through a session
//! key that `account create` grants: limited to `requestExecution` on the marketplace, a number
//! of uses and an expiry (and, with `--session-max-gas-wei`, a gas cap per operation), so an app
//! (or this CLI) can run agents without the owner key signing each time, and a leaked session key
//! cannot move the account's tokens, not even by paying gas: the account accepts its operations
//! only when sponsored by its pinned NexusPaymaster, on the key's own nonce key.
//!
//! The session key is kept in a file (0600) named after the account; only its address is ever
//! printed.

use std::path::{Path, PathBuf};

use alloy::primitives::{Address, U256};
use alloy::signers::local::PrivateKeySigner;
use anyhow::Context;
use nexus_accounts::{AccountConfig, AccountError, SmartAccount, Sponsorship};

use super::chain::Chain;

/// Where the bundler and the paymaster service are.
#[derive(clap::Args, Debug, Clone)]
pub struct BundlerArgs {
    /// ERC-4337 bundler JSON-RPC endpoint (for --account and `nexus account`).
    #[arg(long, env = "NEXUS_BUNDLER_URL", default_value = "http://127.0.0.1:4337")]
    pub bundler_url: String,
    /// ERC-7677 paymaster service that sponsors the gas (default: the API's /v1/paymaster).
    #[arg(long, env = "NEXUS_PAYMASTER_URL")]
    pub paymaster_url: Option<String>,
    /// The session key file (default: ~/.nexus/sessions/<chain>-<account>.key).
    #[arg(long, env = "NEXUS_SESSION_KEY_FILE")]
    pub session_key_file: Option<PathBuf>,
}

/// `nexus account ...`.
#[derive(clap::Subcommand, Debug)]
pub enum AccountCommand {
    /// Deploy your smart account (gas sponsored) and grant it a session key for `nexus run`.
    Create {
        /// Executions the session key may request.
        #[arg(long, default_value_t = 100)]
        session_uses: u32,
        /// Days the session key stays valid.
        #[arg(long, default_value_t = 7)]
        session_days: u64,
        /// Most one session-key operation may cost in gas, in wei (its gas limits times its max
        /// fee), paid by the sponsor; 0 = no cap beyond the sponsor's own policy.
        #[arg(long, default_value_t = 0)]
        session_max_gas_wei: u128,
    },
    /// Your smart account: address, balances, credits, session key.
    Show,
}

/// Opens the owner's account through the bundler, sponsored by the paymaster service.
pub async fn open(
    chain: &Chain,
    owner: PrivateKeySigner,
    api_base: &str,
    args: &BundlerArgs,
) -> anyhow::Result<SmartAccount> {
    let paymaster = args.paymaster_url.clone().unwrap_or_else(|| format!("{api_base}/v1/paymaster"));
    let paymaster = paymaster.parse().with_context(|| format!("--paymaster-url {paymaster}"))?;
    open_with(chain, owner, args, Sponsorship::service(paymaster)).await
}

/// Opens the owner's account paying its own gas (its ETH or EntryPoint deposit): for operations
/// the sponsor's policy never pays for, such as an agent's proposed calls to arbitrary contracts
/// (`nexus apply --account`); asking the sponsor first would only add a refusal round trip.
pub async fn open_self_paid(
    chain: &Chain,
    owner: PrivateKeySigner,
    args: &BundlerArgs,
) -> anyhow::Result<SmartAccount> {
    open_with(chain, owner, args, Sponsorship::SelfPaid).await
}

async fn open_with(
    chain: &Chain,
    owner: PrivateKeySigner,
    args: &BundlerArgs,
    sponsorship: Sponsorship,
) -> anyhow::Result<SmartAccount> {
    let bundler = args.bundler_url.parse().with_context(|| format!("--bundler-url {}", args.bundler_url))?;
    let config = AccountConfig::from_deployments(&chain.deployments, bundler, sponsorship)?;
    SmartAccount::new(chain.provider.clone(), owner, config).await.map_err(|e| match e {
        AccountError::Bundler(e) => anyhow::anyhow!(
            "cannot use the bundler at {} ({e}); start one (README: gasless) or pass --bundler-url",
            args.bundler_url
        ),
        e => anyhow::anyhow!("opening the smart account: {e}"),
    })
}

/// An operation's failure as a sentence (the sponsor's reason, the bundler's AAxx, a revert).
pub fn explain(what: &str, e: AccountError) -> anyhow::Error {
    match e {
        AccountError::SponsorshipRefused { reason, .. } => {
            anyhow::anyhow!("{what}: the paymaster service refused: {reason}")
        }
        AccountError::Reverted { reason, receipt } => {
            let decoded = reason.as_ref().and_then(|r| {
                use alloy::sol_types::SolInterface;
                nexus_bindings::AgentMarketplace::AgentMarketplaceErrors::abi_decode(r)
                    .ok()
                    .map(|e| format!("{e:?}"))
                    // Any other contract (an agent's proposed call): `Error(string)`, `Panic`.
                    .or_else(|| alloy::sol_types::decode_revert_reason(r))
            });
            anyhow::anyhow!(
                "{what}: user operation {} reverted ({})",
                receipt.user_op_hash,
                decoded.unwrap_or_else(|| format!("revert data {reason:?}"))
            )
        }
        e => anyhow::anyhow!("{what}: {e}"),
    }
}

fn default_key_file(chain_id: u64, account: Address) -> PathBuf {
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".nexus").join("sessions").join(format!("{chain_id}-{account}.key"))
}

fn key_file(args: &BundlerArgs, account: &SmartAccount) -> PathBuf {
    args.session_key_file.clone().unwrap_or_else(|| default_key_file(account.chain_id(), account.address()))
}

fn read_key(path: &Path) -> anyhow::Result<Option<PrivateKeySigner>> {
    match std::fs::read_to_string(path) {
        Ok(text) => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| anyhow::anyhow!("the session key file {} does not hold a hex key", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading the session key {}", path.display())),
    }
}

fn write_key(path: &Path, key: &PrivateKeySigner) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing the session key {}", path.display()))?;
    writeln!(file, "0x{}", alloy::hex::encode(key.to_bytes())).with_context(|| format!("writing {}", path.display()))
}

/// A session key state as the account holds it.
pub struct Grant {
    pub key: PrivateKeySigner,
    pub valid_until: u64,
    pub uses_left: u32,
    /// Wei per operation, 0 = no cap.
    pub max_gas_cost: u128,
}

/// The session key in the file and its grant, if the account still honours it at `now`.
pub async fn usable_session_key(account: &SmartAccount, args: &BundlerArgs, now: u64) -> anyhow::Result<Option<Grant>> {
    let Some(key) = read_key(&key_file(args, account))? else { return Ok(None) };
    if !account.is_deployed().await.map_err(|e| explain("reading the account", e))? {
        return Ok(None);
    }
    let grant = account.session_key_grant(key.address()).await.map_err(|e| explain("reading the session key", e))?;
    let valid_until = grant.validUntil.to::<u64>();
    let uses_left = grant.maxUses.saturating_sub(grant.uses);
    if valid_until < now || uses_left == 0 {
        return Ok(None);
    }
    Ok(Some(Grant { key, valid_until, uses_left, max_gas_cost: grant.maxGasCost }))
}

pub async fn create(
    chain: &mut Chain,
    account: &SmartAccount,
    args: &BundlerArgs,
    uses: u32,
    days: u64,
    max_gas_cost: u128,
) -> anyhow::Result<()> {
    let now = chain.now().await?;
    println!("account {} (owner {})", account.address(), account.owner());
    if let Some(g) = usable_session_key(account, args, now).await? {
        println!(
            "already set up: session key {} may request {} more executions until {}",
            g.key.address(),
            g.uses_left,
            super::commands::rfc3339(g.valid_until)
        );
        return Ok(());
    }
    let path = key_file(args, account);
    let key = match read_key(&path)? {
        Some(k) => k,
        None => {
            let k = PrivateKeySigner::random();
            write_key(&path, &k)?;
            k
        }
    };
    let until = now + days * 86_400;
    let market = chain.deployments.contracts.agent_marketplace;
    let deployed = account.is_deployed().await.map_err(|e| explain("reading the account", e))?;
    // One sponsored operation deploys the account (factory fields) and grants the key.
    let receipt = account
        .grant_session_key(key.address(), &[market], &[nexus_accounts::REQUEST_EXECUTION], until, uses, max_gas_cost)
        .await
        .map_err(|e| explain("granting the session key", e))?;
    if !deployed {
        println!(
            "deployed, gas sponsored (user operation {}, tx {})",
            receipt.user_op_hash, receipt.receipt.transaction_hash
        );
    }
    println!(
        "session key {} may request {uses} executions on the marketplace until {}{} (kept in {})",
        key.address(),
        super::commands::rfc3339(until),
        gas_cap_note(max_gas_cost),
        path.display()
    );
    println!(
        "fund it with USDC, then: nexus buy <agent> --units N --account; nexus run <agent> --input f.json --account --wait"
    );
    Ok(())
}

pub async fn show(chain: &mut Chain, account: &SmartAccount, args: &BundlerArgs) -> anyhow::Result<()> {
    let address = account.address();
    let deployed = account.is_deployed().await.map_err(|e| explain("reading the account", e))?;
    println!(
        "account   {address} ({})",
        if deployed { "deployed" } else { "not deployed yet: `nexus account create`" }
    );
    println!("owner     {}", account.owner());
    let usdc = chain.deployments.contracts.usdc;
    let token = chain.token(usdc).await?;
    let eth = chain.token(Address::ZERO).await?;
    println!(
        "balances  {}, {}",
        token.format(chain.balance(usdc, address).await?),
        eth.format(chain.balance(Address::ZERO, address).await?)
    );
    let owed =
        chain.marketplace().withdrawable(usdc, address).call().await.context("reading the withdrawable balance")?;
    if !owed.is_zero() {
        println!("owed      {} by the marketplace", token.format(owed));
    }
    let now = chain.now().await?;
    match usable_session_key(account, args, now).await? {
        Some(g) => println!(
            "session   {}: {} executions left, until {}{}",
            g.key.address(),
            g.uses_left,
            super::commands::rfc3339(g.valid_until),
            gas_cap_note(g.max_gas_cost)
        ),
        None => println!("session   none usable (`nexus account create` grants one)"),
    }
    Ok(())
}

/// ", at most N wei of gas per operation" for a capped grant, nothing without a cap.
fn gas_cap_note(max_gas_cost: u128) -> String {
    if max_gas_cost == 0 { String::new() } else { format!(", at most {max_gas_cost} wei of gas per operation") }
}

/// The credits `holder` has of `credit` (printing helper for `buy --account`).
pub async fn credits(chain: &Chain, holder: Address, credit: U256) -> anyhow::Result<U256> {
    chain.marketplace().balanceOf(holder, credit).call().await.context("reading the credit balance")
}
