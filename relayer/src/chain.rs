//! The relayer's chain side: reading the registry and the request state, and sending `settle`
//! from the relayer key with our own nonce tracking, fee bumping and confirmation wait.
//!
//! Why our own nonces: several settlements are in flight at once; asking the node for the
//! pending nonce before each would hand two of them the same nonce. Nonces are assigned under a
//! lock and resynchronised from the node after a failed send. A transaction not mined after
//! [`ChainConfig::stuck_after`] is sent again with the same nonce and fees raised by
//! [`FEE_BUMP_PERCENT`], so whichever version is mined settles the request once.

use std::time::{Duration, Instant};

use alloy::network::EthereumWallet;
use alloy::primitives::{Address, B256, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use alloy::transports::TransportError;
use nexus_bindings::AgentMarketplace;
use nexus_bindings::marketplace::AgentMarketplace::AgentMarketplaceErrors;
use nexus_bindings::marketplace::IAgentMarketplace::Execution;
use nexus_bindings::registry::AgentRegistry;
use tokio::sync::Mutex;

use crate::RelayerError;
use crate::error::RpcErrorKind;

/// Replacement transactions must raise both fee fields by at least 10% (geth's and anvil's
/// txpool rule); 25% gets out of a rising base fee faster.
pub const FEE_BUMP_PERCENT: u128 = 25;

/// Gas estimate × this / 100: storage refunds and warm/cold differences between the estimate
/// and the mined state must not make a settlement run out of gas.
const GAS_MARGIN_PERCENT: u64 = 130;

/// Times a first send is retried with a nonce fresh from the node before the settlement is
/// handed back as an error (and the claim released for a later retry).
const MAX_NONCE_RESYNCS: u32 = 5;

#[derive(Debug, Clone)]
pub struct ChainConfig {
    /// Resend with bumped fees when not mined after this long.
    pub stuck_after: Duration,
    /// Give up on one settlement (the claim is released and retried) after this long.
    pub confirm_timeout: Duration,
    /// Receipt polling interval.
    pub poll: Duration,
}

impl Default for ChainConfig {
    fn default() -> Self {
        Self {
            stuck_after: Duration::from_secs(20),
            confirm_timeout: Duration::from_secs(180),
            poll: Duration::from_millis(50),
        }
    }
}

/// What a settlement attempt ended in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// Our transaction was mined; `latency` from first send to receipt.
    Mined { tx: B256, latency: Duration },
    /// The request was already closed (settled by another relayer, or reclaimed).
    AlreadyClosed,
    /// The deadline passed: only the requester's `reclaim` can close it now.
    Expired,
}

/// A chain read or a settlement that failed; [`ChainError::rpc_kind`] says what the node said.
/// alloy's errors are boxed: they are large, and every `Result` on the relayer's paths carries
/// this type.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// A provider request (block, nonce, fees, receipt).
    #[error("{call}: {source}")]
    Rpc {
        call: &'static str,
        #[source]
        source: Box<TransportError>,
    },
    /// A contract call, gas estimate or transaction send through the bindings.
    #[error("{call}: {source}")]
    Contract {
        call: &'static str,
        #[source]
        source: Box<alloy::contract::Error>,
    },
    #[error("the node has no latest block")]
    NoLatestBlock,
    /// Mined and reverted while the request is open and before its deadline: neither of the
    /// refusals `settle` expects (see [`Chain::settle`]).
    #[error("settle of request {request_id} reverted in {tx}")]
    Reverted { request_id: U256, tx: B256 },
    #[error("settle of request {request_id} not mined within {waited:?}")]
    NotMined { request_id: U256, waited: Duration },
}

impl ChainError {
    fn rpc(call: &'static str) -> impl FnOnce(TransportError) -> ChainError {
        move |source| ChainError::Rpc { call, source: Box::new(source) }
    }

    fn contract(call: &'static str) -> impl FnOnce(alloy::contract::Error) -> ChainError {
        move |source| ChainError::Contract { call, source: Box::new(source) }
    }

    /// What the node said, for a request it failed.
    pub fn rpc_kind(&self) -> Option<RpcErrorKind> {
        match self {
            ChainError::Rpc { source, .. } => Some(RpcErrorKind::of(source)),
            ChainError::Contract { source, .. } => Some(RpcErrorKind::of_contract(source)),
            ChainError::NoLatestBlock | ChainError::Reverted { .. } | ChainError::NotMined { .. } => None,
        }
    }

    /// A node that did not answer or asked us to wait, a chain that did not mine our
    /// transaction in time: yes. A revert or a refusal: no.
    pub fn is_retryable(&self) -> bool {
        match self {
            ChainError::Rpc { .. } | ChainError::Contract { .. } => {
                self.rpc_kind().is_some_and(RpcErrorKind::is_retryable)
            }
            ChainError::NoLatestBlock | ChainError::NotMined { .. } => true,
            ChainError::Reverted { .. } => false,
        }
    }
}

