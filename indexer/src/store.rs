//! The database side: the cursor and stored block hashes, writing a batch (projections, cursor,
//! pruning and `NOTIFY`s in one transaction), rolling back to a common ancestor after a reorg,
//! and the projection dump tests and audits compare.
//!
//! Kept apart from the step loop in `lib.rs` so that every statement touching `chain_cursor`,
//! `chain_blocks` and `reorg_journal` is in one place: the crash-safety argument in the crate
//! docs (projections and cursor commit together) can be checked by reading this file alone.

use alloy::primitives::B256;
use alloy::rpc::types::Log;
use nexus_store::codec::Hash32;
use nexus_store::notify::{
    AgentNotification, BalanceNotification, BlockNotification, ExecutionNotification, Notification, ReorgNotification,
};
use sqlx::{PgConnection, PgPool};
use tracing::{Instrument, info, info_span};

use crate::apply::{Batch, Changes};
use crate::rpc::{Header, position_in};
use crate::{Config, Indexer, IndexerError, Progress};

/// Every projection table: what a clean index of the same chain must reproduce exactly
/// (`chain_blocks`, `chain_cursor` and `reorg_journal` depend on how the chain was reached).
pub const PROJECTION_TABLES: &[&str] = &[
    "chain_events",
    "marketplace_config",
    "agents",
    "purchases",
    "credit_cancellations",
    "entitlements",
    "executions",
    "balances",
    "withdrawals",
];

/// Every projection as canonical JSON (rows sorted), table by table: two databases index the
/// same chain identically exactly when their dumps are equal. For tests and audits.
pub async fn projection_dump(pool: &PgPool) -> Result<Vec<(String, String)>, IndexerError> {
    let mut out = Vec::new();
    for table in PROJECTION_TABLES {
        let sql = format!(
            "SELECT coalesce(jsonb_agg(x ORDER BY x::text), '[]')::text FROM (SELECT to_jsonb(t) AS x FROM {table} t) s"
        );
        let rows: String = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(pool).await?;
        out.push((table.to_string(), rows));
    }
    Ok(out)
}

/// The last committed block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cursor {
    pub(crate) number: u64,
    pub(crate) hash: B256,
}

impl Indexer {
    /// Writes one backfill batch in one transaction: `logs` applied with the journal off (final
    /// blocks), the cursor moved to `last`, and the notifications.
    pub(crate) async fn write_backfill(
        &self,
        logs: &[Log],
        last: &Header,
        cursor: Option<Cursor>,
    ) -> Result<Changes, IndexerError> {
        // Block times come from the node: fetch them all before the transaction opens, so no
        // RPC round trip (or its retries) ever holds the cursor row's lock.
        let mut times = self.block_times(logs).await?;
        let mut positions = Vec::with_capacity(logs.len());
        for log in logs {
            positions.push(self.position(log, &mut times).await?);
        }
        let mut tx = self.pool.begin().await?;
        claim_cursor(&mut tx, cursor).await?;
        if cursor.is_none() {
            self.seed_config(&mut tx).await?;
        }
        sqlx::query("SELECT set_config('nexus.journal_block', '', true)").execute(&mut *tx).await?;
        let mut batch = Batch::new();
        for (log, pos) in logs.iter().zip(positions) {
            batch.apply(&mut tx, log, pos).await?;
        }
        let changes = batch.flush(&mut tx).await?;
        self.record_block(&mut tx, last).await?;
        notify(&mut tx, last, &changes).await?;
        tx.commit().await?;
        Ok(changes)
    }

    /// Writes one followed (unfinalized) block `number` in one transaction: `logs` applied with
    /// the journal on, its hash recorded, and the notifications.
    pub(crate) async fn write_block(
        &self,
        number: u64,
        header: &Header,
        logs: &[Log],
        cursor: Option<Cursor>,
    ) -> Result<Changes, IndexerError> {
        let mut tx = self.pool.begin().await?;
        claim_cursor(&mut tx, cursor).await?;
        if cursor.is_none() {
            self.seed_config(&mut tx).await?;
        }
        sqlx::query("SELECT set_config('nexus.journal_block', $1, true)")
            .bind(number.to_string())
            .execute(&mut *tx)
            .await?;
        let mut batch = Batch::new();
        for log in logs {
            let pos = position_in(log, header.timestamp)?;
            batch.apply(&mut tx, log, pos).await?;
        }
        let changes = batch.flush(&mut tx).await?;
        sqlx::query("SELECT set_config('nexus.journal_block', '', true)").execute(&mut *tx).await?;
        self.record_block(&mut tx, header).await?;
        notify(&mut tx, header, &changes).await?;
        tx.commit().await?;
        Ok(changes)
    }

