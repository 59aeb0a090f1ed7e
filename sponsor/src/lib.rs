//! `nexus-sponsor`: the sponsorship service, an ERC-7677 paymaster web service at
//! `POST /v1/paymaster` that signs NexusPaymaster's verifying (sponsored) mode for user operations
//! the policy allows.
//!
//! It is the one AgentNexus component besides the relayer that holds a key and writes (its caps
//! in PostgreSQL), so it lives apart from the read API (`nexus-graphql`). `nexus graphql` mounts
//! it next to the API on the same listener ([`router`] over the API's [`nexus_graphql::Server`]:
//! its pool, node, CORS origins and `/metrics`), so clients and configuration see one server.
//!
//! # Why it looks like this
//!
//! * **Users never hold ETH**, so someone pays their gas; the sponsor key approves each operation
//!   and the paymaster's EntryPoint deposit pays. The key lives only in this server's
//!   configuration ([`SponsorConfig`] never prints it); the service is off unless one is given.
//! * **Only the marketplace is sponsored.** An operation's `callData` must be the account's
//!   `execute` / `executeBatch`, and every call in it must go to the marketplace (any function),
//!   be an ERC-20 `approve` on a payment token whose spender is the marketplace, or be the
//!   account managing its own session keys for the marketplace (grant with marketplace-only
//!   permissions, revoke). Anything else is refused with a JSON-RPC error naming the reason.
//! * **Only NexusAccounts.** A contract that merely mimics `execute`'s selector could do anything
//!   with the sponsored gas, so the sender must be a NexusAccount: deployed in this operation by
//!   the NexusAccountFactory, or already deployed with the factory's proxy code
//!   (`accountCodeHash`) pointing at the factory's account implementation (read from the chain;
//!   without a node configured this check is skipped, with a warning at start).
//! * **Caps that survive restarts.** Each signature reserves the operation's maximum cost (gas
//!   limits × `maxFeePerGas`) in PostgreSQL in the transaction that checks the per-account daily
//!   caps (operations and wei per UTC day) and the global budget, so several API servers share
//!   them. A reservation is keyed by (sender, nonce), which the signature covers: re-signing the
//!   same operation (a retry) replaces its reservation instead of counting twice. A reconciler
//!   ([`Sponsor::reconcile`], every [`RECONCILE_INTERVAL`]) then charges each landed operation
//!   its actual cost from the EntryPoint's `UserOperationEvent`, and releases the reservations of
//!   operations whose window closed without being included.
//! * **Bounded per signature and per client.** One operation may reserve at most `max_op_wei`,
//!   and each client address gets a token bucket of requests ([`nexus_graphql::rate_limit`], shared with the API's own limits). Accounts
//!   cost nothing to create (deploying one is sponsored, so users never need ETH), so per-account
//!   caps alone do not stop one party with many accounts; these two bound how fast one client can
//!   tie up the global budget with signed operations it never sends (each holds its reservation
//!   until its validity window closes). The global budget stays the last line.
//! * **The methods.** `pm_getPaymasterStubData` checks the policy and that the caps leave room,
//!   and returns placeholder data for gas estimation; `pm_getPaymasterData` checks again,
//!   reserves and signs over the final gas fields. Both take `[userOp, entryPoint, chainId,
//!   context]` (the v0.7/v0.8 unpacked form) and refuse another EntryPoint or chain.
//!
//! # Where each part lives
//!
//! [`config`] (identity, caps, defaults), [`policy`] (which calls are sponsored, pure),
//! [`account`] (the sender is a NexusAccount, read from the chain), [`service`] (the two methods,
//! signing), [`reservations`] (the caps transaction), [`reconcile`] (charging what landed),
//! [`rpc`] (JSON-RPC parameters and errors), [`http`] (the route, rate limit, metrics labels),
//! [`metrics`] (the counters `/metrics` shows).

pub mod account;
pub mod config;
pub mod http;
pub mod metrics;
pub mod policy;
pub mod reconcile;
pub mod reservations;
pub mod rpc;
pub mod service;

pub use account::ERC1967_IMPLEMENTATION_SLOT;
pub use config::{
    DEFAULT_BUDGET_WEI, DEFAULT_CLIENT_BURST, DEFAULT_CLIENT_RATE, DEFAULT_DAILY_OPS, DEFAULT_DAILY_WEI,
    DEFAULT_MAX_OP_WEI, DEFAULT_PAYMASTER_VERIFICATION_GAS, DEFAULT_VALIDITY, SponsorConfig, SponsorConfigError,
    SponsorLimits,
};
pub use http::router;
pub use metrics::SponsorMetrics;
pub use policy::{check_call_data, max_cost};
pub use reconcile::{RECONCILE_INTERVAL, ReconcileError};
pub use rpc::{PM_DATA, PM_STUB_DATA, RpcError, codes};
pub use service::Sponsor;
