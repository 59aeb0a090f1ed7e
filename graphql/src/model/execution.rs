//! Executions: the object (public fields, and the requester-only output and logs), its status
//! enum, and the requester check the logs subscription shares.

use std::sync::Arc;

use async_graphql::{Context, Enum, Object};
use nexus_store::codec::Uint256;
use nexus_store::{self as store, ExecutionRow};
use sqlx::PgPool;

use super::agent::{Agent, load_agent};
use super::execution_log::{ExecutionLog, LOG_COLUMNS, LogRow};
use super::proposal::{Proposal, load_proposals};
use crate::auth::Viewer;
use crate::error::{DbResult, forbidden, unauthenticated};
use crate::scalars::{Address, BigInt, Bytes32, DateTime};

// Not a doc comment: those become the schema's descriptions. Also `Deserialize` from the
// schema's names (`SUCCEEDED`, ...), so clients in this workspace (the `nexus` CLI) read the
// status the API sends as this type instead of comparing strings.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionStatus {
    Requested,
    Succeeded,
    Failed,
    Reclaimed,
}

from_store!(ExecutionStatus, store::ExecutionStatus, {
    Requested => Requested,
    Succeeded => Succeeded,
    Failed => Failed,
    Reclaimed => Reclaimed,
});

pub use nexus_store::EXECUTION_COLUMNS;

/// One execution request and its settlement. Everything is public except the output and the
/// logs, which only the requester (signed in) may read.
#[derive(Clone)]
pub struct Execution(pub Arc<ExecutionRow>);

/// The signed-in viewer must be this execution's requester.
pub fn require_requester(ctx: &Context<'_>, requester: alloy::primitives::Address) -> async_graphql::Result<()> {
    match ctx.data_opt::<Viewer>().and_then(|v| v.0) {
        None => Err(unauthenticated("sign in (bearer token) to read an execution's output and logs")),
        Some(a) if a == requester => Ok(()),
        Some(_) => Err(forbidden("only the execution's requester may read its output and logs")),
    }
}

#[Object]
impl Execution {
    /// The marketplace's request id.
    async fn id(&self) -> BigInt {
        BigInt::from(self.0.request_id)
    }
    async fn agent_id(&self) -> BigInt {
        BigInt::from(self.0.agent_id)
    }
    async fn agent(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Agent>> {
        load_agent(ctx, BigInt::from(self.0.agent_id)).await
    }
    async fn requester(&self) -> Address {
        Address::from(self.0.requester)
    }
    async fn developer(&self) -> Address {
        Address::from(self.0.developer)
    }
    async fn token(&self) -> Address {
        Address::from(self.0.token)
    }
    /// The credit spent on this execution.
    async fn credit_id(&self) -> BigInt {
        BigInt::from(self.0.credit_id)
    }
    /// The escrowed amount.
    async fn unit_price(&self) -> BigInt {
        BigInt::from(self.0.unit_price)
    }
    /// keccak256 of the input blob (see `PUT /v1/blobs`).
    async fn input_hash(&self) -> Bytes32 {
        Bytes32::from(self.0.input_hash)
    }
    /// Settle before, reclaim after.
    async fn deadline(&self) -> DateTime {
        DateTime::from_secs(self.0.deadline)
    }
    async fn status(&self) -> ExecutionStatus {
        self.0.status.into()
    }
    /// The settlement's verdict; null while requested and when reclaimed.
    async fn success(&self) -> Option<bool> {
        self.0.success
    }
    /// keccak256 of the output blob (zero hash when there is none); set on settlement.
    async fn output_hash(&self) -> Option<Bytes32> {
        self.0.output_hash.map(Bytes32::from)
    }
    /// Who was credited on settlement or reclaim.
    async fn payee(&self) -> Option<Address> {
        self.0.payee.map(Address::from)
    }
    async fn payout(&self) -> Option<BigInt> {
        self.0.payout.map(BigInt::from)
    }
    /// Platform fee taken on success.
    async fn fee(&self) -> Option<BigInt> {
        self.0.fee.map(BigInt::from)
    }
    async fn requested_block(&self) -> i64 {
        self.0.requested_block
    }
    async fn requested_tx(&self) -> Bytes32 {
        Bytes32::from(self.0.requested_tx)
    }
    async fn requested_at(&self) -> DateTime {
        DateTime::from_secs(self.0.requested_at)
    }
    async fn settled_block(&self) -> Option<i64> {
        self.0.settled_block
    }
    async fn settled_tx(&self) -> Option<Bytes32> {
        self.0.settled_tx.map(Bytes32::from)
    }
    async fn settled_at(&self) -> Option<DateTime> {
        self.0.settled_at.map(DateTime::from_secs)
    }
    /// Seconds from request to settlement (block times); null while open.
    async fn duration_seconds(&self) -> Option<i64> {
        self.0.settled_at.map(|s| s - self.0.requested_at)
    }
    /// The output document as text. Requester only (sign in first); null while there is none.
    async fn output(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<String>> {
        require_requester(ctx, self.0.requester)?;
        let Some(hash) = self.0.output_blob() else { return Ok(None) };
        let pool = ctx.data::<PgPool>()?;
        let bytes: Option<Vec<u8>> = sqlx::query_scalar("SELECT bytes FROM blobs WHERE hash = $1")
            .bind(hash.as_slice())
            .fetch_optional(pool)
            .await
            .db()?;
        Ok(bytes.map(|b| String::from_utf8_lossy(&b).into_owned()))
    }
    /// The actions the output proposes, typed (`nexus proposals`, `nexus apply`). Requester
    /// only, like the output; null while there is no output; empty when it proposes none. An
    /// output whose proposals break the shape is an `INVALID_OUTPUT` error.
    async fn proposals(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Vec<Proposal>>> {
        require_requester(ctx, self.0.requester)?;
        let Some(hash) = self.0.output_blob() else { return Ok(None) };
        load_proposals(ctx.data::<PgPool>()?, hash).await
    }
    /// The container's log lines in order. Requester only.
    async fn logs(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only lines of this attempt (a request a relayer gave up on runs again as the next \
                          attempt). Default: every attempt, in order.")]
        attempt: Option<i32>,
        #[graphql(desc = "Only lines after this sequence number. Sequence numbers start at 0 in each \
                          attempt, so page with `attempt` set.")]
        after_seq: Option<i64>,
        #[graphql(desc = "At most this many lines (default and maximum 1000).")] limit: Option<i32>,
    ) -> async_graphql::Result<Vec<ExecutionLog>> {
        require_requester(ctx, self.0.requester)?;
        let pool = ctx.data::<PgPool>()?;
        let limit = limit.unwrap_or(MAX_LOG_LINES).clamp(0, MAX_LOG_LINES);
        let rows: Vec<LogRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {LOG_COLUMNS} FROM execution_logs l
             WHERE l.request_id = $1::numeric AND l.seq > $2 AND ($4::integer IS NULL OR l.attempt = $4)
             ORDER BY l.attempt, l.seq LIMIT $3"
        )))
        .bind(Uint256(self.0.request_id))
        .bind(after_seq.unwrap_or(-1))
        .bind(i64::from(limit))
        .bind(attempt)
        .fetch_all(pool)
        .await
        .db()?;
        Ok(rows.into_iter().map(ExecutionLog::from).collect())
    }
}

/// Log lines one `logs` field returns at most: container stderr can be long, a page is enough.
const MAX_LOG_LINES: i32 = 1000;
