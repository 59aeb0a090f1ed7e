//! The relayer's PostgreSQL side: claiming requests with a lease, reading executions and blobs,
//! storing outputs and appending container log lines.
//!
//! Why a lease and not a session lock: a relayer that dies (SIGKILL, machine lost) must not keep
//! a request forever. The claim is a row in `relayer_claims` with an expiry; the owner renews it
//! while it works, and any relayer's sweep takes over a request whose lease ran out.

use std::time::Duration;

use alloy::primitives::aliases::U40;
use alloy::primitives::{B256, U256, keccak256};
use nexus_bindings::marketplace::IAgentMarketplace::Execution;
use nexus_store::codec::{Uint256, numeric};
use nexus_store::{EXECUTION_COLUMNS, ExecutionRow, ExecutionStatus, Outcome};
use sqlx::PgPool;

use crate::RelayerError;

/// One claimed request.
#[derive(Debug, Clone, Copy)]
pub struct Claim {
    pub request_id: U256,
    /// How many times the request has been claimed, this claim included.
    pub attempt: i32,
    /// When the claim landed (timing: claim → container exited).
    pub claimed_at: std::time::Instant,
}

/// Claims the lowest open request nobody holds (no claim row, or an expired, unfinished one).
///
/// `FOR UPDATE OF e SKIP LOCKED` keeps concurrent claimers off the same candidate row; the
/// `ON CONFLICT ... WHERE` guard is the final word: a claim only lands where no live lease or
/// completion exists, whatever two transactions saw in their snapshots.
pub async fn claim(pool: &PgPool, owner: &str, lease: Duration) -> Result<Option<Claim>, RelayerError> {
    let row: Option<(Uint256, i32)> = sqlx::query_as(
        "WITH candidate AS (
             SELECT e.request_id FROM executions e
             LEFT JOIN relayer_claims c ON c.request_id = e.request_id
             WHERE e.status = 'Requested'
               AND (c.request_id IS NULL OR (c.done_at IS NULL AND c.lease_until < now()))
             ORDER BY e.request_id
             LIMIT 1
             FOR UPDATE OF e SKIP LOCKED
         )
         INSERT INTO relayer_claims (request_id, owner, lease_until, attempts)
         SELECT request_id, $1, now() + make_interval(secs => $2), 1 FROM candidate
         ON CONFLICT (request_id) DO UPDATE
             SET owner = EXCLUDED.owner, lease_until = EXCLUDED.lease_until,
                 attempts = relayer_claims.attempts + 1, updated_at = now()
             WHERE relayer_claims.done_at IS NULL AND relayer_claims.lease_until < now()
         RETURNING request_id::text, attempts",
    )
    .bind(owner)
    .bind(lease.as_secs_f64())
    .fetch_optional(pool)
    .await?;
    let claimed_at = std::time::Instant::now();
    Ok(row.map(|(id, attempt)| Claim { request_id: id.0, attempt, claimed_at }))
}

/// Extends our lease; `false` when the claim is no longer ours (taken over after expiry).
pub async fn renew(pool: &PgPool, claim: Claim, owner: &str, lease: Duration) -> Result<bool, RelayerError> {
    let done = sqlx::query(
        "UPDATE relayer_claims SET lease_until = now() + make_interval(secs => $3), updated_at = now()
         WHERE request_id = $1::numeric AND owner = $2 AND done_at IS NULL",
    )
    .bind(numeric(claim.request_id))
    .bind(owner)
    .bind(lease.as_secs_f64())
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Gives the request back: claimable again after `retry_after` (zero: at once). The attempt is
/// not counted when nothing ran (`uncount`), e.g. on graceful shutdown.
pub async fn release(
    pool: &PgPool,
    claim: Claim,
    owner: &str,
    retry_after: Duration,
    uncount: bool,
) -> Result<(), RelayerError> {
    sqlx::query(
        "UPDATE relayer_claims
         SET owner = NULL, lease_until = now() + make_interval(secs => $3),
             attempts = CASE WHEN $4 THEN greatest(attempts - 1, 0) ELSE attempts END, updated_at = now()
         WHERE request_id = $1::numeric AND owner = $2 AND done_at IS NULL",
    )
    .bind(numeric(claim.request_id))
    .bind(owner)
    .bind(retry_after.as_secs_f64())
    .bind(uncount)
    .execute(pool)
    .await?;
    Ok(())
}

/// Marks the request finished for every relayer.
pub async fn complete(pool: &PgPool, claim: Claim, owner: &str, outcome: &Outcome) -> Result<(), RelayerError> {
    sqlx::query(
        "UPDATE relayer_claims SET owner = NULL, done_at = now(), outcome = $3, updated_at = now()
         WHERE request_id = $1::numeric AND owner = $2 AND done_at IS NULL",
    )
    .bind(numeric(claim.request_id))
    .bind(owner)
    .bind(outcome)
    .execute(pool)
    .await?;
    Ok(())
}

/// Whether `owner` still holds a live lease on the request: a container it created for the
/// request is then still wanted (see `docker::orphans`).
pub async fn holds_lease(pool: &PgPool, request_id: U256, owner: &str) -> Result<bool, RelayerError> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM relayer_claims
                        WHERE request_id = $1::numeric AND owner = $2 AND done_at IS NULL AND lease_until > now())",
    )
    .bind(numeric(request_id))
    .bind(owner)
    .fetch_one(pool)
    .await?)
}

