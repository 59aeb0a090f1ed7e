//! What every handler and resolver shares: one pool, one notifier, the node, the configuration.

use std::sync::Arc;

use alloy::providers::DynProvider;
use sqlx::PgPool;

use crate::Config;
use crate::auth::AuthConfig;
use crate::blobs::RateLimiter;
use crate::metrics::Metrics;
use crate::subscriptions::Notifier;

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
    pub config: Arc<Config>,
}
