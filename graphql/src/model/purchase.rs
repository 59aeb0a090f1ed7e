//! Purchases of execution credits (`Purchased` events).

use async_graphql::{Context, Object};
use nexus_store::codec::{Addr, Hash32, Uint256};

use super::agent::{Agent, load_agent};
use crate::scalars::{Address, BigInt, Bytes32, DateTime};

pub const PURCHASE_COLUMNS: &str = "p.block_number, p.log_index, p.tx_hash::bytea AS tx_hash, \
    extract(epoch FROM p.block_time)::bigint AS block_time, p.buyer::bytea AS buyer, p.agent_id::text AS agent_id, \
    p.credit_id::text AS credit_id, p.token::bytea AS token, p.unit_price::text AS unit_price, \
    p.units::text AS units, p.amount::text AS amount";

#[derive(sqlx::FromRow, Debug, Clone)]
pub struct PurchaseRow {
    block_number: i64,
    log_index: i64,
    tx_hash: Hash32,
    block_time: i64,
    buyer: Addr,
    agent_id: Uint256,
    credit_id: Uint256,
    token: Addr,
    unit_price: Uint256,
    units: Uint256,
    amount: Uint256,
}

/// A purchase of execution credits (one `Purchased` event).
pub struct Purchase(pub PurchaseRow);

#[Object]
impl Purchase {
    /// `<block number>-<log index>`: the event's position on chain.
    async fn id(&self) -> String {
        format!("{}-{}", self.0.block_number, self.0.log_index)
    }
    async fn block_number(&self) -> i64 {
        self.0.block_number
    }
    async fn log_index(&self) -> i64 {
        self.0.log_index
    }
    async fn tx_hash(&self) -> Bytes32 {
        Bytes32::from(self.0.tx_hash)
    }
    async fn time(&self) -> DateTime {
        DateTime::from_secs(self.0.block_time)
    }
    async fn buyer(&self) -> Address {
        Address::from(self.0.buyer)
    }
    async fn agent_id(&self) -> BigInt {
        BigInt::from(self.0.agent_id)
    }
    async fn agent(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Agent>> {
        load_agent(ctx, BigInt::from(self.0.agent_id)).await
    }
    /// The ERC-1155 id of the credits bought (`agentId << 96 | unitPrice`).
    async fn credit_id(&self) -> BigInt {
        BigInt::from(self.0.credit_id)
    }
    async fn token(&self) -> Address {
        Address::from(self.0.token)
    }
    async fn unit_price(&self) -> BigInt {
        BigInt::from(self.0.unit_price)
    }
    async fn units(&self) -> BigInt {
        BigInt::from(self.0.units)
    }
    /// What was paid: unitPrice × units.
    async fn amount(&self) -> BigInt {
        BigInt::from(self.0.amount)
    }
}
