//! Only NexusAccounts are sponsored: a contract that merely mimics `execute`'s selector could do
//! anything with the sponsored gas. The sender is either deployed in the operation by the
//! NexusAccountFactory, or already deployed with the factory's proxy code pointing at the
//! factory's account implementation, both read from the chain (the factory's immutables once, the
//! sender's code and ERC-1967 slot per request).

use alloy::primitives::{Address, B256, keccak256};
use alloy::providers::Provider;
use nexus_bindings::NexusAccountFactory;
use nexus_bundler_client::UserOperation;

use crate::rpc::{RpcError, codes};
use crate::service::Sponsor;

/// ERC-1967's implementation slot (`keccak256("eip1967.proxy.implementation") - 1`), where the
/// factory's proxies keep the NexusAccount implementation they delegate to.
pub const ERC1967_IMPLEMENTATION_SLOT: B256 =
    alloy::primitives::b256!("360894a13ba1a3210667c828492db98dca3e2076cc3735a920a3ca505d382bbc");

/// A NexusAccount's fingerprint on chain.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FactoryAccount {
    /// The factory's `accountImplementation`: what the proxy's ERC-1967 slot holds.
    implementation: Address,
    /// The factory's `accountCodeHash`: the proxy's runtime code.
    code_hash: B256,
}

impl Sponsor {
    /// The sender is a NexusAccount: created by the NexusAccountFactory in this operation, or a
    /// proxy of the factory's account implementation.
    pub(crate) async fn check_sender(&self, op: &UserOperation) -> Result<(), RpcError> {
        if let Some(factory) = op.factory {
            return if factory == self.config.factory {
                Ok(())
            } else {
                Err(RpcError::refused(format!("factory {factory} is not the NexusAccountFactory")))
            };
        }
        let Some(provider) = &self.provider else {
            return Ok(());
        };
        let node = |e: alloy::transports::TransportError| {
            tracing::warn!(error = %e, "sponsorship: chain node unavailable");
            RpcError::new(codes::INTERNAL, "chain node unavailable; nothing was signed")
        };
        let account = self
            .account
            .get_or_try_init(|| async {
                let factory = NexusAccountFactory::new(self.config.factory, provider);
                let read = |e: alloy::contract::Error| {
                    tracing::warn!(error = %e, "sponsorship: cannot read the factory's account code");
                    RpcError::new(codes::INTERNAL, "chain node unavailable; nothing was signed")
                };
                let implementation = factory.accountImplementation().call().await.map_err(read)?;
                let code_hash = factory.accountCodeHash().call().await.map_err(read)?;
                Ok::<_, RpcError>(FactoryAccount { implementation, code_hash })
            })
            .await?;
        // Both: the code is the factory's proxy (not a contract that copies its storage layout and
        // answers `execute` its own way), and the proxy points at the factory's implementation
        // (not at one its owner upgraded to).
        let (code, slot) = tokio::try_join!(
            provider.get_code_at(op.sender),
            provider.get_storage_at(op.sender, ERC1967_IMPLEMENTATION_SLOT.into())
        )
        .map_err(node)?;
        if keccak256(&code) == account.code_hash && Address::from_word(slot.into()) == account.implementation {
            Ok(())
        } else {
            Err(RpcError::refused(format!("sender {} is not a NexusAccount", op.sender)))
        }
    }
}
