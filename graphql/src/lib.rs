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
//!   ([`subscriptions`]). No polling, one database connection however many clients subscribe.
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

pub mod auth;
pub mod blobs;
pub mod count_cache;
pub mod error;
pub mod http;
pub mod limits;
pub mod metrics;
pub mod model;
pub mod pagination;
pub mod query;
pub mod rate_limit;
pub mod scalars;
pub mod state;
mod status;
pub mod subscriptions;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use alloy::providers::{Provider, ProviderBuilder};
use async_graphql::Schema;
use async_graphql::dataloader::DataLoader;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

pub use auth::MutationRoot;
pub use error::GraphqlError;
pub use http::{Server, router};
pub use query::QueryRoot;
pub use subscriptions::SubscriptionRoot;

use auth::AuthConfig;
use metrics::Metrics;
use model::{AgentLoader, MedianDurationLoader, StatsLoader};
use rate_limit::RateLimiter;
use state::AppState;
use subscriptions::Notifier;

/// The executable schema.
pub type NexusSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// Deepest selection accepted. The data graph is shallow (execution → agent → stats → field is
/// 6 with the connection wrappers); GraphiQL's introspection query needs 13. Anything deeper is
/// an attack or a bug.
pub const MAX_DEPTH: usize = 16;
/// Most complex query accepted: a full page (100) of agents with ~30 fields each, or a dozen
/// smaller pages side by side. Connections count page size × selection (see
/// [`pagination::page_complexity`]).
pub const MAX_COMPLEXITY: usize = 5_000;
/// Parser recursion limit (nested lists/objects in values and selections): keeps a crafted
/// document from exhausting the stack before depth is even measured.
pub const MAX_RECURSIVE_DEPTH: usize = 32;
/// Directives per field.
pub const MAX_DIRECTIVES: usize = 8;

/// Everything the server needs. [`Config::local`] gives the local stack's defaults.
#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    /// Chain node for `indexerStatus.head` and EIP-1271 checks; `None` disables both.
    pub rpc_url: Option<String>,
    /// Serve GraphiQL at `GET /graphql`.
    pub development: bool,
    /// Allowed CORS origins; `*` allows any.
    pub cors_origins: Vec<String>,
    /// Largest GraphQL request body.
    pub graphql_max_bytes: usize,
    /// Largest blob `PUT /v1/blobs` accepts.
    pub blob_max_bytes: usize,
    /// Blob uploads per second per client address (refill rate), and the burst allowed.
    pub blob_rate_per_second: f64,
    pub blob_burst: f64,
    /// Longest a GraphQL request may run.
    pub request_timeout: Duration,
    /// Longest one SQL statement may run (set on every pooled connection).
    pub statement_timeout: Duration,
    pub max_connections: u32,
    /// EIP-4361 `domain` sign-in messages must name.
    pub siwe_domain: String,
    /// EIP-4361 `Chain ID` sign-in messages must name (`None`: any).
    pub chain_id: Option<u64>,
    /// HMAC key for bearer tokens; `None` draws a random one at start (tokens then die with the
    /// process, and several replicas would not accept each other's tokens).
    pub token_secret: Option<Vec<u8>>,
    pub token_ttl: Duration,
    pub nonce_ttl: Duration,
}

impl Config {
    /// Defaults for the local stack (`make dev`).
    pub fn local(database_url: impl Into<String>) -> Self {
        Config {
            database_url: database_url.into(),
            rpc_url: Some("http://127.0.0.1:8545".into()),
            development: true,
            cors_origins: vec!["*".into()],
            // Documents beyond 256 KiB are not hand-written queries.
            graphql_max_bytes: 256 * 1024,
            // The default: inputs are JSON documents, not files.
            blob_max_bytes: 1024 * 1024,
            blob_rate_per_second: 5.0,
            blob_burst: 20.0,
            request_timeout: Duration::from_secs(10),
            statement_timeout: Duration::from_secs(5),
            max_connections: 16,
            siwe_domain: "localhost:4000".into(),
            chain_id: None,
            token_secret: None,
            // Short because a stateless token cannot be revoked; a wallet re-signs in a click.
            token_ttl: Duration::from_secs(15 * 60),
            nonce_ttl: Duration::from_secs(10 * 60),
        }
    }
}

/// The schema with its limits, before data is attached (also what the SDL is printed from).
pub fn schema_builder() -> async_graphql::SchemaBuilder<QueryRoot, MutationRoot, SubscriptionRoot> {
    Schema::build(QueryRoot, MutationRoot, SubscriptionRoot)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .limit_recursive_depth(MAX_RECURSIVE_DEPTH)
        .limit_directives(MAX_DIRECTIVES)
        .extension(limits::FieldLimit)
}

/// The schema in SDL, as committed in `graphql/schema.graphql`.
pub fn sdl() -> String {
    schema_builder().finish().sdl()
}

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
