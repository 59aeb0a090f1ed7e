//! What the sponsor is (its key and the contracts it signs for) and how much it may give away:
//! [`SponsorConfig`], built from the deployments file plus the operator's overrides
//! ([`SponsorLimits`], the `[graphql] sponsor_*` keys), with defaults sized for the local stack.
//!
//! The key never leaves this struct in readable form: `Debug` is hand-written to print the
//! signer's address only, because the whole config is logged when the service starts.

use std::time::Duration;

use alloy::primitives::{Address, U256};
use alloy::signers::local::PrivateKeySigner;
use nexus_bindings::Deployments;

/// Operations one account may have sponsored per UTC day by default: a user buying and running
/// agents all day stays far below it; a script draining the paymaster hits it fast.
pub const DEFAULT_DAILY_OPS: u32 = 100;
/// Wei one account may have reserved per UTC day by default (0.05 ETH: hundreds of operations at
/// a few gwei).
pub const DEFAULT_DAILY_WEI: u128 = 50_000_000_000_000_000;
/// Total wei the service may ever reserve by default (5 ETH); raise it as the deposit grows.
pub const DEFAULT_BUDGET_WEI: u128 = 5_000_000_000_000_000_000;
/// Most one operation may cost by default (0.01 ETH: a deploy plus purchase at 10 gwei needs about
/// a tenth of it). A reservation holds the budget until the operation lands or its window closes,
/// so this bounds what one signature can tie up.
pub const DEFAULT_MAX_OP_WEI: u128 = 10_000_000_000_000_000;
/// Requests per second one client address may make to /v1/paymaster by default, after a burst of
/// [`DEFAULT_CLIENT_BURST`]. A wallet makes two per operation (stub, then data).
pub const DEFAULT_CLIENT_RATE: f64 = 1.0;
pub const DEFAULT_CLIENT_BURST: f64 = 60.0;
/// How long a signed sponsorship stays valid: enough for a bundler to include the operation;
/// an operation that was never sent stops being payable soon after.
pub const DEFAULT_VALIDITY: Duration = Duration::from_secs(10 * 60);
/// `paymasterVerificationGasLimit` signed when the operation names none: parsing and one
/// ecrecover need about 10k gas; the bundler's estimate normally replaces this.
pub const DEFAULT_PAYMASTER_VERIFICATION_GAS: u128 = 60_000;

/// The sponsor's identity, policy and caps.
#[derive(Clone)]
pub struct SponsorConfig {
    /// NexusPaymaster's sponsorship signer (`roles.sponsor` in the deployments).
    pub signer: PrivateKeySigner,
    pub chain_id: u64,
    pub entry_point: Address,
    pub paymaster: Address,
    /// The NexusAccountFactory: the only factory a sponsored operation may deploy with.
    pub factory: Address,
    pub marketplace: Address,
    /// Tokens on which `approve(marketplace, …)` is sponsored (the payment tokens).
    pub tokens: Vec<Address>,
    pub daily_ops_per_account: u32,
    pub daily_wei_per_account: U256,
    pub global_budget_wei: U256,
    /// Largest maximum cost (gas limits × `maxFeePerGas`) of one sponsored operation.
    pub max_op_wei: U256,
    /// Per client address: requests per second after `client_burst` (see [`nexus_graphql::rate_limit`]).
    pub client_rate_per_second: f64,
    pub client_burst: f64,
    pub validity: Duration,
    /// ERC-7677 `sponsor.name` shown by wallets.
    pub name: String,
}

impl std::fmt::Debug for SponsorConfig {
    // Hand-written: the signer's key must never reach a log line; its address is enough.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SponsorConfig")
            .field("signer", &self.signer.address())
            .field("chain_id", &self.chain_id)
            .field("entry_point", &self.entry_point)
            .field("paymaster", &self.paymaster)
            .field("factory", &self.factory)
            .field("marketplace", &self.marketplace)
            .field("tokens", &self.tokens)
            .field("daily_ops_per_account", &self.daily_ops_per_account)
            .field("daily_wei_per_account", &self.daily_wei_per_account)
            .field("global_budget_wei", &self.global_budget_wei)
            .field("max_op_wei", &self.max_op_wei)
            .field("client_rate_per_second", &self.client_rate_per_second)
            .field("client_burst", &self.client_burst)
            .field("validity", &self.validity)
            .finish()
    }
}