/// Open requests nobody finished: the queue depth the metrics report.
pub async fn queue_depth(pool: &PgPool) -> Result<i64, RelayerError> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM executions e
         WHERE e.status = 'Requested'
           AND NOT EXISTS (SELECT 1 FROM relayer_claims c WHERE c.request_id = e.request_id AND c.done_at IS NOT NULL)",
    )
    .fetch_one(pool)
    .await?)
}

/// An indexed request as the relayer works it: the on-chain commitment `settle` presents back
/// (the bindings' `Execution`, converted from the store's [`ExecutionRow`] once, here), what
/// running it needs, and the agent's declared output schema.
#[derive(Debug, Clone)]
pub struct Request {
    pub request_id: U256,
    pub agent_id: U256,
    /// Requester, developer, token, credit id and deadline, exactly as the request committed to
    /// them (`settle` reverts with `RequestMismatch` on any other value).
    pub execution: Execution,
    pub input_hash: B256,
    /// Unix seconds (block timestamp of the request).
    pub requested_at: u64,
    pub status: ExecutionStatus,
    /// The agent's declared output schema (its resolved metadata), if any.
    pub output_schema: Option<serde_json::Value>,
    /// Where the agent's metadata lives and its `network` section as stored by the indexer
    /// (unchecked text): [`crate::egress::policy`] turns them into the run's egress policy.
    pub metadata: AgentMetadata,
}

/// What the relayer needs of an agent's metadata besides the output schema.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentMetadata {
    pub uri: Option<String>,
    pub network: Option<String>,
}

impl Request {
    /// Unix seconds after which the request can no longer be settled.
    pub fn deadline(&self) -> u64 {
        self.execution.deadline.to()
    }

    /// Reads `row`'s commitment; a value outside its Solidity type (a negative time, a deadline
    /// beyond uint40) is an error, never a default.
    fn from_row(
        row: ExecutionRow,
        output_schema: Option<serde_json::Value>,
        metadata: AgentMetadata,
    ) -> Result<Self, RelayerError> {
        let out_of_range = |column, value| RelayerError::OutOfRange { request_id: row.request_id, column, value };
        let deadline = U40::try_from(row.deadline).map_err(|_| out_of_range("deadline", row.deadline))?;
        let requested_at =
            u64::try_from(row.requested_at).map_err(|_| out_of_range("requested_at", row.requested_at))?;
        Ok(Request {
            request_id: row.request_id,
            agent_id: row.agent_id,
            execution: Execution {
                requester: row.requester,
                developer: row.developer,
                token: row.token,
                creditId: row.credit_id,
                deadline,
            },
            input_hash: row.input_hash,
            requested_at,
            status: row.status,
            output_schema,
            metadata,
        })
    }
}

/// [`ExecutionRow`] plus the agent's output schema, in one round trip.
#[derive(sqlx::FromRow)]
struct ExecutionWithSchema {
    #[sqlx(flatten)]
    row: ExecutionRow,
    output_schema: Option<String>,
    metadata_uri: Option<String>,
    network: Option<String>,
}

/// The request `request_id`, if indexed.
pub async fn request(pool: &PgPool, request_id: U256) -> Result<Option<Request>, RelayerError> {
    // The agent's output schema comes along in the same round trip: a LEFT JOIN, since an agent
    // row always exists for an indexed request but its metadata may not be resolved yet.
    let sql = format!(
        "SELECT {EXECUTION_COLUMNS}, a.output_schema::text AS output_schema,
                a.metadata_uri, a.network::text AS network
         FROM executions e LEFT JOIN agents a ON a.agent_id = e.agent_id
         WHERE e.request_id = $1::numeric"
    );
    let row: Option<ExecutionWithSchema> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(numeric(request_id)).fetch_optional(pool).await?;
    let Some(ExecutionWithSchema { row, output_schema, metadata_uri, network }) = row else {
        return Ok(None);
    };
    let output_schema = output_schema
        .map(|text| serde_json::from_str(&text))
        .transpose()
        .map_err(|source| RelayerError::OutputSchema { agent_id: row.agent_id, source })?;
    Request::from_row(row, output_schema, AgentMetadata { uri: metadata_uri, network }).map(Some)
}

