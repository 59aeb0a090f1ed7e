//! Why an account operation failed.
//!
//! The variants separate what a caller reacts to differently: the sponsor said no (show the
//! reason, nothing was sent), the bundler or EntryPoint refused the operation (the
//! [`RejectionKind`](nexus_bundler_client::RejectionKind) says what to fix), the operation was
//! included but its call reverted (gas was spent, state did not change), or the network failed.

use alloy::primitives::{Address, Bytes};
use nexus_bundler_client::{Rejection, UserOperationReceipt};

/// Errors of [`crate::SmartAccount`] and [`crate::SessionKeySender`].
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The ERC-7677 paymaster service refused to sponsor the operation; `reason` is its message
    /// (for the AgentNexus sponsor, e.g. "target 0x… is not the marketplace"). Nothing was sent.
    #[error("sponsorship refused: {reason}")]
    SponsorshipRefused { reason: String, code: i64 },
    /// The bundler (or the EntryPoint's simulation) refused the operation. Nothing was included.
    #[error("bundler refused the operation: {0}")]
    Rejected(Rejection),
    /// The operation was included but its call reverted; the gas was still charged.
    #[error("user operation {} reverted (revert data {reason:?})", receipt.user_op_hash)]
    Reverted { reason: Option<Bytes>, receipt: Box<UserOperationReceipt> },
    /// Any other bundler-client failure: transport, chain reads, timeouts, unsupported EntryPoint.
    #[error(transparent)]
    Bundler(nexus_bundler_client::Error),
    /// A chain read or contract call made directly (not through the bundler) failed.
    #[error("chain call: {0}")]
    Chain(#[from] alloy::contract::Error),
    /// The node could not be reached.
    #[error("node: {0}")]
    Rpc(#[from] alloy::transports::TransportError),
    /// A local key could not sign.
    #[error("signing: {0}")]
    Signer(#[from] alloy::signers::Error),
    /// The deployments file lacks a contract the account needs (ERC-4337 contracts not deployed).
    #[error("no {0} in the deployments")]
    MissingContract(&'static str),
    /// A session-key operation was asked for something a session key can never do.
    #[error("a session key cannot {0}")]
    SessionKeyMisuse(String),
    /// The bundler serves another chain than the node.
    #[error("bundler is on chain {bundler}, the node on chain {node}")]
    ChainMismatch { bundler: u64, node: u64 },
    /// A sponsorship service answered with a paymaster other than the one expected.
    #[error("paymaster service answered for paymaster {got}, expected {expected}")]
    UnexpectedPaymaster { expected: Address, got: Address },
}

impl AccountError {
    /// A bundler-client error raised while talking to the paymaster service: a JSON-RPC error
    /// answer there is the sponsor's refusal, not the bundler's.
    pub(crate) fn from_paymaster(err: nexus_bundler_client::Error) -> Self {
        match err {
            nexus_bundler_client::Error::Rejected(r) => {
                AccountError::SponsorshipRefused { reason: r.message, code: r.code }
            }
            other => AccountError::Bundler(other),
        }
    }
}

impl From<nexus_bundler_client::Error> for AccountError {
    fn from(err: nexus_bundler_client::Error) -> Self {
        match err {
            nexus_bundler_client::Error::Rejected(r) => AccountError::Rejected(r),
            other => AccountError::Bundler(other),
        }
    }
}