    /// Finds the common ancestor at or below `cursor` and rolls every projection back to it.
    pub(crate) async fn rewind(&mut self, cursor: Cursor) -> Result<Progress, IndexerError> {
        // Checked before the search too: stored hashes missing because the database lost
        // commits must not read as a reorg deeper than the limit (which would stop the indexer).
        still_at(self.load_cursor().await?, Some(cursor))?;
        let limit = self.config.max_reorg_depth;
        let from = cursor.number;
        let mut number = from;
        let ancestor = loop {
            if from - number > limit {
                return Err(IndexerError::ReorgTooDeep { from, limit });
            }
            match self.stored_hash(number).await? {
                Some(stored) => {
                    if self.header(number).await?.map(|h| h.hash) == Some(stored) {
                        break Some(number);
                    }
                }
                None if number < self.config.deployment_block() => break None,
                None => return Err(IndexerError::ReorgTooDeep { from, limit }),
            }
            if number == 0 {
                break None;
            }
            number -= 1;
        };
        let span = info_span!("rollback", from, ancestor = ancestor.map(|a| a as i64).unwrap_or(-1));
        async {
            let to = ancestor.map_or(-1, |a| a as i64);
            let mut tx = self.pool.begin().await?;
            claim_cursor(&mut tx, Some(cursor)).await?;
            let undone: i64 = sqlx::query_scalar("SELECT nexus_rollback($1)").bind(to).fetch_one(&mut *tx).await?;
            sqlx::query("DELETE FROM chain_blocks WHERE block_number > $1").bind(to).execute(&mut *tx).await?;
            match ancestor {
                Some(a) => {
                    let hash: Vec<u8> =
                        sqlx::query_scalar("SELECT block_hash::bytea FROM chain_blocks WHERE block_number = $1")
                            .bind(a as i64)
                            .fetch_one(&mut *tx)
                            .await?;
                    sqlx::query("UPDATE chain_cursor SET block_number = $1, block_hash = $2, updated_at = now()")
                        .bind(a as i64)
                        .bind(hash)
                        .execute(&mut *tx)
                        .await?;
                }
                None => {
                    sqlx::query("DELETE FROM chain_cursor").execute(&mut *tx).await?;
                }
            }
            let reorg = Notification::Reorg(ReorgNotification { ancestor: to, depth: from as i64 - to });
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(reorg.channel().name())
                .bind(reorg.payload().map_err(IndexerError::Notification)?)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            info!(undone, "rolled back");
            Ok(Progress::RolledBack(ancestor.unwrap_or(0)))
        }
        .instrument(span)
        .await
    }
    /// The marketplace's configuration row as the deployment left it, written with the first
    /// batch (in its transaction, so it can never be lost while a cursor exists). The treasury
    /// before any TreasuryUpdated is the constructor's, which the deploy script records; fee and
    /// grace are restated by their events and only informational here.
    async fn seed_config(&self, conn: &mut PgConnection) -> Result<(), IndexerError> {
        sqlx::query(
            "INSERT INTO marketplace_config (treasury, fee_bps, settlement_grace, paused) VALUES ($1, 250, 300, FALSE)
             ON CONFLICT DO NOTHING",
        )
        .bind(self.config.deployments.roles.treasury.0.to_vec())
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    async fn record_block(&self, conn: &mut PgConnection, header: &Header) -> Result<(), IndexerError> {
        let number = header.number as i64;
        sqlx::query(
            "INSERT INTO chain_blocks (block_number, block_hash, parent_hash, block_time)
             VALUES ($1, $2, $3, to_timestamp($4))",
        )
        .bind(number)
        .bind(header.hash.0.to_vec())
        .bind(header.parent_hash.0.to_vec())
        .bind(header.timestamp as i64)
        .execute(&mut *conn)
        .await?;
        sqlx::query(
            "INSERT INTO chain_cursor (chain_id, block_number, block_hash) VALUES ($1, $2, $3)
             ON CONFLICT (singleton) DO UPDATE SET block_number = EXCLUDED.block_number,
                 block_hash = EXCLUDED.block_hash, updated_at = now()",
        )
        .bind(self.config.deployments.chain_id as i64)
        .bind(number)
        .bind(header.hash.0.to_vec())
        .execute(&mut *conn)
        .await?;
        // Older than the reorg limit: final, nothing to undo or compare any more.
        let keep_from = number - self.config.max_reorg_depth as i64;
        sqlx::query("DELETE FROM reorg_journal WHERE block_number < $1").bind(keep_from).execute(&mut *conn).await?;
        sqlx::query("DELETE FROM chain_blocks WHERE block_number < $1").bind(keep_from).execute(&mut *conn).await?;
        Ok(())
    }

    pub(crate) async fn load_cursor(&self) -> Result<Option<Cursor>, IndexerError> {
        read_cursor(&self.pool, "SELECT block_number, block_hash::bytea FROM chain_cursor").await
    }

    pub(crate) async fn stored_hash(&self, number: u64) -> Result<Option<B256>, IndexerError> {
        let hash: Option<Hash32> =
            sqlx::query_scalar("SELECT block_hash::bytea FROM chain_blocks WHERE block_number = $1")
                .bind(number as i64)
                .fetch_optional(&self.pool)
                .await?;
        Ok(hash.map(B256::from))
    }
}

async fn read_cursor<'e>(db: impl sqlx::PgExecutor<'e>, sql: &'static str) -> Result<Option<Cursor>, IndexerError> {
    let row: Option<(i64, Hash32)> = sqlx::query_as(sql).fetch_optional(db).await?;
    Ok(row.map(|(n, Hash32(hash))| Cursor { number: n as u64, hash }))
}

