//! Who pays an operation's gas: an ERC-7677 paymaster web service, NexusPaymaster signed locally
//! with the sponsor key, or the account itself.
//!
//! Why two sponsored forms: a user's client never holds the sponsor key, so it asks a service
//! (the AgentNexus API's `/v1/paymaster`, which applies the sponsorship policy and caps); whoever
//! does hold the key (a dApp backend, the gas measurement, tests of the contracts) can skip the
//! service and sign NexusPaymaster's verifying mode directly. Both produce the same fields.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use alloy::primitives::Address;
use alloy::signers::local::PrivateKeySigner;
use nexus_bundler_client::{PaymasterClient, PaymasterData, UserOperation, paymaster};

use crate::error::AccountError;

/// How long a locally signed sponsorship stays valid: long enough for any bundler to include
/// the operation, short enough that a leaked, unsent operation expires soon.
pub const LOCAL_SPONSOR_WINDOW: Duration = Duration::from_secs(10 * 60);

/// How an operation's gas is paid.
#[derive(Clone)]
pub enum Sponsorship {
    /// An ERC-7677 paymaster web service (`pm_getPaymasterStubData`, then `pm_getPaymasterData`
    /// once gas is estimated). `context` is passed as the methods' fourth parameter.
    Service { client: PaymasterClient, context: serde_json::Value },
    /// NexusPaymaster's sponsored mode, signed here with the sponsorship signer's key.
    LocalSigner { paymaster: Address, signer: PrivateKeySigner, window: Duration },
    /// No paymaster: the account pays from its EntryPoint deposit or ETH balance. Session-key
    /// operations cannot use this (NexusAccount requires them to be sponsored).
    SelfPaid,
}

impl std::fmt::Debug for Sponsorship {
    // Hand-written so the sponsor key can never end up in a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sponsorship::Service { context, .. } => f.debug_struct("Service").field("context", context).finish(),
            Sponsorship::LocalSigner { paymaster, signer, window } => f
                .debug_struct("LocalSigner")
                .field("paymaster", paymaster)
                .field("signer", &signer.address())
                .field("window", window)
                .finish(),
            Sponsorship::SelfPaid => f.write_str("SelfPaid"),
        }
    }
}

impl Sponsorship {
    /// An ERC-7677 service at `url` with an empty context.
    pub fn service(url: alloy::transports::http::reqwest::Url) -> Self {
        Sponsorship::Service { client: PaymasterClient::new(url), context: serde_json::json!({}) }
    }

    /// Local signing for `paymaster` with the sponsorship signer's key, valid for
    /// [`LOCAL_SPONSOR_WINDOW`].
    pub fn local(paymaster: Address, signer: PrivateKeySigner) -> Self {
        Sponsorship::LocalSigner { paymaster, signer, window: LOCAL_SPONSOR_WINDOW }
    }

    pub(crate) fn is_sponsored(&self) -> bool {
        !matches!(self, Sponsorship::SelfPaid)
    }

    /// Sets placeholder paymaster fields for gas estimation. Returns `true` when the service said
    /// its stub is already final (no second round needed).
    pub(crate) async fn stub(
        &self,
        op: &mut UserOperation,
        entry_point: Address,
        chain_id: u64,
    ) -> Result<bool, AccountError> {
        match self {
            Sponsorship::Service { client, context } => {
                let data = client
                    .get_paymaster_stub_data(op, entry_point, chain_id, context.clone())
                    .await
                    .map_err(AccountError::from_paymaster)?;
                op.apply_paymaster(&data);
                Ok(data.is_final == Some(true))
            }
            Sponsorship::LocalSigner { paymaster, .. } => {
                op.paymaster = Some(*paymaster);
                op.paymaster_data = Some(paymaster::sponsored_stub_data());
                Ok(false)
            }
            Sponsorship::SelfPaid => Ok(false),
        }
    }

    /// Sets the final paymaster fields over `op`'s final gas limits and fees.
    pub(crate) async fn finalize(
        &self,
        provider: &impl alloy::providers::Provider,
        op: &mut UserOperation,
        entry_point: Address,
        chain_id: u64,
    ) -> Result<(), AccountError> {
        match self {
            Sponsorship::Service { client, context } => {
                let data: PaymasterData = client
                    .get_paymaster_data(op, entry_point, chain_id, context.clone())
                    .await
                    .map_err(AccountError::from_paymaster)?;
                if let Some(expected) = op.paymaster
                    && expected != data.paymaster
                {
                    return Err(AccountError::UnexpectedPaymaster { expected, got: data.paymaster });
                }
                op.apply_paymaster(&data);
                Ok(())
            }
            Sponsorship::LocalSigner { signer, window, .. } => {
                // The later of the wall clock and the chain's clock (a devnet's time may have been
                // advanced): a window already closed on-chain would surface as AA32.
                let wall = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
                let block = provider.get_block_by_number(Default::default()).await?;
                let now = block.map_or(wall, |b| wall.max(b.header.timestamp));
                paymaster::sponsor(op, signer, chain_id, now + window.as_secs(), 0)?;
                Ok(())
            }
            Sponsorship::SelfPaid => Ok(()),
        }
    }
}