/// Registry facts the relayer needs about an agent.
#[derive(Debug, Clone)]
pub struct AgentInfo {
    pub image_digest: B256,
    pub max_duration: Duration,
}

pub struct Chain {
    provider: DynProvider,
    market: AgentMarketplace::AgentMarketplaceInstance<DynProvider>,
    registry: AgentRegistry::AgentRegistryInstance<DynProvider>,
    from: Address,
    next_nonce: Mutex<Option<u64>>,
    config: ChainConfig,
}

/// A fee raised by [`FEE_BUMP_PERCENT`], and by at least 1 wei: on a quiet chain the suggested
/// tip is a few wei, where the percentage alone rounds down to no raise at all and the node
/// refuses the replacement as underpriced.
fn bumped(fee: u128) -> u128 {
    (fee.saturating_mul(100 + FEE_BUMP_PERCENT) / 100).max(fee.saturating_add(1))
}

impl Chain {
    pub fn new(
        rpc_url: &str,
        key: PrivateKeySigner,
        marketplace: Address,
        registry: Address,
        config: ChainConfig,
    ) -> Result<Self, RelayerError> {
        let from = key.address();
        let url = rpc_url.parse().map_err(|source| RelayerError::RpcUrl { url: rpc_url.to_string(), source })?;
        let provider = ProviderBuilder::new().wallet(EthereumWallet::from(key)).connect_http(url).erased();
        Ok(Self {
            market: AgentMarketplace::new(marketplace, provider.clone()),
            registry: AgentRegistry::new(registry, provider.clone()),
            provider,
            from,
            next_nonce: Mutex::new(None),
            config,
        })
    }

    pub fn address(&self) -> Address {
        self.from
    }

    pub async fn is_open(&self, request_id: U256) -> Result<bool, ChainError> {
        self.market.isOpen(request_id).call().await.map_err(ChainError::contract("isOpen"))
    }

    pub async fn agent(&self, agent_id: U256) -> Result<AgentInfo, ChainError> {
        let a = self.registry.getAgent(agent_id).call().await.map_err(ChainError::contract("getAgent"))?;
        Ok(AgentInfo { image_digest: a.imageDigest, max_duration: Duration::from_secs(u64::from(a.terms.maxDuration)) })
    }

    /// Latest block timestamp (the clock `settle` checks the deadline against).
    pub async fn now(&self) -> Result<u64, ChainError> {
        let block = self
            .provider
            .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
            .await
            .map_err(ChainError::rpc("eth_getBlockByNumber"))?
            .ok_or(ChainError::NoLatestBlock)?;
        Ok(block.header.timestamp)
    }

    async fn take_nonce(&self) -> Result<u64, ChainError> {
        let mut next = self.next_nonce.lock().await;
        let nonce = match *next {
            Some(n) => n,
            None => self
                .provider
                .get_transaction_count(self.from)
                .pending()
                .await
                .map_err(ChainError::rpc("eth_getTransactionCount"))?,
        };
        *next = Some(nonce + 1);
        Ok(nonce)
    }

    async fn forget_nonce(&self) {
        *self.next_nonce.lock().await = None;
    }

    /// Sends `settle(request_id, execution, success, output_hash)` and waits for it to be
    /// mined; see the module docs. `execution` is what the request committed to on-chain.
    pub async fn settle(
        &self,
        request_id: U256,
        execution: &Execution,
        success: bool,
        output_hash: B256,
    ) -> Result<Settled, ChainError> {
        let call = self.market.settle(request_id, execution.clone(), success, output_hash).from(self.from);
        // The estimate doubles as a dry run: a revert here (already settled, expired) costs no gas.
        let gas = match call.estimate_gas().await {
            Ok(g) => g * GAS_MARGIN_PERCENT / 100,
            Err(source) => {
                if let Some(settled) = expected_refusal(&source) {
                    return Ok(settled);
                }
                let error = ChainError::contract("estimate settle")(source);
                return self.explain_revert(request_id, execution, error).await;
            }
        };
        let fees = self.provider.estimate_eip1559_fees().await.map_err(ChainError::rpc("eth_feeHistory"))?;
        let (mut max_fee, mut tip) = (fees.max_fee_per_gas, fees.max_priority_fee_per_gas.max(1));
        let mut nonce = self.take_nonce().await?;
        let started = Instant::now();
        let mut sent: Vec<B256> = Vec::new();
        let mut resyncs = 0;
        loop {
            let send =
                call.clone().nonce(nonce).gas(gas).max_fee_per_gas(max_fee).max_priority_fee_per_gas(tip).send().await;
            match send {
                Ok(pending) => sent.push(*pending.tx_hash()),
                Err(source) => {
                    let error = ChainError::contract("send settle")(source);
                    if sent.is_empty() {
                        // Nothing of ours is pending: our nonce view is stale (another process
                        // sends with this key, or a send was lost). Resynchronise and retry.
                        self.forget_nonce().await;
                        if error.rpc_kind() == Some(RpcErrorKind::NonceTooLow) && resyncs < MAX_NONCE_RESYNCS {
                            resyncs += 1;
                            if !self.is_open(request_id).await? {
                                return Ok(Settled::AlreadyClosed);
                            }
                            nonce = self.take_nonce().await?;
                            continue;
                        }
                        return Err(error);
                    }
                    // A replacement failed ("nonce too low" once a version is mined, "already
                    // known", underpriced): the receipts below tell what happened.
                }
            }
            let round = Instant::now();
            while round.elapsed() < self.config.stuck_after {
                for hash in &sent {
                    let receipt = self
                        .provider
                        .get_transaction_receipt(*hash)
                        .await
                        .map_err(ChainError::rpc("eth_getTransactionReceipt"))?;
                    if let Some(receipt) = receipt {
                        if receipt.status() {
                            return Ok(Settled::Mined { tx: *hash, latency: started.elapsed() });
                        }
                        let error = ChainError::Reverted { request_id, tx: *hash };
                        return self.explain_revert(request_id, execution, error).await;
                    }
                }
                if started.elapsed() > self.config.confirm_timeout {
                    self.forget_nonce().await;
                    return Err(ChainError::NotMined { request_id, waited: started.elapsed() });
                }
                tokio::time::sleep(self.config.poll).await;
            }
            (max_fee, tip) = (bumped(max_fee), bumped(tip));
            tracing::warn!(request = %request_id, nonce, max_fee, tip, "settle not mined; resending with bumped fees");
        }
    }

