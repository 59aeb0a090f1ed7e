//! Why the indexer stopped or a step failed, and what [`Indexer::run`](crate::Indexer::run)
//! does about it: [`IndexerError::is_retryable`] decides between backing off and stopping,
//! [`IndexerError::is_rpc_failure`] what counts towards moving to the next RPC endpoint
//! ([`FAILOVER_AFTER`](crate::FAILOVER_AFTER)). Both read the variant, never the message.

/// Why the indexer stopped or a step failed.
#[derive(Debug, thiserror::Error)]
pub enum IndexerError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("RPC error: {0}")]
    Rpc(#[from] alloy::transports::TransportError),
    #[error("cannot decode {event}: {source}")]
    Decode { event: &'static str, source: alloy::sol_types::Error },
    #[error(transparent)]
    Enum(nexus_bindings::agent::UnknownVariant),
    #[error("log without {0} (pending block?)")]
    IncompleteLog(&'static str),
    #[error("the node has no block {0}")]
    MissingBlock(u64),
    #[error("projection inconsistent with the chain: {0}")]
    Inconsistent(String),
    /// A constraint the projections keep (a domain, a check, a key) refused the batch: the
    /// logs do not fit what is stored.
    #[error("projection inconsistent with the chain: a projection constraint refused the batch: {0}")]
    Constraint(#[source] sqlx::Error),
    /// A stored value that is not what its column promises (an address that is not 20 bytes).
    #[error("projection inconsistent with the chain: {column}: {source}")]
    Column {
        column: &'static str,
        #[source]
        source: nexus_store::codec::CodecError,
    },
    /// The task fetching the next backfill range ahead panicked.
    #[error("log prefetch panicked: {0}")]
    Prefetch(#[source] tokio::task::JoinError),
    /// The cursor stored when a step wrote was not the one the step had started from: the
    /// database moved under the indexer (a commit acknowledged and then lost in a crash, a
    /// failover to a replica without it, a restore). Nothing was written; the next step starts
    /// again from the stored cursor.
    #[error(
        "the stored cursor moved under the indexer: the step started from block {expected:?}, the database is at {found:?}"
    )]
    CursorMoved { expected: Option<u64>, found: Option<u64> },
    #[error("no RPC endpoint configured")]
    NoEndpoint,
    #[error("could not encode a notification payload: {0}")]
    Notification(#[source] serde_json::Error),
    #[error("database was indexed for chain {found}, this is chain {expected}")]
    WrongChain { expected: u64, found: u64 },
    #[error(
        "reorg deeper than the limit of {limit} blocks below block {from}: no common ancestor found; \
         refusing to continue (re-index from scratch or raise max_reorg_depth)"
    )]
    ReorgTooDeep { from: u64, limit: u64 },
}

impl IndexerError {
    /// Whether [`Indexer::run`](crate::Indexer::run) backs off and tries the step again
    /// (`true`) or stops (`false`).
    ///
    /// It stops only where going on would be wrong and waiting cannot help: a reorg deeper than
    /// the limit, projections that contradict the chain (or a bug that could have made them),
    /// another chain's database. Everything else is retried, including what the node served
    /// badly (an undecodable or incomplete log, a missing block): a lagging or broken backend
    /// recovers or is failed over, and an indexer stuck on it shows in its lag metric.
    pub fn is_retryable(&self) -> bool {
        match self {
            IndexerError::ReorgTooDeep { .. }
            | IndexerError::Inconsistent(_)
            | IndexerError::Constraint(_)
            | IndexerError::Column { .. }
            | IndexerError::Prefetch(_)
            | IndexerError::NoEndpoint
            | IndexerError::WrongChain { .. } => false,
            IndexerError::Db(_)
            | IndexerError::Migrate(_)
            | IndexerError::Rpc(_)
            | IndexerError::Decode { .. }
            | IndexerError::Enum(_)
            | IndexerError::IncompleteLog(_)
            | IndexerError::MissingBlock(_)
            | IndexerError::CursorMoved { .. }
            | IndexerError::Notification(_) => true,
        }
    }

    /// Whether the step failed talking to the node: counted towards
    /// [`FAILOVER_AFTER`](crate::FAILOVER_AFTER). Any JSON-RPC failure counts, whether the
    /// endpoint did not answer (connection refused or lost, HTTP errors) or answered with an
    /// error (rate limit, refusal): another endpoint of the same chain may serve the request.
    pub fn is_rpc_failure(&self) -> bool {
        matches!(self, IndexerError::Rpc(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::transports::{RpcError, TransportErrorKind};

    #[test]
    fn node_failures_back_off_and_count_towards_failover() {
        for rpc in [
            TransportErrorKind::backend_gone(),
            TransportErrorKind::custom_str("error sending request: connection refused"),
            TransportErrorKind::http_error(503, String::new()),
            RpcError::ErrorResp(serde_json::from_str(r#"{"code":-32005,"message":"limit exceeded"}"#).expect("error")),
            RpcError::NullResp,
        ] {
            let e = IndexerError::from(rpc);
            assert!(e.is_retryable(), "{e}");
            assert!(e.is_rpc_failure(), "{e}");
        }
    }

    #[test]
    fn other_transient_failures_back_off_without_failover() {
        for e in [
            IndexerError::Db(sqlx::Error::PoolTimedOut),
            IndexerError::MissingBlock(7),
            IndexerError::IncompleteLog("log index"),
            IndexerError::CursorMoved { expected: Some(9), found: Some(8) },
        ] {
            assert!(e.is_retryable(), "{e}");
            assert!(!e.is_rpc_failure(), "{e}");
        }
    }

    #[test]
    fn contradictions_stop_the_indexer() {
        for e in [
            IndexerError::ReorgTooDeep { from: 100, limit: 64 },
            IndexerError::Inconsistent("request 1 closed but not open".into()),
            IndexerError::Constraint(sqlx::Error::Protocol("check violation".into())),
            IndexerError::Column {
                column: "agents.payment_token",
                source: nexus_store::codec::CodecError::Length { expected: 20, got: 19 },
            },
            IndexerError::WrongChain { expected: 1, found: 31337 },
        ] {
            assert!(!e.is_retryable(), "{e}");
            assert!(!e.is_rpc_failure(), "{e}");
        }
    }
}
