//! What the batched loaders share.

use std::sync::Arc;

use crate::scalars::BigInt;

/// The database error as a cloneable loader error.
pub(super) type LoadError = Arc<sqlx::Error>;

pub(super) fn keys_text(keys: &[BigInt]) -> Vec<String> {
    keys.iter().map(BigInt::decimal).collect()
}
