//! Reconciliation: a reservation holds an operation's maximum cost; once the operation lands, the
//! EntryPoint's `UserOperationEvent` says what it really cost, and an operation never sent stops
//! being payable when its window closes. Every server runs [`spawn`] (a round every
//! [`RECONCILE_INTERVAL`]); settlements are conditional updates, so several can run at once.

use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEvent;
use nexus_bindings::IEntryPoint;
use nexus_store::codec::{Addr, Hash32, Uint256};

use crate::metrics::SponsorMetrics;
use crate::service::Sponsor;

/// Why [`Sponsor::reconcile`] failed (it is retried on the next round).
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("sponsorship database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("chain node: {0}")]
    Node(#[from] alloy::transports::TransportError),
}

/// A pending reservation: sender, nonce, userOpHash, window end, block at signing.
type PendingRow = (Addr, Uint256, Hash32, i64, i64);

/// Reservations looked at per reconciliation round.
const RECONCILE_BATCH: i64 = 200;
/// How often each server reconciles: well inside the validity window, so pending reservations do
/// not hold the caps at their maximum for long after the operation landed.
pub const RECONCILE_INTERVAL: Duration = Duration::from_secs(15);

impl Sponsor {
    /// Settles pending reservations against the chain: an operation whose `UserOperationEvent`
    /// is found is charged its `actualGasCost` instead of its maximum; one whose window closed
    /// without an event was never included and is released (cost 0, and it no longer counts as
    /// one of the day's operations). Returns how many reservations it settled. Safe to run from
    /// several servers at once: each settlement is conditional on the row still being pending for
    /// the same userOpHash. Without a node there is nothing to read, and nothing is settled.
    pub async fn reconcile(&self) -> Result<usize, ReconcileError> {
        let Some(provider) = &self.provider else {
            return Ok(0);
        };
        // The time first, then the logs: an inclusion before the window closed is then in a block
        // the log query sees.
        let (now, _) = self.now().await;
        let pending: Vec<PendingRow> = sqlx::query_as(
            "SELECT sender, nonce::text, user_op_hash, valid_until, signed_block FROM sponsorship_reservations
             WHERE chain_id = $1 AND paymaster = $2 AND included IS NULL ORDER BY signed_block LIMIT $3",
        )
        .bind(self.config.chain_id as i64)
        .bind(Addr(self.config.paymaster))
        .bind(RECONCILE_BATCH)
        .fetch_all(&self.pool)
        .await?;
        let mut settled = 0;
        for (Addr(sender), Uint256(nonce), Hash32(hash), valid_until, from_block) in pending {
            let filter = Filter::new()
                .address(self.config.entry_point)
                .event_signature(IEntryPoint::UserOperationEvent::SIGNATURE_HASH)
                .topic1(hash)
                .from_block(u64::try_from(from_block).unwrap_or_default());
            let event = provider
                .get_logs(&filter)
                .await?
                .iter()
                .find_map(|log| log.log_decode::<IEntryPoint::UserOperationEvent>().ok())
                .map(|log| log.inner.data.actualGasCost);
            let outcome = match event {
                Some(cost) => (true, cost),
                None if u64::try_from(valid_until).unwrap_or(u64::MAX) < now => (false, U256::ZERO),
                None => continue,
            };
            if self.settle(sender, nonce, hash, outcome).await? {
                settled += 1;
            }
        }
        Ok(settled)
    }

    /// Records one reservation's outcome and gives the budget back the difference to its maximum.
    async fn settle(
        &self,
        sender: Address,
        nonce: U256,
        user_op_hash: B256,
        (included, cost): (bool, U256),
    ) -> Result<bool, sqlx::Error> {
        let (chain, pm) = (self.config.chain_id as i64, Addr(self.config.paymaster));
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT 1 FROM sponsorship_budget WHERE chain_id = $1 AND paymaster = $2 FOR UPDATE")
            .bind(chain)
            .bind(pm)
            .execute(&mut *tx)
            .await?;
        let max: Option<Uint256> = sqlx::query_scalar(
            "UPDATE sponsorship_reservations SET actual_cost_wei = $6::numeric, included = $7
             WHERE chain_id = $1 AND paymaster = $2 AND sender = $3 AND nonce = $4::numeric
               AND user_op_hash = $5 AND included IS NULL
             RETURNING max_cost_wei::text",
        )
        .bind(chain)
        .bind(pm)
        .bind(Addr(sender))
        .bind(Uint256(nonce))
        .bind(Hash32(user_op_hash))
        .bind(Uint256(cost))
        .bind(included)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(max) = max else {
            // Settled by another server, or re-signed meanwhile: nothing to do.
            return Ok(false);
        };
        sqlx::query(
            "UPDATE sponsorship_budget SET spent_wei = greatest(spent_wei - $3::numeric + $4::numeric, 0)
             WHERE chain_id = $1 AND paymaster = $2",
        )
        .bind(chain)
        .bind(pm)
        .bind(max)
        .bind(Uint256(cost))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::debug!(user_op_hash = %user_op_hash, included, cost_wei = %cost, "sponsorship reconciled");
        Ok(true)
    }
}

/// Reconciles every [`RECONCILE_INTERVAL`] for as long as the process runs; a round that fails is
/// counted, logged and retried on the next tick. Only with a node: without one there is nothing to
/// read (see [`Sponsor::reconcile`]).
pub fn spawn(sponsor: Arc<Sponsor>, metrics: Arc<SponsorMetrics>) {
    if sponsor.provider.is_none() {
        return;
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(RECONCILE_INTERVAL);
        loop {
            tick.tick().await;
            if let Err(e) = sponsor.reconcile().await {
                metrics.reconcile_error();
                tracing::warn!(error = %e, "sponsorship reconciliation failed");
            }
        }
    });
}
