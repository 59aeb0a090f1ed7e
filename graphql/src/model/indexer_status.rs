//! The indexer's progress against the chain.

use async_graphql::SimpleObject;

use crate::scalars::{Bytes32, DateTime};

/// How far the indexer is behind the chain.
#[derive(SimpleObject, Clone, Debug)]
pub struct IndexerStatus {
    /// The chain's latest block as the configured node reports it; null if it cannot be reached.
    pub head: Option<i64>,
    /// The last block whose events are in the database; null before the first.
    pub indexed_block: Option<i64>,
    pub indexed_block_hash: Option<Bytes32>,
    /// head − indexedBlock; null when either is unknown.
    pub lag: Option<i64>,
    /// When the indexer last committed.
    pub updated_at: Option<DateTime>,
}