pub async fn blob(pool: &PgPool, hash: B256) -> Result<Option<Vec<u8>>, RelayerError> {
    Ok(sqlx::query_scalar("SELECT bytes FROM blobs WHERE hash = $1").bind(hash.to_vec()).fetch_optional(pool).await?)
}

/// Stores `bytes` under their keccak256 (idempotent) and returns the hash.
pub async fn store_blob(pool: &PgPool, bytes: &[u8]) -> Result<B256, RelayerError> {
    let hash = keccak256(bytes);
    sqlx::query(
        "INSERT INTO blobs (hash, bytes, size, media_type) VALUES ($1, $2, $3, 'application/json')
         ON CONFLICT (hash) DO NOTHING",
    )
    .bind(hash.to_vec())
    .bind(bytes)
    .bind(bytes.len() as i64)
    .execute(pool)
    .await?;
    Ok(hash)
}

/// Appends log lines after the attempt's last one (one INSERT per batch: the graphql trigger
/// NOTIFYs once per statement). Sequence numbers continue the attempt's log instead of being
/// tracked here, so a run retried under the same attempt number (a relayer-side error does not
/// count as an attempt) adds to its log rather than colliding with it. Only the claim's holder
/// writes an attempt's log, so the max-plus-one cannot race.
pub async fn append_logs(
    pool: &PgPool,
    request_id: U256,
    attempt: i32,
    lines: &[(nexus_store::LogStream, String)],
) -> Result<(), RelayerError> {
    if lines.is_empty() {
        return Ok(());
    }
    let streams: Vec<&str> = lines.iter().map(|(s, _)| s.as_str()).collect();
    let texts: Vec<&str> = lines.iter().map(|(_, l)| l.as_str()).collect();
    sqlx::query(
        "INSERT INTO execution_logs (request_id, attempt, seq, stream, line)
         SELECT $1::numeric, $2, base.next + t.n - 1, t.st, t.l
         FROM UNNEST($3::text[], $4::text[]) WITH ORDINALITY AS t(st, l, n),
              (SELECT coalesce(max(seq) + 1, 0) AS next FROM execution_logs
               WHERE request_id = $1::numeric AND attempt = $2) base",
    )
    .bind(numeric(request_id))
    .bind(attempt)
    .bind(&streams)
    .bind(&texts)
    .execute(pool)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::Address;

    fn row(deadline: i64, requested_at: i64) -> ExecutionRow {
        ExecutionRow {
            request_id: U256::from(3),
            agent_id: U256::from(1),
            requester: Address::repeat_byte(1),
            developer: Address::repeat_byte(2),
            token: Address::repeat_byte(3),
            credit_id: U256::from(77),
            unit_price: U256::from(1_000_000),
            input_hash: B256::repeat_byte(4),
            deadline,
            status: ExecutionStatus::Requested,
            success: None,
            output_hash: None,
            payee: None,
            payout: None,
            fee: None,
            requested_block: 10,
            requested_tx: B256::repeat_byte(5),
            requested_at,
            settled_block: None,
            settled_tx: None,
            settled_at: None,
        }
    }

    #[test]
    fn the_row_becomes_the_commitment_settle_takes() {
        let request =
            Request::from_row(row(1_800_000_000, 1_700_000_000), None, AgentMetadata::default()).expect("in range");
        assert_eq!(
            request.execution,
            Execution {
                requester: Address::repeat_byte(1),
                developer: Address::repeat_byte(2),
                token: Address::repeat_byte(3),
                creditId: U256::from(77),
                deadline: U40::from(1_800_000_000u64),
            }
        );
        assert_eq!(request.deadline(), 1_800_000_000);
        assert_eq!(request.requested_at, 1_700_000_000);
    }

    #[test]
    fn values_outside_their_solidity_types_are_errors() {
        for (deadline, requested_at, column) in [(-1, 0, "deadline"), (1 << 40, 0, "deadline"), (5, -1, "requested_at")]
        {
            match Request::from_row(row(deadline, requested_at), None, AgentMetadata::default()) {
                Err(RelayerError::OutOfRange { column: c, .. }) => assert_eq!(c, column),
                other => panic!("({deadline}, {requested_at}) gave {other:?}"),
            }
        }
    }
}
