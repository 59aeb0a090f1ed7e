//! What the marketplace owes an account (pull payments), per token.

use async_graphql::Object;
use nexus_store::codec::{Addr, Uint256};

use crate::scalars::{Address, BigInt};

pub const BALANCE_COLUMNS: &str = "b.token::bytea AS token, b.account::bytea AS account, \
    b.credited::text AS credited, b.withdrawn::text AS withdrawn, (b.credited - b.withdrawn)::text AS withdrawable";

#[derive(sqlx::FromRow, Debug, Clone)]
pub struct BalanceRow {
    token: Addr,
    account: Addr,
    credited: Uint256,
    withdrawn: Uint256,
    withdrawable: Uint256,
}

/// What the marketplace owes an account in one token (pull payments).
pub struct WithdrawableBalance(pub BalanceRow);

#[Object]
impl WithdrawableBalance {
    /// Zero address: ETH.
    async fn token(&self) -> Address {
        Address::from(self.0.token)
    }
    async fn account(&self) -> Address {
        Address::from(self.0.account)
    }
    /// Everything ever credited.
    async fn credited(&self) -> BigInt {
        BigInt::from(self.0.credited)
    }
    /// Everything ever withdrawn.
    async fn withdrawn(&self) -> BigInt {
        BigInt::from(self.0.withdrawn)
    }
    /// What `withdraw(token)` would pay now.
    async fn withdrawable(&self) -> BigInt {
        BigInt::from(self.0.withdrawable)
    }
}
