//! The chain side of the CLI: a signing provider for the user's key, the deployment it talks
//! to, token facts for printing amounts, and reverts explained in words. Transactions are sent
//! with [`Chain::send`] (in `tx`: fresh nonces, retried clashes, a bounded wait).
//!
//! The deployments file names the contracts; its chain id is checked against the RPC's before
//! anything is signed, so a key is never used on a chain the user did not mean.

use std::collections::HashMap;

use alloy::network::EthereumWallet;
use alloy::primitives::{Address, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::TransactionReceipt;
use alloy::signers::local::PrivateKeySigner;
use anyhow::Context;
use nexus_bindings::registry::AgentRegistry;
use nexus_bindings::{AgentMarketplace, Deployments, TestUSDC};

use super::ChainSettings;
use super::terminal::clean;
use super::tx::TxSettings;
use super::units::format_amount;

/// A connected chain: provider (signing when a key was given) and the deployment on it.
pub struct Chain {
    pub provider: DynProvider,
    pub deployments: Deployments,
    tokens: HashMap<Address, Token>,
    /// The signing key's address, when a key was given (what [`Chain::send`] sends from).
    pub(super) sender: Option<Address>,
    /// How [`Chain::send`] sends and waits (see `tx`).
    pub(super) tx: TxSettings,
}

/// What an amount of a token is printed with.
#[derive(Clone, Debug)]
pub struct Token {
    pub symbol: String,
    pub decimals: u8,
}

impl Token {
    pub fn format(&self, amount: U256) -> String {
        format!("{} {}", format_amount(amount, self.decimals), self.symbol)
    }
}

impl Chain {
    /// Connects to the settings' RPC (signing with `signer` if given) and loads the deployments.
    pub async fn connect(settings: &ChainSettings<'_>, signer: Option<PrivateKeySigner>) -> anyhow::Result<Self> {
        let (rpc_url, deployments) = (settings.rpc_url, settings.deployments);
        let sender = signer.as_ref().map(PrivateKeySigner::address);
        let deployments_file = Deployments::load(deployments).with_context(|| {
            format!(
                "loading the deployments file {} (run from the repository after `make dev`, or pass --deployments)",
                deployments.display()
            )
        })?;
        let builder = ProviderBuilder::new();
        let provider = match signer {
            Some(s) => builder.wallet(EthereumWallet::from(s)).connect(rpc_url).await.map(|p| p.erased()),
            None => ProviderBuilder::new().connect(rpc_url).await.map(|p| p.erased()),
        }
        .map_err(|e| {
            anyhow::anyhow!("cannot reach the chain RPC at {rpc_url} ({e}); is `make dev` running? (or pass --rpc-url)")
        })?;
        let chain_id = provider.get_chain_id().await.map_err(|e| {
            anyhow::anyhow!("cannot reach the chain RPC at {rpc_url} ({e}); is `make dev` running? (or pass --rpc-url)")
        })?;
        anyhow::ensure!(
            chain_id == deployments_file.chain_id,
            "the RPC at {rpc_url} serves chain {chain_id}, but {} is for chain {}",
            deployments.display(),
            deployments_file.chain_id
        );
        let tx = TxSettings { receipt_timeout: settings.receipt_timeout, ..TxSettings::default() };
        Ok(Chain { provider, deployments: deployments_file, tokens: HashMap::new(), sender, tx })
    }

    pub fn marketplace(&self) -> AgentMarketplace::AgentMarketplaceInstance<DynProvider> {
        AgentMarketplace::new(self.deployments.contracts.agent_marketplace, self.provider.clone())
    }

    pub fn registry(&self) -> AgentRegistry::AgentRegistryInstance<DynProvider> {
        AgentRegistry::new(self.deployments.contracts.agent_registry, self.provider.clone())
    }

    pub fn erc20(&self, token: Address) -> TestUSDC::TestUSDCInstance<DynProvider> {
        TestUSDC::new(token, self.provider.clone())
    }

    /// Symbol and decimals of `token` (the zero address is ETH), asked once per token.
    pub async fn token(&mut self, token: Address) -> anyhow::Result<Token> {
        if let Some(t) = self.tokens.get(&token) {
            return Ok(t.clone());
        }
        let info = if token == Address::ZERO {
            Token { symbol: "ETH".into(), decimals: 18 }
        } else {
            let erc20 = self.erc20(token);
            let decimals = erc20.decimals().call().await.with_context(|| format!("reading decimals() of {token}"))?;
            // Whoever deployed the token chose its symbol: neutralised once, here, for every print.
            let symbol = erc20.symbol().call().await.map_or_else(|_| token.to_string(), |s| clean(&s));
            Token { symbol, decimals }
        };
        self.tokens.insert(token, info.clone());
        Ok(info)
    }

    /// `owner`'s balance of `token` (ETH for the zero address).
    pub async fn balance(&self, token: Address, owner: Address) -> anyhow::Result<U256> {
        if token == Address::ZERO {
            return self.provider.get_balance(owner).await.context("reading the ETH balance");
        }
        self.erc20(token).balanceOf(owner).call().await.with_context(|| format!("reading the balance of {token}"))
    }

    /// The chain's latest block time (unix seconds): what deadlines are compared with.
    pub async fn now(&self) -> anyhow::Result<u64> {
        let block = self
            .provider
            .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
            .await
            .context("reading the latest block")?
            .context("the node returned no latest block")?;
        Ok(block.header.timestamp)
    }
}

/// The marketplace refused a call when the node ran it (for a transaction: while estimating its
/// gas, so nothing was sent).
#[derive(Debug, thiserror::Error)]
#[error("{what}: the marketplace refused: {text}")]
pub struct Refused {
    what: String,
    text: String,
}

/// A contract call's error as a sentence: the custom error decoded when the contracts know it.
pub fn explain(what: &str, e: alloy::contract::Error) -> anyhow::Error {
    use AgentMarketplace::AgentMarketplaceErrors as M;
    use TestUSDC::TestUSDCErrors as T;
    use nexus_bindings::registry::AgentRegistry::AgentRegistryErrors as R;
    if let Some(m) = e.as_decoded_interface_error::<M>() {
        let text = match m {
            M::MarketplacePaused(_) => "the marketplace is paused".to_string(),
            M::AgentNotActive(a) => format!("agent {} is not active (paused or retired)", a.agentId),
            M::ZeroUnits(_) => "the number of units must be at least 1".to_string(),
            M::WrongPayment(p) => format!("wrong payment: expected {}, got {}", p.expected, p.received),
            M::PriceAboveMax(p) => {
                format!("the unit price {} is above the most this purchase accepts ({})", p.unitPrice, p.maxUnitPrice)
            }
            M::RequestNotOpen(r) => format!("request {} is not open (already settled or reclaimed)", r.requestId),
            M::DeadlineNotReached(d) => {
                format!("request {}'s deadline ({}) has not passed yet", d.requestId, d.deadline)
            }
            M::NotRequester(r) => format!("only request {}'s requester may do this, not {}", r.requestId, r.account),
            M::NothingToWithdraw(n) => format!("{} has nothing to withdraw in {}", n.account, n.token),
            M::ERC1155InsufficientBalance(b) => {
                format!(
                    "not enough credits: {} has {} of credit {}, needs {}",
                    b.sender, b.balance, b.tokenId, b.needed
                )
            }
            other => format!("{other:?}"),
        };
        return anyhow::Error::new(Refused { what: what.to_string(), text });
    }
    if let Some(t) = e.as_decoded_interface_error::<T>() {
        let text = match t {
            T::ERC20InsufficientBalance(b) => {
                format!("insufficient balance: {} has {}, needs {}", b.sender, b.balance, b.needed)
            }
            T::ERC20InsufficientAllowance(a) => {
                format!("insufficient allowance: {} of {} needed", a.allowance, a.needed)
            }
            other => format!("{other:?}"),
        };
        return anyhow::anyhow!("{what}: the token refused: {text}");
    }
    if let Some(r) = e.as_decoded_interface_error::<R>() {
        let text = match r {
            R::UnknownAgent(a) => format!("no agent {}", a.agentId),
            other => format!("{other:?}"),
        };
        return anyhow::anyhow!("{what}: the registry refused: {text}");
    }
    // Any other contract (an agent's proposed call): its `Error(string)` or `Panic(uint256)`.
    if let Some(reason) = e.as_revert_data().and_then(|data| alloy::sol_types::decode_revert_reason(&data)) {
        return anyhow::anyhow!("{what}: the contract refused: {reason}");
    }
    anyhow::anyhow!("{what}: {e}")
}

/// The first log of type `E` in `receipt`.
pub fn event<E: alloy::sol_types::SolEvent>(receipt: &TransactionReceipt) -> Option<E> {
    receipt.decoded_log::<E>().map(|l| l.data)
}
