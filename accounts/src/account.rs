//! [`SmartAccount`]: one owner key's NexusAccount, and the one user-operation pipeline every
//! operation (owner or session key) goes through.

use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::aliases::{U48, U192};
use alloy::primitives::{Address, B256, Bytes, FixedBytes, U256};
use alloy::providers::{DynProvider, Provider};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::{SolCall, SolInterface};
use nexus_bindings::Deployments;
use nexus_bindings::account::{BaseAccount, INexusAccount};
use nexus_bindings::{AgentMarketplace, NexusAccount, TestUSDC};
use nexus_bundler_client::paymaster::{MODE_SPONSORED, SPONSORED_DATA_LENGTH};
use nexus_bundler_client::{
    BundlerClient, Counterfactual, UserOperation, UserOperationReceipt, counterfactual_account, dummy_owner_signature,
    get_nonce, is_deployed, session_key_nonce_key, sign_as_owner, sign_as_session_key, user_op_hash,
};

use crate::error::AccountError;
use crate::sponsorship::Sponsorship;

/// How long [`SmartAccount`] waits for an operation's inclusion by default: bundlers bundle
/// within seconds; a minute covers a congested chain without hanging a CLI forever.
pub const DEFAULT_INCLUSION_TIMEOUT: Duration = Duration::from_secs(60);

/// A function selector (the first 4 bytes of a call's data).
pub type Selector = FixedBytes<4>;

/// One call the account makes: `target.call{value}(data)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub target: Address,
    pub value: U256,
    pub data: Bytes,
}

impl Call {
    /// A call without value.
    pub fn new(target: Address, data: impl Into<Bytes>) -> Self {
        Call { target, value: U256::ZERO, data: data.into() }
    }

    /// ERC-20 `token.approve(spender, amount)`.
    pub fn approve(token: Address, spender: Address, amount: U256) -> Self {
        Call::new(token, TestUSDC::approveCall { spender, value: amount }.abi_encode())
    }

    /// `marketplace.purchase(agentId, units, maxUnitPrice)` (ERC-20 priced agents; the token must
    /// be approved). `max_unit_price` is the price the buyer was shown: the marketplace refuses
    /// (`PriceAboveMax`) rather than charge more if the agent's price rose in the meantime.
    pub fn purchase(marketplace: Address, agent_id: U256, units: U256, max_unit_price: U256) -> Self {
        Call::new(
            marketplace,
            AgentMarketplace::purchaseCall { agentId: agent_id, units, maxUnitPrice: max_unit_price }.abi_encode(),
        )
    }

    /// `marketplace.requestExecution(creditId, inputHash)`: burns one credit, escrows one unit.
    pub fn request_execution(marketplace: Address, credit_id: U256, input_hash: B256) -> Self {
        Call::new(
            marketplace,
            AgentMarketplace::requestExecutionCall { creditId: credit_id, inputHash: input_hash }.abi_encode(),
        )
    }

    pub(crate) fn into_binding(self) -> BaseAccount::Call {
        BaseAccount::Call { target: self.target, value: self.value, data: self.data }
    }

    /// `execute(target, value, data)`, the account's own entry point for one call.
    pub(crate) fn execute_call_data(self) -> Bytes {
        NexusAccount::executeCall { target: self.target, value: self.value, data: self.data }.abi_encode().into()
    }
}

/// Where the account lives and how its operations travel.
#[derive(Debug, Clone)]
pub struct AccountConfig {
    /// The bundler's JSON-RPC endpoint.
    pub bundler_url: alloy::transports::http::reqwest::Url,
    /// EntryPoint v0.8 (its canonical address on every chain the stack runs on).
    pub entry_point: Address,
    /// NexusAccountFactory.
    pub factory: Address,
    /// CREATE2 salt: one owner can have several accounts; 0 is "the" account.
    pub salt: U256,
    pub sponsorship: Sponsorship,
    /// How long to wait for each operation's inclusion.
    pub inclusion_timeout: Duration,
}

