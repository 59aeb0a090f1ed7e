//! JSON-RPC clients: the bundler (ERC-4337 `eth_*` namespace, ERC-7769), an ERC-7677 paymaster
//! service, and the few chain reads an operation needs (nonce, counterfactual address, fees).
//!
//! Why three pieces: a bundler only serves the user-operation methods (Alto, for one, does not
//! proxy `eth_call`), a paymaster service may live at another URL, and the nonce and the
//! account address come from contracts on the chain itself. Each piece takes its own endpoint so
//! callers can mix providers; all use alloy's transport, so there is one HTTP stack.

use std::time::{Duration, Instant};

use alloy::primitives::aliases::U192;
use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::providers::Provider;
use alloy::rpc::client::{ClientBuilder, RpcClient};
use alloy::sol_types::SolCall;
use alloy::transports::RpcError;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::error::Error;
use crate::types::{Fees, GasEstimate, PaymasterData, UserOperation, UserOperationByHash, UserOperationReceipt};
use nexus_bindings::account_factory::NexusAccountFactory;
use nexus_bindings::entry_point::IEntryPoint;

/// How often [`BundlerClient::wait_for_receipt`] asks for the receipt. Bundlers submit bundles
/// within a block or two and a local chain mines instantly, so a tenth of a second keeps tests
/// quick without flooding a remote bundler (ten small requests a second).
pub const RECEIPT_POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Parameters of a method that takes none: an empty array, not `null` (which `()` serialises to
/// and which Alto rejects as invalid params).
const NO_PARAMS: [(); 0] = [];

/// JSON-RPC "method not found": the endpoint does not offer an optional method.
const METHOD_NOT_FOUND: i64 = -32601;

/// A bundler's JSON-RPC endpoint, bound to one EntryPoint.
#[derive(Clone, Debug)]
pub struct BundlerClient {
    rpc: RpcClient,
    entry_point: Address,
}

/// `pimlico_getUserOperationGasPrice` answer (Alto and Pimlico's bundlers).
#[derive(Debug, Deserialize)]
struct GasPriceTiers {
    fast: Fees,
}

impl BundlerClient {
    /// A client for the bundler at `url` that submits to `entry_point`.
    pub fn new(url: alloy::transports::http::reqwest::Url, entry_point: Address) -> Self {
        Self { rpc: ClientBuilder::default().http(url), entry_point }
    }

    /// A client over an existing alloy RPC client (any transport).
    pub fn from_rpc(rpc: RpcClient, entry_point: Address) -> Self {
        Self { rpc, entry_point }
    }

    /// The EntryPoint this client submits to.
    pub fn entry_point(&self) -> Address {
        self.entry_point
    }

    async fn call<P, R>(&self, method: &'static str, params: P) -> Result<R, Error>
    where
        P: serde::Serialize + Clone + std::fmt::Debug + Send + Sync + Unpin + 'static,
        R: DeserializeOwned + std::fmt::Debug + Send + Sync + Unpin + 'static,
    {
        Ok(self.rpc.request::<P, R>(method, params).await?)
    }

    /// `eth_chainId` as the bundler sees it.
    pub async fn chain_id(&self) -> Result<u64, Error> {
        let id: U256 = self.call("eth_chainId", NO_PARAMS).await?;
        Ok(id.saturating_to())
    }

    /// `eth_supportedEntryPoints`.
    pub async fn supported_entry_points(&self) -> Result<Vec<Address>, Error> {
        self.call("eth_supportedEntryPoints", NO_PARAMS).await
    }

    /// Fails with [`Error::UnsupportedEntryPoint`] unless the bundler serves this client's EntryPoint.
    pub async fn check_entry_point(&self) -> Result<(), Error> {
        let served = self.supported_entry_points().await?;
        if served.contains(&self.entry_point) {
            Ok(())
        } else {
            Err(Error::UnsupportedEntryPoint { wanted: self.entry_point, served })
        }
    }

    /// `eth_estimateUserOperationGas`. `op.signature` must have the account's length and shape
    /// (see [`crate::hash::dummy_owner_signature`]); gas fields may be zero.
    pub async fn estimate_user_operation_gas(&self, op: &UserOperation) -> Result<GasEstimate, Error> {
        self.call("eth_estimateUserOperationGas", (op.clone(), self.entry_point)).await
    }

    /// `eth_sendUserOperation`: returns the userOpHash once the bundler accepted the operation
    /// into its mempool (not yet included; see [`Self::wait_for_receipt`]).
    pub async fn send_user_operation(&self, op: &UserOperation) -> Result<B256, Error> {
        self.call("eth_sendUserOperation", (op.clone(), self.entry_point)).await
    }

    /// `eth_getUserOperationReceipt`: `None` while the operation is not included.
    pub async fn get_user_operation_receipt(&self, user_op_hash: B256) -> Result<Option<UserOperationReceipt>, Error> {
        self.call("eth_getUserOperationReceipt", (user_op_hash,)).await
    }

    /// `eth_getUserOperationByHash`: `None` when the bundler does not know the operation.
    pub async fn get_user_operation_by_hash(&self, user_op_hash: B256) -> Result<Option<UserOperationByHash>, Error> {
        self.call("eth_getUserOperationByHash", (user_op_hash,)).await
    }

    /// Polls for the receipt until it appears or `timeout` passes.
    pub async fn wait_for_receipt(&self, user_op_hash: B256, timeout: Duration) -> Result<UserOperationReceipt, Error> {
        let start = Instant::now();
        loop {
            if let Some(receipt) = self.get_user_operation_receipt(user_op_hash).await? {
                return Ok(receipt);
            }
            if start.elapsed() >= timeout {
                return Err(Error::Timeout { user_op_hash, waited: start.elapsed() });
            }
            tokio::time::sleep(RECEIPT_POLL_INTERVAL).await;
        }
    }

    /// The bundler's own fee suggestion (`pimlico_getUserOperationGasPrice`, tier "fast"), or
    /// `None` when the bundler does not offer it. Alto refuses operations priced below this.
    pub async fn bundler_fees(&self) -> Result<Option<Fees>, Error> {
        match self.rpc.request::<_, GasPriceTiers>("pimlico_getUserOperationGasPrice", NO_PARAMS).await {
            Ok(tiers) => Ok(Some(tiers.fast)),
            Err(RpcError::ErrorResp(e)) if e.code == METHOD_NOT_FOUND => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Fees for a new operation: the bundler's suggestion when it has one (bundlers enforce their
    /// own floor), else [`chain_fees`] from `provider`.
    pub async fn suggest_fees<P: Provider>(&self, provider: &P) -> Result<Fees, Error> {
        match self.bundler_fees().await? {
            Some(fees) => Ok(fees),
            None => chain_fees(provider).await,
        }
    }
}

/// An ERC-7677 paymaster web service.
#[derive(Clone, Debug)]
pub struct PaymasterClient {
    rpc: RpcClient,
}

impl PaymasterClient {
    /// A client for the paymaster service at `url`.
    pub fn new(url: alloy::transports::http::reqwest::Url) -> Self {
        Self { rpc: ClientBuilder::default().http(url) }
    }

    /// A client over an existing alloy RPC client.
    pub fn from_rpc(rpc: RpcClient) -> Self {
        Self { rpc }
    }

    /// `pm_getPaymasterStubData`: paymaster fields good enough for gas estimation. `context` is
    /// the service's policy input (an empty object when it takes none).
    pub async fn get_paymaster_stub_data(
        &self,
        op: &UserOperation,
        entry_point: Address,
        chain_id: u64,
        context: serde_json::Value,
    ) -> Result<PaymasterData, Error> {
        let params = (op.clone(), entry_point, U256::from(chain_id), context);
        Ok(self.rpc.request::<_, PaymasterData>("pm_getPaymasterStubData", params).await?)
    }

    /// `pm_getPaymasterData`: the final paymaster fields for `op` with its gas and fees set.
    pub async fn get_paymaster_data(
        &self,
        op: &UserOperation,
        entry_point: Address,
        chain_id: u64,
        context: serde_json::Value,
    ) -> Result<PaymasterData, Error> {
        let params = (op.clone(), entry_point, U256::from(chain_id), context);
        Ok(self.rpc.request::<_, PaymasterData>("pm_getPaymasterData", params).await?)
    }
}

/// The next nonce of `sender` for nonce `key` (`EntryPoint.getNonce`). The key is the nonce's top
/// 192 bits, so operations with different keys are ordered independently (key 0 is the default
/// sequence).
pub async fn get_nonce<P: Provider>(
    provider: &P,
    entry_point: Address,
    sender: Address,
    key: U192,
) -> Result<U256, Error> {
    Ok(IEntryPoint::new(entry_point, provider).getNonce(sender, key).call().await?)
}

/// The nonce key of a NexusAccount session key's operations: `uint192(uint160(key))`. The account
/// refuses a session-key operation on any other key, so a key never consumes the owner's nonces
/// (key 0) or another key's.
pub fn session_key_nonce_key(key: Address) -> U192 {
    U192::from_be_slice(key.as_slice())
}

/// `EntryPoint.getUserOpHash` from the chain: for checking [`crate::hash::user_op_hash`] or for
/// callers that would rather trust the node.
pub async fn chain_user_op_hash<P: Provider>(
    provider: &P,
    entry_point: Address,
    op: &UserOperation,
) -> Result<B256, Error> {
    Ok(IEntryPoint::new(entry_point, provider).getUserOpHash(op.pack()).call().await?)
}

/// A NexusAccount's address before deployment, and the `factory`/`factoryData` pair that deploys
/// it in the account's first operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counterfactual {
    pub sender: Address,
    pub factory: Address,
    pub factory_data: Bytes,
}

impl Counterfactual {
    /// Sets `op.sender`, and the factory fields unless `deployed` (the EntryPoint refuses initCode
    /// for an existing account: AA10).
    pub fn apply(&self, op: &mut UserOperation, deployed: bool) {
        op.sender = self.sender;
        if deployed {
            op.factory = None;
            op.factory_data = None;
        } else {
            op.factory = Some(self.factory);
            op.factory_data = Some(self.factory_data.clone());
        }
    }
}

/// The NexusAccount of `owner` with `salt` from `factory` (`getAddress(owner, salt)` on-chain,
/// `createAccount(owner, salt)` as factory data: the factory only deploys for the EntryPoint's
/// SenderCreator, so the account is created by its first user operation, never by a direct call).
pub async fn counterfactual_account<P: Provider>(
    provider: &P,
    factory: Address,
    owner: Address,
    salt: U256,
) -> Result<Counterfactual, Error> {
    let sender = NexusAccountFactory::new(factory, provider).getAddress(owner, salt).call().await?;
    let factory_data = NexusAccountFactory::createAccountCall { owner, salt }.abi_encode().into();
    Ok(Counterfactual { sender, factory, factory_data })
}

/// Whether `address` has code (an account that needs no factory fields).
pub async fn is_deployed<P: Provider>(provider: &P, address: Address) -> Result<bool, Error> {
    Ok(!provider.get_code_at(address).await.map_err(Error::from)?.is_empty())
}

/// Fee suggestion from the chain alone: the node's priority fee, and a max fee of twice the latest
/// base fee plus that tip, so the operation stays valid through several blocks of base-fee rise
/// (the base fee grows at most 12.5 % a block).
pub async fn chain_fees<P: Provider>(provider: &P) -> Result<Fees, Error> {
    let priority: u128 = provider.get_max_priority_fee_per_gas().await?;
    let base: u128 = provider
        .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
        .await?
        .and_then(|block| block.header.base_fee_per_gas)
        .map(u128::from)
        .unwrap_or_default();
    Ok(Fees { max_fee_per_gas: base.saturating_mul(2).saturating_add(priority), max_priority_fee_per_gas: priority })
}
