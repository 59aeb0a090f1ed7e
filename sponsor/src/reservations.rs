//! The caps, kept in PostgreSQL (`sponsorship_budget`, `sponsorship_reservations`) so they survive
//! restarts and hold across several API servers: one transaction, serialised on the paymaster's
//! budget row, checks the per-account daily caps and the global budget and records the
//! reservation. A reservation is keyed by (sender, nonce), which the signature covers, so a retry
//! of the same operation replaces its reservation instead of counting twice.

use alloy::primitives::U256;
use nexus_bundler_client::UserOperation;
use nexus_store::codec::{Addr, Hash32, Uint256};

use crate::rpc::{RpcError, codes};
use crate::service::{Signed, Sponsor};

impl Sponsor {
    /// Checks the caps for `op` costing `cost` and, when `signed` is given, records the
    /// reservation, all in one transaction serialised on the paymaster's budget row. Without
    /// `signed` the transaction is rolled back (a look only).
    pub(crate) async fn reserve(&self, op: &UserOperation, cost: U256, signed: Option<Signed>) -> Result<(), RpcError> {
        let c = &self.config;
        let chain = c.chain_id as i64;
        let pm = Addr(c.paymaster);
        let sender = Addr(op.sender);
        let nonce = Uint256(op.nonce);
        let mut tx = self.pool.begin().await.map_err(internal)?;
        sqlx::query("INSERT INTO sponsorship_budget (chain_id, paymaster) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(chain)
            .bind(pm)
            .execute(&mut *tx)
            .await
            .map_err(internal)?;
        let Uint256(spent) = sqlx::query_scalar(
            "SELECT spent_wei::text FROM sponsorship_budget WHERE chain_id = $1 AND paymaster = $2 FOR UPDATE",
        )
        .bind(chain)
        .bind(pm)
        .fetch_one(&mut *tx)
        .await
        .map_err(internal)?;
        // The same operation signed before (a retry): its reservation is replaced, not added to.
        let previous: Option<Uint256> = sqlx::query_scalar(
            "SELECT coalesce(actual_cost_wei, max_cost_wei)::text FROM sponsorship_reservations
             WHERE chain_id = $1 AND paymaster = $2 AND sender = $3 AND nonce = $4::numeric",
        )
        .bind(chain)
        .bind(pm)
        .bind(sender)
        .bind(nonce)
        .fetch_optional(&mut *tx)
        .await
        .map_err(internal)?;
        let (today_ops, Uint256(today_wei)): (i64, Uint256) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE included IS DISTINCT FROM false),
                    coalesce(sum(coalesce(actual_cost_wei, max_cost_wei)), 0)::text
             FROM sponsorship_reservations
             WHERE chain_id = $1 AND paymaster = $2 AND sender = $3
               AND day = (now() AT TIME ZONE 'UTC')::date AND nonce <> $4::numeric",
        )
        .bind(chain)
        .bind(pm)
        .bind(sender)
        .bind(nonce)
        .fetch_one(&mut *tx)
        .await
        .map_err(internal)?;
        let previous = previous.map(|p| p.0).unwrap_or_default();

        if today_ops >= i64::from(c.daily_ops_per_account) {
            return Err(RpcError::refused(format!(
                "daily cap of {} operations reached for {}",
                c.daily_ops_per_account, op.sender
            )));
        }
        let today_after = today_wei.saturating_add(cost);
        if today_after > c.daily_wei_per_account || (cost.is_zero() && today_wei >= c.daily_wei_per_account) {
            return Err(RpcError::refused(format!(
                "daily cap of {} wei reached for {} ({} wei reserved today, this operation may cost {} wei)",
                c.daily_wei_per_account, op.sender, today_wei, cost
            )));
        }
        let spent_after = spent.saturating_sub(previous).saturating_add(cost);
        if spent_after > c.global_budget_wei || (cost.is_zero() && spent >= c.global_budget_wei) {
            return Err(RpcError::refused("global sponsorship budget exhausted"));
        }
        let Some(Signed { paymaster_hash, user_op_hash, valid_until, signed_block }) = signed else {
            return Ok(());
        };
        sqlx::query(
            "INSERT INTO sponsorship_reservations
                 (chain_id, paymaster, sender, nonce, day, max_cost_wei, paymaster_hash, user_op_hash, valid_until,
                  signed_block)
             VALUES ($1, $2, $3, $4::numeric, (now() AT TIME ZONE 'UTC')::date, $5::numeric, $6, $7, $8, $9)
             ON CONFLICT (chain_id, paymaster, sender, nonce) DO UPDATE
               SET day = EXCLUDED.day, max_cost_wei = EXCLUDED.max_cost_wei,
                   paymaster_hash = EXCLUDED.paymaster_hash, user_op_hash = EXCLUDED.user_op_hash,
                   valid_until = EXCLUDED.valid_until, signed_block = EXCLUDED.signed_block,
                   actual_cost_wei = NULL, included = NULL, reserved_at = now()",
        )
        .bind(chain)
        .bind(pm)
        .bind(sender)
        .bind(nonce)
        .bind(Uint256(cost))
        .bind(Hash32(paymaster_hash))
        .bind(Hash32(user_op_hash))
        .bind(i64::try_from(valid_until).unwrap_or(i64::MAX))
        .bind(i64::try_from(signed_block).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await
        .map_err(internal)?;
        sqlx::query("UPDATE sponsorship_budget SET spent_wei = $3::numeric WHERE chain_id = $1 AND paymaster = $2")
            .bind(chain)
            .bind(pm)
            .bind(Uint256(spent_after))
            .execute(&mut *tx)
            .await
            .map_err(internal)?;
        tx.commit().await.map_err(internal)?;
        Ok(())
    }
}

fn internal(e: sqlx::Error) -> RpcError {
    tracing::error!(error = %e, "sponsorship database error");
    RpcError::new(codes::INTERNAL, "sponsorship database unavailable; nothing was signed")
}
