//! What every handler and resolver shares: one pool, one notifier, the node, the configuration.

use std::sync::Arc;

use alloy::providers::DynProvider;
use sqlx::PgPool;

use crate::auth::AuthConfig;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::notifier::Notifier;
use crate::rate_limit::RateLimiter;

/// The client's address as the server sees it, put into every GraphQL request's data so that
/// resolvers which write (`signInChallenge`) can rate-limit per client.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub std::net::IpAddr);

/// Cheap to clone (everything behind `Arc` or already shared).
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    /// The chain node, for `indexerStatus.head` and EIP-1271 checks; `None` without an RPC URL.
    pub provider: Option<DynProvider>,
    pub auth: Arc<AuthConfig>,
    pub notifier: Notifier,
    pub metrics: Arc<Metrics>,
    pub blob_limiter: Arc<RateLimiter>,
    /// `signInChallenge` per client address: each one stores a nonce row.
    pub challenge_limiter: Arc<RateLimiter>,
    pub config: Arc<Config>,
}
