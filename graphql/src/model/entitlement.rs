//! Execution credits a holder owns: ERC-1155 balances per (agent, unit price).

use async_graphql::{Context, Object};
use nexus_store::codec::{Addr, Uint256};

use super::agent::{Agent, load_agent};
use crate::scalars::{Address, BigInt};

pub const ENTITLEMENT_COLUMNS: &str = "n.holder::bytea AS holder, n.credit_id::text AS credit_id, \
    n.agent_id::text AS agent_id, n.unit_price::text AS unit_price, n.balance::text AS balance";

#[derive(sqlx::FromRow, Debug, Clone)]
pub struct EntitlementRow {
    holder: Addr,
    credit_id: Uint256,
    agent_id: Uint256,
    unit_price: Uint256,
    balance: Uint256,
}

/// Execution credits a holder owns for one (agent, unit price): an ERC-1155 balance.
pub struct Entitlement(pub EntitlementRow);

#[Object]
impl Entitlement {
    async fn holder(&self) -> Address {
        Address::from(self.0.holder)
    }
    async fn credit_id(&self) -> BigInt {
        BigInt::from(self.0.credit_id)
    }
    async fn agent_id(&self) -> BigInt {
        BigInt::from(self.0.agent_id)
    }
    async fn agent(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Agent>> {
        load_agent(ctx, BigInt::from(self.0.agent_id)).await
    }
    async fn unit_price(&self) -> BigInt {
        BigInt::from(self.0.unit_price)
    }
    /// Credits left: executions the holder can still request.
    async fn balance(&self) -> BigInt {
        BigInt::from(self.0.balance)
    }
}
