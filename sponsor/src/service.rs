//! The running service and its two answers: `pm_getPaymasterStubData` (policy and caps checked,
//! placeholder fields for gas estimation, nothing reserved) and `pm_getPaymasterData` (checked
//! again, the maximum cost reserved, then the sponsor's signature over the final gas fields).
//!
//! The chain's clock, not the wall clock, opens the signature's window ([`Sponsor`]'s `now`): on
//! a devnet whose time was advanced the wall clock lags, and a window in the chain's past would
//! make every sponsored operation fail validation.

use std::time::{SystemTime, UNIX_EPOCH};

use alloy::primitives::{B256, U256};
use alloy::providers::{DynProvider, Provider};
use nexus_bundler_client::{PaymasterData, UserOperation, paymaster, user_op_hash};
use sqlx::PgPool;

use crate::account::FactoryAccount;
use crate::config::{DEFAULT_PAYMASTER_VERIFICATION_GAS, SponsorConfig};
use crate::policy::{check_call_data, max_cost};
use crate::rpc::{RpcError, codes};

/// What a reservation records of the signature it pays for.
pub(crate) struct Signed {
    pub(crate) paymaster_hash: B256,
    pub(crate) user_op_hash: B256,
    pub(crate) valid_until: u64,
    pub(crate) signed_block: u64,
}

/// The running service: configuration, the database holding the caps, the node for account checks.
pub struct Sponsor {
    pub config: SponsorConfig,
    pub(crate) pool: PgPool,
    pub(crate) provider: Option<DynProvider>,
    /// What the factory's accounts look like, read once (both are immutables of the factory).
    pub(crate) account: tokio::sync::OnceCell<FactoryAccount>,
}

impl Sponsor {
    pub fn new(config: SponsorConfig, pool: PgPool, provider: Option<DynProvider>) -> Self {
        if provider.is_none() {
            tracing::warn!("sponsorship without an RPC URL: senders are not checked to be NexusAccounts");
        }
        Sponsor { config, pool, provider, account: tokio::sync::OnceCell::new() }
    }

    /// The later of the wall clock and the chain's latest block time: the window must be open by
    /// the chain's clock, which runs ahead of the wall clock on a devnet whose time was advanced.
    /// Also returns the head's number (0 without a node): where a reconciliation starts looking.
    pub(crate) async fn now(&self) -> (u64, u64) {
        let wall = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
        let Some(provider) = &self.provider else {
            return (wall, 0);
        };
        match provider.get_block_by_number(Default::default()).await {
            Ok(Some(block)) => (wall.max(block.header.timestamp), block.header.number),
            _ => (wall, 0),
        }
    }

    /// `pm_getPaymasterStubData`: placeholder paymaster fields for estimation, after the policy
    /// and a look at the caps (nothing reserved).
    pub async fn stub_data(&self, op: &UserOperation) -> Result<PaymasterData, RpcError> {
        check_call_data(&self.config, op.sender, &op.call_data, op.factory.is_some())?;
        self.check_sender(op).await?;
        self.reserve(op, U256::ZERO, None).await?;
        Ok(PaymasterData {
            paymaster: self.config.paymaster,
            paymaster_data: paymaster::sponsored_stub_data(),
            paymaster_verification_gas_limit: None,
            paymaster_post_op_gas_limit: None,
            sponsor: Some(nexus_bundler_client::types::Sponsor { name: self.config.name.clone(), icon: None }),
            is_final: Some(false),
        })
    }

    /// `pm_getPaymasterData`: the policy, the caps with this operation's maximum cost reserved,
    /// then the sponsor's signature over the final fields.
    pub async fn data(&self, op: &UserOperation) -> Result<PaymasterData, RpcError> {
        check_call_data(&self.config, op.sender, &op.call_data, op.factory.is_some())?;
        self.check_sender(op).await?;
        let mut op = op.clone();
        op.paymaster = Some(self.config.paymaster);
        let verification = op.paymaster_verification_gas_limit.unwrap_or(DEFAULT_PAYMASTER_VERIFICATION_GAS);
        let post_op = op.paymaster_post_op_gas_limit.unwrap_or(0);
        op.paymaster_verification_gas_limit = Some(verification);
        op.paymaster_post_op_gas_limit = Some(post_op);
        // The gas fields are final here: refuse an oversized operation before the chain round trip.
        let cost = max_cost(&op);
        if cost > self.config.max_op_wei {
            return Err(RpcError::refused(format!(
                "operation may cost {cost} wei, more than the {} wei sponsored per operation",
                self.config.max_op_wei
            )));
        }
        let (now, signed_block) = self.now().await;
        let valid_until = now + self.config.validity.as_secs();
        let paymaster_hash = paymaster::sponsored_hash(&op, self.config.chain_id, valid_until, 0);
        // Signed first (nothing leaves this function unless the reservation commits), so the
        // reservation can record the EntryPoint's userOpHash, which covers the paymaster data.
        paymaster::sponsor(&mut op, &self.config.signer, self.config.chain_id, valid_until, 0).map_err(|e| {
            tracing::error!(error = %e, "sponsor key cannot sign");
            RpcError::new(codes::INTERNAL, "the sponsor cannot sign")
        })?;
        let user_op_hash = user_op_hash(&op.pack(), self.config.entry_point, self.config.chain_id);
        self.reserve(&op, cost, Some(Signed { paymaster_hash, user_op_hash, valid_until, signed_block })).await?;
        tracing::info!(sender = %op.sender, nonce = %op.nonce, max_cost_wei = %cost, valid_until, "sponsored");
        Ok(PaymasterData {
            paymaster: self.config.paymaster,
            paymaster_data: op.paymaster_data.unwrap_or_default(),
            paymaster_verification_gas_limit: Some(verification),
            paymaster_post_op_gas_limit: Some(post_op),
            sponsor: None,
            is_final: None,
        })
    }
}