/// Why a [`SponsorConfig`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SponsorConfigError {
    #[error("the deployments have no {0} (deploy the account contracts first)")]
    MissingContract(&'static str),
    #[error("the sponsor key's address {key} is not the deployments' sponsor {expected}")]
    WrongKey { key: Address, expected: Address },
    /// The message names neither the key nor the parse error's input, only that it is no key.
    #[error("the sponsor key is not a 32-byte hex private key")]
    InvalidKey,
    #[error("invalid sponsorship setting {name}: {value}")]
    InvalidSetting { name: &'static str, value: String },
}

impl SponsorConfig {
    /// A sponsor for these contracts with the default caps and validity and no payment token
    /// (set [`Self::tokens`] to sponsor approvals).
    pub fn new(
        signer: PrivateKeySigner,
        chain_id: u64,
        entry_point: Address,
        paymaster: Address,
        factory: Address,
        marketplace: Address,
    ) -> Self {
        SponsorConfig {
            signer,
            chain_id,
            entry_point,
            paymaster,
            factory,
            marketplace,
            tokens: Vec::new(),
            daily_ops_per_account: DEFAULT_DAILY_OPS,
            daily_wei_per_account: U256::from(DEFAULT_DAILY_WEI),
            global_budget_wei: U256::from(DEFAULT_BUDGET_WEI),
            max_op_wei: U256::from(DEFAULT_MAX_OP_WEI),
            client_rate_per_second: DEFAULT_CLIENT_RATE,
            client_burst: DEFAULT_CLIENT_BURST,
            validity: DEFAULT_VALIDITY,
            name: "AgentNexus".into(),
        }
    }

    /// [`Self::from_deployments`] with the key given as hex text (from the environment or a
    /// configuration file), so callers need not depend on alloy's signer types.
    pub fn from_deployments_and_key(deployments: &Deployments, key: &str) -> Result<Self, SponsorConfigError> {
        let signer: PrivateKeySigner = key.trim().parse().map_err(|_| SponsorConfigError::InvalidKey)?;
        Self::from_deployments(deployments, signer)
    }

    /// Applies the limits a configuration file or the environment overrides (wei as decimal text).
    pub fn with_limits(mut self, limits: &SponsorLimits) -> Result<Self, SponsorConfigError> {
        let wei = |name: &'static str, text: &str| {
            U256::from_str_radix(text.trim(), 10)
                .map_err(|_| SponsorConfigError::InvalidSetting { name, value: text.to_owned() })
        };
        if let Some(ops) = limits.daily_ops {
            self.daily_ops_per_account = ops;
        }
        if let Some(text) = &limits.daily_wei {
            self.daily_wei_per_account = wei("sponsor_daily_wei", text)?;
        }
        if let Some(text) = &limits.budget_wei {
            self.global_budget_wei = wei("sponsor_budget_wei", text)?;
        }
        if let Some(text) = &limits.max_op_wei {
            self.max_op_wei = wei("sponsor_max_op_wei", text)?;
        }
        let positive = |name: &'static str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(v)
            } else {
                Err(SponsorConfigError::InvalidSetting { name, value: v.to_string() })
            }
        };
        if let Some(v) = limits.client_rate_per_second {
            self.client_rate_per_second = positive("sponsor_client_rate_per_second", v)?;
        }
        if let Some(v) = limits.client_burst {
            self.client_burst = positive("sponsor_client_burst", v)?;
        }
        Ok(self)
    }

    /// Addresses from a deployments file, default caps. Fails when the key is not the
    /// deployments' `roles.sponsor` (its signatures would all fail with AA34).
    pub fn from_deployments(deployments: &Deployments, signer: PrivateKeySigner) -> Result<Self, SponsorConfigError> {
        let c = &deployments.contracts;
        if let Some(expected) = deployments.roles.sponsor
            && expected != signer.address()
        {
            return Err(SponsorConfigError::WrongKey { key: signer.address(), expected });
        }
        let mut config = SponsorConfig::new(
            signer,
            deployments.chain_id,
            c.entry_point.ok_or(SponsorConfigError::MissingContract("EntryPoint"))?,
            c.nexus_paymaster.ok_or(SponsorConfigError::MissingContract("NexusPaymaster"))?,
            c.nexus_account_factory.ok_or(SponsorConfigError::MissingContract("NexusAccountFactory"))?,
            c.agent_marketplace,
        );
        config.tokens = vec![c.usdc];
        Ok(config)
    }
}

/// Overrides of [`SponsorConfig`]'s limits, as a configuration file spells them (`None`: keep the
/// default).
#[derive(Debug, Clone, Default)]
pub struct SponsorLimits {
    pub daily_ops: Option<u32>,
    pub daily_wei: Option<String>,
    pub budget_wei: Option<String>,
    pub max_op_wei: Option<String>,
    pub client_rate_per_second: Option<f64>,
    pub client_burst: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_key() {
        let (paymaster, factory) = (Address::repeat_byte(0xee), Address::repeat_byte(0xff));
        let c = SponsorConfig::new(
            PrivateKeySigner::random(),
            31337,
            nexus_bindings::entry_point::ADDRESS,
            paymaster,
            factory,
            Address::repeat_byte(0xaa),
        );
        let key = alloy::primitives::hex::encode(c.signer.to_bytes());
        assert!(!format!("{c:?}").contains(&key));
    }
}
