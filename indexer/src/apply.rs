//! One log → its projection writes. Every function here runs inside the caller's transaction,
//! in chain order; none reads the node.

use std::collections::BTreeSet;

use alloy::primitives::{Address, B256, U256};
use alloy::rpc::types::Log;
use alloy::sol_types::SolEvent;
use nexus_bindings::agent::{Category, Status};
use nexus_bindings::credit_id;
use nexus_bindings::marketplace::AgentMarketplace as M;
use nexus_bindings::registry::AgentRegistry as R;
use sqlx::{PgConnection, Postgres};

use crate::IndexerError;
use crate::metadata::{self, Resolved};

/// Where a log sits and when its block was made.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Position {
    pub block_number: u64,
    pub block_time: u64,
    pub log_index: u64,
    pub tx_index: u64,
    pub tx_hash: B256,
    pub block_hash: B256,
}

/// What a commit changed, for the NOTIFY payloads.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    pub agents: BTreeSet<U256>,
    pub executions: BTreeSet<U256>,
    pub balances: BTreeSet<(Address, Address)>,
    pub entitlements: BTreeSet<(Address, U256)>,
    pub events: u64,
}

type Query<'q> = sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>;

fn q(sql: &'static str) -> Query<'static> {
    sqlx::query(sql)
}

fn num(v: impl ToString) -> String {
    v.to_string()
}

fn bytes<T: AsRef<[u8]>>(v: T) -> Vec<u8> {
    v.as_ref().to_vec()
}

/// Seconds fit i64 for any block or uint40 timestamp.
fn secs(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn decode<E: SolEvent>(log: &Log) -> Result<E, IndexerError> {
    E::decode_log_data(log.data()).map_err(|source| IndexerError::Decode { event: E::SIGNATURE, source })
}

/// Applies one log of the registry or the marketplace.
pub(crate) async fn apply_log(
    conn: &mut PgConnection,
    log: &Log,
    pos: Position,
    changes: &mut Changes,
) -> Result<(), IndexerError> {
    changes.events += 1;
    q("INSERT INTO chain_events (block_number, log_index, tx_index, tx_hash, block_hash, address, topics, data)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
    .bind(int(pos.block_number))
    .bind(int(pos.log_index))
    .bind(int(pos.tx_index))
    .bind(bytes(pos.tx_hash))
    .bind(bytes(pos.block_hash))
    .bind(bytes(log.address()))
    .bind(log.topics().iter().map(bytes).collect::<Vec<_>>())
    .bind(log.data().data.to_vec())
    .execute(&mut *conn)
    .await?;

    let Some(&topic0) = log.topic0() else { return Ok(()) };
    match topic0 {
        R::AgentRegistered::SIGNATURE_HASH => {
            let e: R::AgentRegistered = decode(log)?;
            let category = Category::try_from(e.category).map_err(IndexerError::Enum)?;
            let status = Status::try_from(e.status).map_err(IndexerError::Enum)?;
            let meta = metadata::resolve_inline(&e.metadataURI);
            q("INSERT INTO agents (agent_id, developer, payment_token, price, max_duration, category, status,
                   image_digest, metadata_uri, registered_block, registered_tx, registered_at, updated_block, updated_at)
               VALUES ($1::numeric, $2, $3, $4::numeric, $5, $6, $7, $8, $9, $10, $11, to_timestamp($12), $10,
                   to_timestamp($12))")
            .bind(num(e.agentId))
            .bind(bytes(e.developer))
            .bind(bytes(e.paymentToken))
            .bind(num(e.price))
            .bind(i64::from(e.maxDuration))
            .bind(category.as_str())
            .bind(status.as_str())
            .bind(bytes(e.imageDigest))
            .bind(e.metadataURI.replace('\0', ""))
            .bind(int(pos.block_number))
            .bind(bytes(pos.tx_hash))
            .bind(secs(pos.block_time))
            .execute(&mut *conn)
            .await?;
            write_metadata(conn, e.agentId, &meta).await?;
            changes.agents.insert(e.agentId);
        }
        R::AgentUpdated::SIGNATURE_HASH => {
            let e: R::AgentUpdated = decode(log)?;
            let meta = metadata::resolve_inline(&e.metadataURI);
            q("UPDATE agents SET price = $2::numeric, max_duration = $3, image_digest = $4, metadata_uri = $5,
                   updated_block = $6, updated_at = to_timestamp($7)
               WHERE agent_id = $1::numeric")
            .bind(num(e.agentId))
            .bind(num(e.price))
            .bind(i64::from(e.maxDuration))
            .bind(bytes(e.imageDigest))
            .bind(e.metadataURI.replace('\0', ""))
            .bind(int(pos.block_number))
            .bind(secs(pos.block_time))
            .execute(&mut *conn)
            .await?;
            write_metadata(conn, e.agentId, &meta).await?;
            changes.agents.insert(e.agentId);
        }
        R::AgentStatusChanged::SIGNATURE_HASH => {
            let e: R::AgentStatusChanged = decode(log)?;
            let status = Status::try_from(e.status).map_err(IndexerError::Enum)?;
            q("UPDATE agents SET status = $2, updated_block = $3, updated_at = to_timestamp($4)
               WHERE agent_id = $1::numeric")
            .bind(num(e.agentId))
            .bind(status.as_str())
            .bind(int(pos.block_number))
            .bind(secs(pos.block_time))
            .execute(&mut *conn)
            .await?;
            changes.agents.insert(e.agentId);
        }
        M::Purchased::SIGNATURE_HASH => {
            let e: M::Purchased = decode(log)?;
            let amount = U256::from(e.unitPrice) * e.units;
            q("INSERT INTO purchases (block_number, log_index, tx_hash, block_time, buyer, agent_id, credit_id, token,
                   unit_price, units, amount)
               VALUES ($1, $2, $3, to_timestamp($4), $5, $6::numeric, $7::numeric, $8, $9::numeric, $10::numeric,
                   $11::numeric)")
            .bind(int(pos.block_number))
            .bind(int(pos.log_index))
            .bind(bytes(pos.tx_hash))
            .bind(secs(pos.block_time))
            .bind(bytes(e.buyer))
            .bind(num(e.agentId))
            .bind(num(e.creditId))
            .bind(bytes(e.token))
            .bind(num(e.unitPrice))
            .bind(num(e.units))
            .bind(num(amount))
            .execute(&mut *conn)
            .await?;
        }
        M::TransferSingle::SIGNATURE_HASH => {
            let e: M::TransferSingle = decode(log)?;
            transfer(conn, e.from, e.to, e.id, e.value, changes).await?;
        }
        M::TransferBatch::SIGNATURE_HASH => {
            let e: M::TransferBatch = decode(log)?;
            for (id, value) in e.ids.iter().zip(e.values.iter()) {
                transfer(conn, e.from, e.to, *id, *value, changes).await?;
            }
        }
        M::ExecutionRequested::SIGNATURE_HASH => {
            let e: M::ExecutionRequested = decode(log)?;
            q("INSERT INTO executions (request_id, agent_id, requester, developer, token, credit_id, unit_price,
                   input_hash, deadline, status, requested_block, requested_tx, requested_at)
               VALUES ($1::numeric, $2::numeric, $3, $4, $5, $6::numeric, $7::numeric, $8, to_timestamp($9),
                   'Requested', $10, $11, to_timestamp($12))")
            .bind(num(e.requestId))
            .bind(num(e.agentId))
            .bind(bytes(e.requester))
            .bind(bytes(e.developer))
            .bind(bytes(e.token))
            .bind(num(e.creditId))
            .bind(num(e.unitPrice))
            .bind(bytes(e.inputHash))
            .bind(secs(e.deadline.to::<u64>()))
            .bind(int(pos.block_number))
            .bind(bytes(pos.tx_hash))
            .bind(secs(pos.block_time))
            .execute(&mut *conn)
            .await?;
            changes.executions.insert(e.requestId);
        }
        M::ExecutionSettled::SIGNATURE_HASH => {
            let e: M::ExecutionSettled = decode(log)?;
            let status = if e.success { "Succeeded" } else { "Failed" };
            close_execution(
                conn,
                e.requestId,
                status,
                Some(e.success),
                Some(e.outputHash),
                e.payee,
                e.amount,
                e.fee,
                pos,
            )
            .await?;
            credit(conn, e.token, e.payee, e.amount, changes).await?;
            if !e.fee.is_zero() {
                let treasury: Vec<u8> =
                    sqlx::query_scalar("SELECT treasury::bytea FROM marketplace_config").fetch_one(&mut *conn).await?;
                credit(conn, e.token, Address::from_slice(&treasury), e.fee, changes).await?;
            }
            changes.executions.insert(e.requestId);
        }
        M::ExecutionReclaimed::SIGNATURE_HASH => {
            let e: M::ExecutionReclaimed = decode(log)?;
            close_execution(conn, e.requestId, "Reclaimed", None, None, e.requester, e.amount, U256::ZERO, pos).await?;
            credit(conn, e.token, e.requester, e.amount, changes).await?;
            changes.executions.insert(e.requestId);
        }
        M::CreditsCancelled::SIGNATURE_HASH => {
            let e: M::CreditsCancelled = decode(log)?;
            q("INSERT INTO credit_cancellations (block_number, log_index, tx_hash, block_time, holder, agent_id,
                   credit_id, units, amount)
               VALUES ($1, $2, $3, to_timestamp($4), $5, $6::numeric, $7::numeric, $8::numeric, $9::numeric)")
            .bind(int(pos.block_number))
            .bind(int(pos.log_index))
            .bind(bytes(pos.tx_hash))
            .bind(secs(pos.block_time))
            .bind(bytes(e.holder))
            .bind(num(e.agentId))
            .bind(num(e.creditId))
            .bind(num(e.units))
            .bind(num(e.amount))
            .execute(&mut *conn)
            .await?;
            // The credits' token is the agent's (immutable) payment token.
            let token: Vec<u8> =
                sqlx::query_scalar("SELECT payment_token::bytea FROM agents WHERE agent_id = $1::numeric")
                    .bind(num(e.agentId))
                    .fetch_one(&mut *conn)
                    .await?;
            credit(conn, Address::from_slice(&token), e.holder, e.amount, changes).await?;
        }
        M::Withdrawn::SIGNATURE_HASH => {
            let e: M::Withdrawn = decode(log)?;
            q("INSERT INTO withdrawals (block_number, log_index, tx_hash, block_time, account, token, recipient, amount)
               VALUES ($1, $2, $3, to_timestamp($4), $5, $6, $7, $8::numeric)")
            .bind(int(pos.block_number))
            .bind(int(pos.log_index))
            .bind(bytes(pos.tx_hash))
            .bind(secs(pos.block_time))
            .bind(bytes(e.account))
            .bind(bytes(e.token))
            .bind(bytes(e.to))
            .bind(num(e.amount))
            .execute(&mut *conn)
            .await?;
            let updated =
                q("UPDATE balances SET withdrawn = withdrawn + $3::numeric WHERE token = $1 AND account = $2")
                    .bind(bytes(e.token))
                    .bind(bytes(e.account))
                    .bind(num(e.amount))
                    .execute(&mut *conn)
                    .await?;
            if updated.rows_affected() != 1 {
                return Err(IndexerError::Inconsistent(format!(
                    "withdrawal by {} of {} with no balance",
                    e.account, e.token
                )));
            }
            changes.balances.insert((e.token, e.account));
        }
        M::FeeUpdated::SIGNATURE_HASH => {
            let e: M::FeeUpdated = decode(log)?;
            q("UPDATE marketplace_config SET fee_bps = $1").bind(i32::from(e.feeBps)).execute(&mut *conn).await?;
        }
        M::TreasuryUpdated::SIGNATURE_HASH => {
            let e: M::TreasuryUpdated = decode(log)?;
            q("UPDATE marketplace_config SET treasury = $1").bind(bytes(e.treasury)).execute(&mut *conn).await?;
        }
        M::SettlementGraceUpdated::SIGNATURE_HASH => {
            let e: M::SettlementGraceUpdated = decode(log)?;
            q("UPDATE marketplace_config SET settlement_grace = $1")
                .bind(i64::from(e.grace))
                .execute(&mut *conn)
                .await?;
        }
        M::Paused::SIGNATURE_HASH => {
            q("UPDATE marketplace_config SET paused = TRUE").execute(&mut *conn).await?;
        }
        M::Unpaused::SIGNATURE_HASH => {
            q("UPDATE marketplace_config SET paused = FALSE").execute(&mut *conn).await?;
        }
        // Access-control and other events: kept in chain_events only.
        _ => {}
    }
    Ok(())
}

async fn write_metadata(conn: &mut PgConnection, agent_id: U256, m: &Resolved) -> Result<(), IndexerError> {
    q("UPDATE agents SET name = $2, description = $3, tags = $4, input_schema = $5::jsonb, output_schema = $6::jsonb,
           metadata_status = $7, metadata_error = $8, metadata_attempts = 0,
           metadata_next_attempt_at = CASE WHEN $7 = 'pending' THEN updated_at END,
           search = setweight(to_tsvector('simple', coalesce($2, '')), 'A')
                 || setweight(to_tsvector('simple', coalesce($3, '')), 'B')
                 || setweight(to_tsvector('simple', array_to_string($4, ' ')), 'C')
       WHERE agent_id = $1::numeric")
    .bind(num(agent_id))
    .bind(m.name.clone())
    .bind(m.description.clone())
    .bind(m.tags.clone())
    .bind(m.input_schema.clone())
    .bind(m.output_schema.clone())
    .bind(m.status)
    .bind(m.error.clone())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn close_execution(
    conn: &mut PgConnection,
    request_id: U256,
    status: &'static str,
    success: Option<bool>,
    output_hash: Option<B256>,
    payee: Address,
    payout: U256,
    fee: U256,
    pos: Position,
) -> Result<(), IndexerError> {
    let updated = q("UPDATE executions SET status = $2, success = $3, output_hash = $4, payee = $5,
               payout = $6::numeric, fee = $7::numeric, settled_block = $8, settled_tx = $9,
               settled_at = to_timestamp($10)
           WHERE request_id = $1::numeric AND status = 'Requested'")
    .bind(num(request_id))
    .bind(status)
    .bind(success)
    .bind(output_hash.map(bytes))
    .bind(bytes(payee))
    .bind(num(payout))
    .bind(num(fee))
    .bind(int(pos.block_number))
    .bind(bytes(pos.tx_hash))
    .bind(secs(pos.block_time))
    .execute(&mut *conn)
    .await?;
    if updated.rows_affected() != 1 {
        return Err(IndexerError::Inconsistent(format!("request {request_id} closed but not open")));
    }
    Ok(())
}

async fn credit(
    conn: &mut PgConnection,
    token: Address,
    account: Address,
    amount: U256,
    changes: &mut Changes,
) -> Result<(), IndexerError> {
    q("INSERT INTO balances (token, account, credited, withdrawn) VALUES ($1, $2, $3::numeric, 0)
       ON CONFLICT (token, account) DO UPDATE SET credited = balances.credited + EXCLUDED.credited")
    .bind(bytes(token))
    .bind(bytes(account))
    .bind(num(amount))
    .execute(&mut *conn)
    .await?;
    changes.balances.insert((token, account));
    Ok(())
}

/// An ERC-1155 movement of credits: mint (from zero), burn (to zero) or transfer.
async fn transfer(
    conn: &mut PgConnection,
    from: Address,
    to: Address,
    id: U256,
    value: U256,
    changes: &mut Changes,
) -> Result<(), IndexerError> {
    let (agent_id, unit_price) = credit_id::decode(id);
    if !from.is_zero() {
        let updated = q("UPDATE entitlements SET balance = balance - $3::numeric
               WHERE holder = $1 AND credit_id = $2::numeric AND balance >= $3::numeric")
        .bind(bytes(from))
        .bind(num(id))
        .bind(num(value))
        .execute(&mut *conn)
        .await?;
        if updated.rows_affected() != 1 {
            return Err(IndexerError::Inconsistent(format!("{from} spent {value} of credit {id} it does not hold")));
        }
        changes.entitlements.insert((from, id));
    }
    if !to.is_zero() {
        q("INSERT INTO entitlements (holder, credit_id, agent_id, unit_price, balance)
           VALUES ($1, $2::numeric, $3::numeric, $4::numeric, $5::numeric)
           ON CONFLICT (holder, credit_id) DO UPDATE SET balance = entitlements.balance + EXCLUDED.balance")
        .bind(bytes(to))
        .bind(num(id))
        .bind(num(agent_id))
        .bind(num(unit_price))
        .bind(num(value))
        .execute(&mut *conn)
        .await?;
        changes.entitlements.insert((to, id));
    }
    Ok(())
}
