//! [`SessionKeySender`]: operations signed by a session key the owner granted, so an app can
//! run agents for a user without asking the owner to sign each request.
//!
//! NexusAccount accepts a session-key operation only as one `execute(target, 0, data)` of a
//! granted (target, selector) pair, on the key's own nonce key, paid by the account's pinned
//! paymaster in sponsored mode and within the grant's gas cap; this sender builds exactly that
//! shape and refuses value transfers, other paymasters or modes and costs above the cap before
//! anything is sent, so a misuse fails locally with a clear error instead of as an opaque AA23
//! from the bundler.

use alloy::primitives::{Address, B256, U256};
use alloy::signers::local::PrivateKeySigner;
use nexus_bundler_client::UserOperationReceipt;

use crate::account::{Call, OpSigner, SmartAccount};
use crate::error::AccountError;

/// Sends operations for a [`SmartAccount`] signed by one session key.
#[derive(Clone)]
pub struct SessionKeySender {
    account: SmartAccount,
    key: PrivateKeySigner,
}

impl std::fmt::Debug for SessionKeySender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionKeySender").field("account", &self.account.address()).field("key", &self.key()).finish()
    }
}

// The constructor lives here rather than in `account`: the session-key side depends on the
// account's pipeline, never the other way round, so `account` does not import this module.
impl SmartAccount {
    /// A sender for operations signed by `key` instead of the owner (after
    /// [`Self::grant_session_key`]).
    pub fn session_key(&self, key: PrivateKeySigner) -> SessionKeySender {
        SessionKeySender { account: self.clone(), key }
    }
}

impl SessionKeySender {
    /// The session key's address.
    pub fn key(&self) -> Address {
        self.key.address()
    }

    /// The account the key acts for.
    pub fn account(&self) -> &SmartAccount {
        &self.account
    }

    /// One permitted call (no value: a session key never moves ETH).
    pub async fn execute(&self, call: Call) -> Result<UserOperationReceipt, AccountError> {
        if call.value != U256::ZERO {
            return Err(AccountError::SessionKeyMisuse(format!("send value ({} wei)", call.value)));
        }
        self.account.submit(call.execute_call_data(), OpSigner::SessionKey(&self.key)).await
    }

    /// `marketplace.requestExecution(creditId, inputHash)` through the key: what an app does to
    /// run an agent for the user. The receipt's logs hold `ExecutionRequested` (see
    /// [`crate::requested_execution`]).
    pub async fn request_execution(
        &self,
        marketplace: Address,
        credit_id: U256,
        input_hash: B256,
    ) -> Result<UserOperationReceipt, AccountError> {
        self.execute(Call::request_execution(marketplace, credit_id, input_hash)).await
    }
}