impl AccountConfig {
    /// EntryPoint and factory from a deployments file (salt 0, default timeout).
    pub fn from_deployments(
        deployments: &Deployments,
        bundler_url: alloy::transports::http::reqwest::Url,
        sponsorship: Sponsorship,
    ) -> Result<Self, AccountError> {
        let contracts = &deployments.contracts;
        Ok(AccountConfig {
            bundler_url,
            entry_point: contracts.entry_point.ok_or(AccountError::MissingContract("EntryPoint"))?,
            factory: contracts.nexus_account_factory.ok_or(AccountError::MissingContract("NexusAccountFactory"))?,
            salt: U256::ZERO,
            sponsorship,
            inclusion_timeout: DEFAULT_INCLUSION_TIMEOUT,
        })
    }
}

/// The account's refusal of a session-key operation in a bundler's `AA23 reverted 0x…` answer,
/// when it is a limit of the key's grant the caller can act on (the gas cap, a paymaster or mode
/// the account does not accept), as [`AccountError::SessionKeyMisuse`].
fn session_key_refusal(rejection: &nexus_bundler_client::Rejection) -> Option<AccountError> {
    use NexusAccount::NexusAccountErrors as E;
    let (_, tail) = rejection.message.split_once("AA23 reverted ")?;
    let hex = tail.split_whitespace().next()?;
    let data = alloy::hex::decode(hex).ok()?;
    let why = match E::abi_decode(&data).ok()? {
        E::SessionKeyGasCostTooHigh(e) => format!(
            "exceed its grant's gas cap: this operation may cost {} wei, the cap is {} wei",
            e.maxCost, e.maxGasCost
        ),
        E::SessionKeyPaymasterNotAllowed(e) => {
            format!("use paymaster {}: the account accepts only its pinned paymaster", e.paymaster)
        }
        E::SessionKeyPaymasterModeNotAllowed(e) => {
            format!("use paymaster mode {} (only sponsored: the account would pay)", e.mode)
        }
        _ => return None,
    };
    Some(AccountError::SessionKeyMisuse(why))
}

