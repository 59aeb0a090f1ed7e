//! Rows more than one service reads, decoded once.
//!
//! The execution row is read by the relayer (what to run and settle) and by graphql (the
//! `Execution` type and its subscription); both used to declare it, one as a tuple. Fields are
//! typed: a uint256 or address that is not one fails the row's decode (see [`crate::codec`]),
//! and so does a status outside [`ExecutionStatus`].

use alloy::primitives::{Address, B256, U256};
use sqlx::PgPool;

use crate::codec::{Addr, Hash32, Uint256, numeric};
use crate::status::ExecutionStatus;

/// Columns of [`ExecutionRow`], for `SELECT ... FROM executions e`. Times are unix seconds
/// (block timestamps are whole seconds); domains are cast to their base types for sqlx.
pub const EXECUTION_COLUMNS: &str = "e.request_id::text AS request_id, e.agent_id::text AS agent_id, \
    e.requester::bytea AS requester, e.developer::bytea AS developer, e.token::bytea AS token, \
    e.credit_id::text AS credit_id, e.unit_price::text AS unit_price, e.input_hash::bytea AS input_hash, \
    extract(epoch FROM e.deadline)::bigint AS deadline, e.status, e.success, e.output_hash::bytea AS output_hash, \
    e.payee::bytea AS payee, e.payout::text AS payout, e.fee::text AS fee, e.requested_block, \
    e.requested_tx::bytea AS requested_tx, extract(epoch FROM e.requested_at)::bigint AS requested_at, \
    e.settled_block, e.settled_tx::bytea AS settled_tx, extract(epoch FROM e.settled_at)::bigint AS settled_at";

/// One row of `executions` (see the table in the first migration for each column's meaning).
#[derive(sqlx::FromRow, Debug, Clone, PartialEq, Eq)]
pub struct ExecutionRow {
    #[sqlx(try_from = "Uint256")]
    pub request_id: U256,
    #[sqlx(try_from = "Uint256")]
    pub agent_id: U256,
    #[sqlx(try_from = "Addr")]
    pub requester: Address,
    #[sqlx(try_from = "Addr")]
    pub developer: Address,
    #[sqlx(try_from = "Addr")]
    pub token: Address,
    #[sqlx(try_from = "Uint256")]
    pub credit_id: U256,
    /// The escrowed amount.
    #[sqlx(try_from = "Uint256")]
    pub unit_price: U256,
    #[sqlx(try_from = "Hash32")]
    pub input_hash: B256,
    /// Unix seconds.
    pub deadline: i64,
    pub status: ExecutionStatus,
    pub success: Option<bool>,
    pub output_hash: Option<Hash32>,
    pub payee: Option<Addr>,
    pub payout: Option<Uint256>,
    pub fee: Option<Uint256>,
    pub requested_block: i64,
    #[sqlx(try_from = "Hash32")]
    pub requested_tx: B256,
    /// Unix seconds (the request's block timestamp).
    pub requested_at: i64,
    pub settled_block: Option<i64>,
    pub settled_tx: Option<Hash32>,
    /// Unix seconds.
    pub settled_at: Option<i64>,
}

impl ExecutionRow {
    /// Loads one execution by request id.
    pub async fn fetch(pool: &PgPool, request_id: U256) -> Result<Option<Self>, sqlx::Error> {
        let sql = format!("SELECT {EXECUTION_COLUMNS} FROM executions e WHERE e.request_id = $1::numeric");
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(numeric(request_id)).fetch_optional(pool).await
    }

    /// The output blob's hash, if the settlement named one (the zero hash means "no output").
    pub fn output_blob(&self) -> Option<B256> {
        self.output_hash.map(B256::from).filter(|h| !h.is_zero())
    }
}
