//! ERC-4337 client for EntryPoint v0.8: build, hash, sign and send user operations through a
//! bundler, with ERC-7677 paymaster services and typed errors.
//!
//! Why a crate of its own: the CLI, the sponsorship service, tests and any other Rust project that
//! drives a NexusAccount need the same few, easily-gotten-wrong pieces: the packed layout, the
//! EIP-712 user operation hash of v0.8, the NexusAccount signature formats, and turning a
//! bundler's "AA24 signature error" into something a program can match on. It depends only on
//! alloy and the contract bindings (`nexus-bindings`, for the EntryPoint and factory ABIs).
//!
//! The flow, shown in `examples/send_user_op.rs`:
//! 1. [`counterfactual_account`] gives the account address and factory data;
//! 2. [`get_nonce`] the next nonce; [`BundlerClient::suggest_fees`] the fees;
//! 3. [`BundlerClient::estimate_user_operation_gas`] with a dummy signature, then the paymaster
//!    fields (ERC-7677 [`PaymasterClient`], or signed locally);
//! 4. [`user_op_hash`] + [`sign_as_owner`] / [`sign_as_session_key`];
//! 5. [`BundlerClient::send_user_operation`] and [`BundlerClient::wait_for_receipt`].

pub mod client;
pub mod error;
pub mod hash;
pub mod paymaster;
pub mod types;

pub use client::{
    BundlerClient, Counterfactual, PaymasterClient, chain_fees, chain_user_op_hash, counterfactual_account, get_nonce,
    is_deployed, session_key_nonce_key,
};
pub use error::{Error, Rejection, RejectionKind};
pub use hash::{dummy_owner_signature, sign_as_owner, sign_as_session_key, user_op_hash};
pub use types::{
    Fees, GasEstimate, PackedUserOperation, PaymasterData, UserOperation, UserOperationByHash, UserOperationReceipt,
};