/// Who signs an operation.
pub(crate) enum OpSigner<'a> {
    Owner(&'a PrivateKeySigner),
    SessionKey(&'a PrivateKeySigner),
}

struct Inner {
    provider: DynProvider,
    owner: PrivateKeySigner,
    bundler: BundlerClient,
    account: Counterfactual,
    chain_id: u64,
    sponsorship: Sponsorship,
    timeout: Duration,
}

/// The NexusAccount of one owner key, deployed or not. Cheap to clone.
///
/// Every method that changes state sends one user operation and returns its receipt once
/// included; the first operation also deploys the account (factory fields). The owner's
/// operations use nonce key 0, so send them one at a time per account; a session key's use its
/// own nonce key (`uint192(key)`, as the account requires), independent of the owner's.
#[derive(Clone)]
pub struct SmartAccount {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SmartAccount {
    // Without the owner key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmartAccount")
            .field("address", &self.address())
            .field("owner", &self.owner())
            .field("chain_id", &self.inner.chain_id)
            .field("sponsorship", &self.inner.sponsorship)
            .finish()
    }
}

impl SmartAccount {
    /// The account of `owner` (at `config.salt`): its counterfactual address comes from the
    /// factory, so this works before deployment. Checks that the bundler serves the EntryPoint
    /// and the node's chain.
    pub async fn new(
        provider: impl Provider + 'static,
        owner: PrivateKeySigner,
        config: AccountConfig,
    ) -> Result<Self, AccountError> {
        let provider = provider.erased();
        let bundler = BundlerClient::new(config.bundler_url, config.entry_point);
        bundler.check_entry_point().await?;
        let chain_id = provider.get_chain_id().await?;
        let bundler_chain = bundler.chain_id().await?;
        if bundler_chain != chain_id {
            return Err(AccountError::ChainMismatch { bundler: bundler_chain, node: chain_id });
        }
        let account = counterfactual_account(&provider, config.factory, owner.address(), config.salt).await?;
        let inner = Inner {
            provider,
            owner,
            bundler,
            account,
            chain_id,
            sponsorship: config.sponsorship,
            timeout: config.inclusion_timeout,
        };
        Ok(SmartAccount { inner: Arc::new(inner) })
    }

    /// The address of `owner`'s account at `salt` from `factory`, without a bundler (what
    /// `nexus account create|show` prints before anything is deployed).
    pub async fn address_of(
        provider: &impl Provider,
        factory: Address,
        owner: Address,
        salt: U256,
    ) -> Result<Address, AccountError> {
        Ok(counterfactual_account(provider, factory, owner, salt).await?.sender)
    }

    /// The account's address (the same before and after deployment).
    pub fn address(&self) -> Address {
        self.inner.account.sender
    }

    /// The owner key's address.
    pub fn owner(&self) -> Address {
        self.inner.owner.address()
    }

    /// The chain the account is on.
    pub fn chain_id(&self) -> u64 {
        self.inner.chain_id
    }

    /// The EntryPoint the account's operations go to.
    pub fn entry_point(&self) -> Address {
        self.inner.bundler.entry_point()
    }

    /// The node provider the account reads with.
    pub fn provider(&self) -> &DynProvider {
        &self.inner.provider
    }

    /// Whether the account has code yet.
    pub async fn is_deployed(&self) -> Result<bool, AccountError> {
        Ok(is_deployed(&self.inner.provider, self.address()).await?)
    }

    /// The account's next nonce (key 0, the owner's).
    pub async fn nonce(&self) -> Result<U256, AccountError> {
        Ok(get_nonce(&self.inner.provider, self.entry_point(), self.address(), U192::ZERO).await?)
    }

    /// The next nonce of `key`'s own nonce key, `uint192(key)`: the only one NexusAccount
    /// accepts for the key's operations, so a key can never use up the owner's nonces.
    pub async fn session_key_nonce(&self, key: Address) -> Result<U256, AccountError> {
        let nonce_key = session_key_nonce_key(key);
        Ok(get_nonce(&self.inner.provider, self.entry_point(), self.address(), nonce_key).await?)
    }

    /// The paymaster the account accepts for session-key operations (in its sponsored mode only):
    /// the NexusPaymaster the factory pinned in the account implementation.
    pub async fn session_key_paymaster(&self) -> Result<Address, AccountError> {
        Ok(NexusAccount::new(self.address(), &self.inner.provider).sessionKeyPaymaster().call().await?)
    }

    /// Deploys the account with an operation that calls nothing (`executeBatch([])` with the
    /// factory fields); `None` when it already exists. Any first operation deploys it too, so
    /// this is only for "create the account now".
    pub async fn deploy(&self) -> Result<Option<UserOperationReceipt>, AccountError> {
        if self.is_deployed().await? {
            return Ok(None);
        }
        self.execute_batch(Vec::new()).await.map(Some)
    }

    /// One call (`execute`), signed by the owner.
    pub async fn execute(&self, call: Call) -> Result<UserOperationReceipt, AccountError> {
        self.submit(call.execute_call_data(), OpSigner::Owner(&self.inner.owner)).await
    }

    /// Several calls in order, all or nothing (`executeBatch`), signed by the owner; e.g. an
    /// ERC-20 `approve` and the `purchase` that spends it.
    pub async fn execute_batch(&self, calls: Vec<Call>) -> Result<UserOperationReceipt, AccountError> {
        let calls = calls.into_iter().map(Call::into_binding).collect();
        let data = NexusAccount::executeBatchCall { calls }.abi_encode().into();
        self.submit(data, OpSigner::Owner(&self.inner.owner)).await
    }

    /// Grants `key` the right to call each of `selectors` on each of `targets` (every pair),
    /// `max_uses` times until `valid_until` (unix seconds, inclusive), each operation costing at
    /// most `max_gas_cost` wei (its gas limits times its `maxFeePerGas`; 0 = no cap, the sponsor's
    /// signature bounds the gas anyway). Replaces an earlier grant to the same key. The account
    /// refuses selectors no session key may call (token transfers and approvals, owner and key
    /// management), and lets the key's operations be paid only by its pinned paymaster's
    /// sponsored mode.
    pub async fn grant_session_key(
        &self,
        key: Address,
        targets: &[Address],
        selectors: &[Selector],
        valid_until: u64,
        max_uses: u32,
        max_gas_cost: u128,
    ) -> Result<UserOperationReceipt, AccountError> {
        let permissions = targets
            .iter()
            .flat_map(|target| {
                selectors.iter().map(|selector| INexusAccount::Permission { target: *target, selector: *selector })
            })
            .collect();
        let grant = NexusAccount::grantSessionKeyCall {
            key,
            validAfter: U48::ZERO,
            validUntil: U48::saturating_from(valid_until),
            maxUses: max_uses,
            maxGasCost: max_gas_cost,
            permissions,
        };
        self.execute(Call::new(self.address(), grant.abi_encode())).await
    }

    /// Revokes `key`'s grant at once.
    pub async fn revoke_session_key(&self, key: Address) -> Result<UserOperationReceipt, AccountError> {
        let revoke = NexusAccount::revokeSessionKeyCall { key };
        self.execute(Call::new(self.address(), revoke.abi_encode())).await
    }

    /// The grant `key` currently holds (all zero when none).
    pub async fn session_key_grant(&self, key: Address) -> Result<INexusAccount::SessionKey, AccountError> {
        Ok(NexusAccount::new(self.address(), &self.inner.provider).sessionKey(key).call().await?)
    }

    /// The pipeline: factory fields if not deployed, nonce, fees, paymaster stub, gas estimate
    /// (with a placeholder signature of the real shape), final paymaster data, signature, send,
    /// wait. Fails with [`AccountError::Reverted`] when the included call reverted.
    pub(crate) async fn submit(
        &self,
        call_data: Bytes,
        signer: OpSigner<'_>,
    ) -> Result<UserOperationReceipt, AccountError> {
        let inner = &*self.inner;
        let entry_point = self.entry_point();
        if matches!(signer, OpSigner::SessionKey(_)) && !inner.sponsorship.is_sponsored() {
            return Err(AccountError::SessionKeyMisuse("pay gas: its operations must be sponsored".into()));
        }
        let signer_is_key = matches!(signer, OpSigner::SessionKey(_));
        let mut op = UserOperation { call_data, ..Default::default() };
        let deployed = self.is_deployed().await?;
        inner.account.apply(&mut op, deployed);
        op.nonce = match signer {
            OpSigner::Owner(_) => self.nonce().await?,
            OpSigner::SessionKey(key) => self.session_key_nonce(key.address()).await?,
        };
        op.apply_fees(&inner.bundler.suggest_fees(&inner.provider).await?);
        op.signature = match signer {
            OpSigner::Owner(_) => dummy_owner_signature(),
            // The account checks the grant before the signature, so the placeholder must name the
            // real key; its signature need not be valid.
            OpSigner::SessionKey(key) => sign_as_session_key(key, B256::ZERO)?,
        };
        let is_final = inner.sponsorship.stub(&mut op, entry_point, inner.chain_id).await?;
        let estimate = inner.bundler.estimate_user_operation_gas(&op).await.map_err(|e| match (signer_is_key, e) {
            // The account refused the key's operation during the bundler's simulation: say why.
            (true, nexus_bundler_client::Error::Rejected(r)) => {
                session_key_refusal(&r).unwrap_or(AccountError::Rejected(r))
            }
            (_, e) => e.into(),
        })?;
        op.apply_gas_estimate(&estimate);
        if !is_final {
            inner.sponsorship.finalize(&inner.provider, &mut op, entry_point, inner.chain_id).await?;
        }
        if let OpSigner::SessionKey(key) = signer {
            self.check_session_gas(&op, key.address()).await?;
        }
        let hash = user_op_hash(&op.pack(), entry_point, inner.chain_id);
        op.signature = match signer {
            OpSigner::Owner(owner) => sign_as_owner(owner, hash)?,
            OpSigner::SessionKey(key) => sign_as_session_key(key, hash)?,
        };
        let sent = inner.bundler.send_user_operation(&op).await?;
        tracing::debug!(user_op_hash = %sent, sender = %op.sender, nonce = %op.nonce, "user operation sent");
        let receipt = inner.bundler.wait_for_receipt(sent, inner.timeout).await?;
        if !receipt.success {
            return Err(AccountError::Reverted { reason: receipt.reason.clone(), receipt: Box::new(receipt) });
        }
        Ok(receipt)
    }

    /// What the account checks of a session-key operation's gas, checked here first so a misuse
    /// fails with a clear error instead of an AA23 from the bundler: paid by the pinned paymaster
    /// in its sponsored mode, and within the grant's gas cap.
    async fn check_session_gas(&self, op: &UserOperation, key: Address) -> Result<(), AccountError> {
        let pinned = self.session_key_paymaster().await?;
        match op.paymaster {
            Some(paymaster) if paymaster == pinned => {}
            Some(paymaster) => {
                return Err(AccountError::SessionKeyMisuse(format!(
                    "use paymaster {paymaster}: the account accepts only {pinned} for session keys"
                )));
            }
            None => return Err(AccountError::SessionKeyMisuse("pay gas: its operations must be sponsored".into())),
        }
        let data: &[u8] = op.paymaster_data.as_ref().map_or(&[], |d| &d[..]);
        if data.len() != SPONSORED_DATA_LENGTH || data[0] != MODE_SPONSORED {
            return Err(AccountError::SessionKeyMisuse(
                "use a paymaster mode other than sponsored (the account would pay)".into(),
            ));
        }
        let cap = self.session_key_grant(key).await?.maxGasCost;
        let cost = op.max_cost();
        if cap != 0 && cost > U256::from(cap) {
            return Err(AccountError::SessionKeyMisuse(format!(
                "exceed its grant's gas cap: this operation may cost {cost} wei, the cap is {cap} wei"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use alloy::primitives::{Address, U256};
    use alloy::sol_types::SolError;
    use nexus_bindings::NexusAccount::{SessionKeyGasCostTooHigh, SessionKeyNotActive};
    use nexus_bundler_client::Rejection;

    use super::*;

    /// How Alto words an account's revert during simulation.
    fn alto(data: Vec<u8>) -> Rejection {
        let message = format!(
            "UserOperation reverted during simulation with reason: AA23 reverted 0x{}",
            alloy::hex::encode(data)
        );
        Rejection::new(-32500, message, None)
    }

    #[test]
    fn gas_cap_refusal_is_explained() {
        let data = SessionKeyGasCostTooHigh { maxCost: U256::from(27_000_000), maxGasCost: U256::from(1) }.abi_encode();
        match session_key_refusal(&alto(data)) {
            Some(AccountError::SessionKeyMisuse(why)) => {
                assert_eq!(why, "exceed its grant's gas cap: this operation may cost 27000000 wei, the cap is 1 wei")
            }
            other => panic!("not explained: {other:?}"),
        }
    }

    #[test]
    fn other_refusals_stay_bundler_rejections() {
        let data = SessionKeyNotActive { key: Address::repeat_byte(1) }.abi_encode();
        assert!(session_key_refusal(&alto(data)).is_none(), "not a limit the caller can act on");
        assert!(session_key_refusal(&Rejection::new(-32500, "AA23 reverted 0xzz".into(), None)).is_none());
        assert!(session_key_refusal(&Rejection::new(-32500, "AA24 signature error".into(), None)).is_none());
    }
}
