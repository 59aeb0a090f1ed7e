//! `nexus-graphql`: the AgentNexus read API over the indexer's PostgreSQL mirror, with live
//! subscriptions, input upload and private outputs.
//!
//! # Why it looks like this
//!
//! * **The database is the only source.** Every answer comes from the projections the indexer
//!   commits (block order, one transaction per batch), so the API never shows a state the chain
//!   did not reach. The server writes only what is its own: uploaded blobs and sign-in nonces.
//! * **Live means LISTEN/NOTIFY.** The indexer notifies after each commit; one listener per
//!   server loads each changed row once and fans it out over a broadcast channel
//!   ([`notifier`]). No polling, one database connection however many clients subscribe.
//! * **Hostile clients are normal.** Pages are capped at [`pagination::MAX_PAGE`]; query depth
//!   and complexity are limited before execution (a connection's complexity is its page size
//!   times its selection, so alias flooding and `first: 100000` are refused up front); bodies are
//!   size-limited; requests and SQL statements time out; uploads are rate-limited per client.
//! * **Private results, stateless auth.** Sign-In with Ethereum (EIP-4361, EIP-1271 for smart
//!   accounts) yields a short-lived HMAC token ([`auth`]); only an execution's requester can
//!   read its output and logs.
//!
//! [`start`] connects and migrates; [`serve`] runs the HTTP server until shutdown.
//!
//! The ERC-7677 sponsorship service (`POST /v1/paymaster`) is not part of this crate: it signs and
//! writes, so it lives in `nexus-sponsor`, which `nexus graphql` mounts next to [`router`] on the
//! same listener (it shares this server's pool, node, CORS origins, `/metrics` and
//! [`rate_limit::RateLimiter`]).
//!
//! # Layers
//!
//! A module may import any module of a lower layer, and within its own layer only what is noted
//! here; nothing imports from this file (its `pub use` lines are the public paths). So the
//! import graph has no circle:
//!
//! 1. **Foundations**: [`config`] ([`Config`]), [`error`], [`scalars`], [`limits`],
//!    [`rate_limit`], [`count_cache`], [`metrics`]; [`pagination`] imports `error`, and
//!    [`auth`] (tokens, EIP-4361, signature checks) imports `scalars`.
//! 2. **Model**: [`model`], the object types, their rows and loaders.
//! 3. **Live data**: [`notifier`], the one database listener and its broadcast.
//! 4. **Shared state**: [`state`], what every handler and resolver holds.
//! 5. **GraphQL roots**: [`query`], [`mutation`] (sign-in), [`subscriptions`]; none imports
//!    another.
//! 6. **Schema**: [`schema`], the roots with their limits ([`NexusSchema`], [`sdl`]).
//! 7. **HTTP**: [`blobs`] (`PUT /v1/blobs`) and [`http`] (the router and the other handlers),
//!    which imports `blobs`.
//! 8. **This file**: [`start`] wires the layers together; [`serve`] runs the HTTP server.

pub mod auth;
pub mod blobs;
pub mod config;
pub mod count_cache;
pub mod error;
pub mod http;
pub mod limits;
pub mod metrics;
pub mod model;
pub mod mutation;
pub mod notifier;
pub mod pagination;
pub mod query;
pub mod rate_limit;
pub mod scalars;
pub mod schema;
pub mod state;
mod status;
pub mod subscriptions;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use alloy::providers::{Provider, ProviderBuilder};
use async_graphql::dataloader::DataLoader;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

pub use config::Config;
pub use error::GraphqlError;
pub use http::{Server, router};
pub use mutation::MutationRoot;
pub use query::QueryRoot;
pub use schema::{MAX_COMPLEXITY, MAX_DEPTH, MAX_DIRECTIVES, MAX_RECURSIVE_DEPTH, NexusSchema, schema_builder, sdl};
pub use subscriptions::SubscriptionRoot;

use auth::AuthConfig;
use metrics::Metrics;
use model::{AgentLoader, MedianDurationLoader, StatsLoader};
use notifier::Notifier;
use rate_limit::RateLimiter;
use state::AppState;

/// Connects to the database (and node), migrates, starts the notification listener; returns
/// the server to pass to [`serve`] or [`router`]. The listener stops when `shutdown` resolves.
pub async fn start(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Server, GraphqlError> {
    let options = PgConnectOptions::from_str(&config.database_url)?
        .options([("statement_timeout", format!("{}", config.statement_timeout.as_millis()))]);
    let pool = PgPoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await?;
    nexus_store::migrate(&pool).await?;
    let provider = match &config.rpc_url {
        Some(url) => Some(
            ProviderBuilder::new()
                .connect(url)
                .await
                .map_err(|e| GraphqlError::Config(format!("cannot use RPC URL {url}: {e}")))?
                .erased(),
        ),
        None => None,
    };
    let secret = match &config.token_secret {
        Some(s) if s.len() >= 16 => s.clone(),
        Some(_) => return Err(GraphqlError::Config("token secret must be at least 16 bytes".into())),
        None => {
            tracing::warn!("no token secret configured: using a random one (tokens end with this process)");
            auth::random_bytes::<32>().map_err(|e| GraphqlError::Config(format!("no randomness: {e}")))?.to_vec()
        }
    };
    let auth = AuthConfig {
        secret,
        token_ttl: config.token_ttl,
        nonce_ttl: config.nonce_ttl,
        domain: config.siwe_domain.clone(),
        chain_id: config.chain_id,
    };
    let notifier = Notifier::new();
    tokio::spawn(notifier.clone().run(pool.clone(), shutdown));
    let state = AppState {
        pool: pool.clone(),
        provider,
        auth: Arc::new(auth),
        notifier: notifier.clone(),
        metrics: Arc::new(Metrics::default()),
        blob_limiter: Arc::new(RateLimiter::new(config.blob_rate_per_second, config.blob_burst)),
        challenge_limiter: Arc::new(RateLimiter::new(auth::CHALLENGE_RATE_PER_SECOND, auth::CHALLENGE_BURST)),
        config: Arc::new(config),
    };
    // Loaders without a cache (async-graphql's default), so sharing them across requests only
    // merges concurrent batches and never serves a stale row.
    let schema = schema_builder()
        .data(state.clone())
        .data(pool.clone())
        .data(notifier)
        .data(DataLoader::new(AgentLoader(pool.clone()), tokio::spawn))
        .data(DataLoader::new(StatsLoader(pool.clone()), tokio::spawn))
        .data(DataLoader::new(MedianDurationLoader(pool), tokio::spawn))
        .finish();
    Ok(Server { state, schema })
}

/// Serves `app` on `listener` until `shutdown` resolves: the API alone (a [`Server`]), or its
/// [`router`] merged with what is mounted next to it (`nexus graphql` adds the sponsorship
/// service). Handlers see the client's address (`ConnectInfo`) for per-client rate limits.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: impl Into<axum::Router>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), GraphqlError> {
    use axum::serve::ListenerExt;
    let app = app.into().into_make_service_with_connect_info::<std::net::SocketAddr>();
    // Small request/response exchanges: never let Nagle hold a response back for an ACK.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
    });
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await?;
    Ok(())
}