    /// A settle that would revert or did, without a revert reason we could decode (a mined
    /// revert carries none): the chain's state says whether it was closed already or past the
    /// deadline, which are outcomes; anything else is `error` (retried later).
    async fn explain_revert(
        &self,
        request_id: U256,
        execution: &Execution,
        error: ChainError,
    ) -> Result<Settled, ChainError> {
        if !self.is_open(request_id).await? {
            return Ok(Settled::AlreadyClosed);
        }
        if self.now().await? > execution.deadline.to::<u64>() {
            return Ok(Settled::Expired);
        }
        Err(error)
    }
}

/// The two refusals `settle` expects, read from the revert's custom error: the request is
/// closed already (settled by another relayer, or reclaimed) or past its deadline.
fn expected_refusal(error: &alloy::contract::Error) -> Option<Settled> {
    match error.as_decoded_interface_error::<AgentMarketplaceErrors>()? {
        AgentMarketplaceErrors::RequestNotOpen(_) => Some(Settled::AlreadyClosed),
        AgentMarketplaceErrors::RequestExpired(_) => Some(Settled::Expired),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bumps_clear_the_replacement_rule() {
        // Every raise must be at least the 10% nodes demand, including for tiny tips.
        for fee in [0u128, 1, 2, 3, 9, 10, 1_000_000_000, 100_000_000_000] {
            let raised = bumped(fee);
            assert!(raised > fee, "{fee} -> {raised}");
            assert!(raised * 10 >= fee * 11, "{fee} -> {raised} is under +10%");
        }
        assert_eq!(bumped(1_000_000_000), 1_250_000_000);
        assert_eq!(bumped(u128::MAX), u128::MAX, "saturates instead of overflowing");
    }

    /// An estimate that reverted with `error`, as anvil and geth answer it (code 3, the revert
    /// data in `data`).
    fn reverted(error: impl alloy::sol_types::SolError) -> alloy::contract::Error {
        let data = alloy::hex::encode_prefixed(error.abi_encode());
        let object = serde_json::json!({ "code": 3, "message": "execution reverted", "data": data });
        TransportError::ErrorResp(serde_json::from_value(object).expect("an error object")).into()
    }

    #[test]
    fn closed_and_expired_reverts_are_outcomes() {
        use nexus_bindings::marketplace::AgentMarketplace::{RequestExpired, RequestMismatch, RequestNotOpen};
        let id = U256::from(9);
        let closed = reverted(RequestNotOpen { requestId: id });
        assert_eq!(expected_refusal(&closed), Some(Settled::AlreadyClosed));
        let expired = reverted(RequestExpired { requestId: id, deadline: alloy::primitives::aliases::U40::from(5) });
        assert_eq!(expected_refusal(&expired), Some(Settled::Expired));
        // Any other revert, or no revert at all, is for the chain's state to explain.
        assert_eq!(expected_refusal(&reverted(RequestMismatch { requestId: id })), None);
        let gone: alloy::contract::Error = alloy::transports::TransportErrorKind::backend_gone().into();
        assert_eq!(expected_refusal(&gone), None);
        let error = ChainError::contract("estimate settle")(reverted(RequestMismatch { requestId: id }));
        assert_eq!(error.rpc_kind(), Some(RpcErrorKind::Reverted));
        assert!(!error.is_retryable());
        assert!(ChainError::NotMined { request_id: id, waited: Duration::from_secs(1) }.is_retryable());
    }
}
