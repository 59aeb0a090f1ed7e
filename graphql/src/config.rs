//! The server's settings ([`Config`]), read by the shared state and the HTTP layer.

use std::time::Duration;

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