/// Locks the cursor row for the rest of the transaction and checks that it is still `expected`,
/// the cursor the step read before it asked the node for the blocks it is about to write.
///
/// Without this a write is only as good as that earlier read, and the database can move back
/// under a running indexer between the two: a commit acknowledged and then lost in a crash
/// (`synchronous_commit = off`, which test clusters run with), a failover to a replica that had
/// not received it, a restore. The step would then commit block n+1 on top of a database that
/// stops at n-1: the cursor past block n, block n's events never applied, and nothing to notice.
/// Failing with [`IndexerError::CursorMoved`] (retried) makes the next step start from what the
/// database holds. Rejected: re-reading the cursor inside the write transaction and writing from
/// there instead, because the header and logs in hand were fetched (and the parent hash checked)
/// for the position read before; the step has to start over, not be patched up.
async fn claim_cursor(conn: &mut PgConnection, expected: Option<Cursor>) -> Result<(), IndexerError> {
    let found = read_cursor(conn, "SELECT block_number, block_hash::bytea FROM chain_cursor FOR UPDATE").await?;
    still_at(found, expected)
}

fn still_at(found: Option<Cursor>, expected: Option<Cursor>) -> Result<(), IndexerError> {
    if found == expected {
        return Ok(());
    }
    Err(IndexerError::CursorMoved { expected: expected.map(|c| c.number), found: found.map(|c| c.number) })
}

async fn notify(conn: &mut PgConnection, header: &Header, changes: &Changes) -> Result<(), IndexerError> {
    let block = BlockNotification { block: header.number, hash: header.hash, events: changes.events };
    let all = std::iter::once(Notification::Block(block))
        .chain(
            changes.executions.iter().map(|&request_id| Notification::Execution(ExecutionNotification { request_id })),
        )
        .chain(changes.agents.iter().map(|&agent_id| Notification::Agent(AgentNotification { agent_id })))
        .chain(
            changes
                .balances
                .iter()
                .map(|&(token, account)| Notification::Balance(BalanceNotification { token, account })),
        );
    let (mut channels, mut payloads) = (Vec::new(), Vec::new());
    for n in all {
        channels.push(n.channel().name());
        payloads.push(n.payload().map_err(IndexerError::Notification)?);
    }
    // One statement for all of them: a backfill batch can announce tens of thousands of
    // executions, and a round trip each cost seconds.
    sqlx::query("SELECT count(pg_notify(c, p)) FROM UNNEST($1::text[], $2::text[]) AS t(c, p)")
        .bind(channels)
        .bind(payloads)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

impl Config {
    fn deployment_block(&self) -> u64 {
        self.deployments.deployment_block
    }
}

#[cfg(test)]
mod tests;
