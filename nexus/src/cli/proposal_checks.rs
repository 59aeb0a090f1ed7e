//! What `nexus apply` refuses, and what it only applies when told twice.
//!
//! Chains:
//! - A **call** runs on the chain the CLI is connected to, so its `chainId` must be that chain's
//!   (the deployments file and the RPC agree on it before anything is signed). A call meant for
//!   another chain is refused, never "sent anyway": the same calldata to the same address means
//!   something else, or nothing, elsewhere.
//! - **Typed data** is not sent to the chain. Two cases, told apart by the domain's
//!   `verifyingContract`:
//!   - a non-zero contract: a contract checks the signature on-chain (ERC-2612 permits, Permit2,
//!     Seaport). The domain must then name a `chainId` and it must be the connected chain:
//!     signing an authorisation for a contract on a chain the user is not looking at is refused.
//!   - none, or the zero address: an off-chain venue checks it (Hyperliquid's L1 actions sign
//!     in a fixed domain, chain 1337, contract zero, whatever chain the wallet uses). The
//!     domain's chain is shown, not compared: comparing would refuse exactly the venues this
//!     feature is for. What identifies the venue is `submitTo`, shown next to the message.
//!
//! Rejected alternative for typed data: always requiring the domain's chain to match, which
//! makes Hyperliquid orders unusable without teaching the CLI each venue's constant.
//!
//! Dangerous typed data ([`danger`]): messages that are well known to let someone else move the
//! signer's assets (token permits, Permit2, Seaport orders, USDC's transfer authorisations,
//! Hyperliquid's user-signed transfers, withdrawals and agent approvals) are refused unless
//! `--allow-permit` is given, and shown with a warning even then. Recognised by the primary
//! type's name, or the name of any type it contains: an unknown wrapper around a `Permit`
//! still counts.
//! A list cannot be complete; it catches the signatures drainers use most, and the rest is
//! what the confirmation view is for.

use alloy::primitives::Address;

/// Why a proposal is refused before anything is signed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refusal {
    #[error(
        "its call is for chain {proposed}, but you are connected to chain {connected} (pick the chain with --rpc-url and --deployments, or leave it out with --index)"
    )]
    CallChain { proposed: u64, connected: u64 },
    #[error(
        "its typed data authorises contract {contract} but its domain names no chainId: a signature valid on every chain is refused"
    )]
    NoDomainChain { contract: Address },
    #[error(
        "its typed data authorises contract {contract} on chain {proposed}, but you are connected to chain {connected}"
    )]
    DomainChain { contract: Address, proposed: u64, connected: u64 },
    #[error("{}: it can let someone else move your assets; pass --allow-permit if you mean it", .0.what)]
    Dangerous(Danger),
}

/// A well-known kind of signature that moves assets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Danger {
    /// The type that matched.
    pub type_name: String,
    /// What signing it allows, in words.
    pub what: &'static str,
}

/// Exact type names, and what a signature over them allows.
const DANGEROUS: &[(&str, &str)] = &[
    ("Permit", "an ERC-20 permit: lets the spender move your tokens without another signature"),
    ("PermitSingle", "a Permit2 allowance: lets the spender move your tokens through Permit2"),
    ("PermitBatch", "a Permit2 allowance: lets the spender move your tokens through Permit2"),
    ("PermitTransferFrom", "a Permit2 transfer: lets the spender take your tokens through Permit2"),
    ("PermitBatchTransferFrom", "a Permit2 transfer: lets the spender take your tokens through Permit2"),
    ("PermitWitnessTransferFrom", "a Permit2 transfer: lets the spender take your tokens through Permit2"),
    ("PermitBatchWitnessTransferFrom", "a Permit2 transfer: lets the spender take your tokens through Permit2"),
    ("OrderComponents", "a Seaport order: lets anyone who fills it take the items it offers"),
    ("BulkOrder", "Seaport orders: let anyone who fills them take the items they offer"),
    ("TransferWithAuthorization", "an EIP-3009 authorisation: moves your tokens (USDC) to the named address"),
    ("ReceiveWithAuthorization", "an EIP-3009 authorisation: moves your tokens (USDC) to the named address"),
];

/// Hyperliquid's user-signed actions (`HyperliquidTransaction:UsdSend`, `:Withdraw`,
/// `:ApproveAgent`, ...): transfers, withdrawals, and trading rights for another key.
const HYPERLIQUID_USER_ACTION: &str = "HyperliquidTransaction:";

/// Whether typed data with this primary type, containing these types, is a known dangerous kind.
pub fn danger<'a>(primary_type: &'a str, contained: impl IntoIterator<Item = &'a str>) -> Option<Danger> {
    std::iter::once(primary_type).chain(contained).find_map(|name| {
        if name.starts_with(HYPERLIQUID_USER_ACTION) {
            return Some(Danger {
                type_name: name.to_string(),
                what: "a Hyperliquid user-signed action: transfers, withdraws, or gives another key trading rights",
            });
        }
        DANGEROUS.iter().find(|(n, _)| *n == name).map(|(n, what)| Danger { type_name: (*n).to_string(), what })
    })
}

/// A call proposal's chain against the connected one.
pub fn check_call_chain(proposed: u64, connected: u64) -> Result<(), Refusal> {
    if proposed == connected { Ok(()) } else { Err(Refusal::CallChain { proposed, connected }) }
}

/// A typed-data domain against the connected chain (see the module documentation).
pub fn check_domain(chain_id: Option<u64>, verifying_contract: Option<Address>, connected: u64) -> Result<(), Refusal> {
    let Some(contract) = verifying_contract.filter(|c| !c.is_zero()) else { return Ok(()) };
    match chain_id {
        None => Err(Refusal::NoDomainChain { contract }),
        Some(proposed) if proposed != connected => Err(Refusal::DomainChain { contract, proposed, connected }),
        Some(_) => Ok(()),
    }
}

/// [`danger`] turned into a refusal unless `allowed` (`--allow-permit`); the danger is returned
/// so the view can warn about it either way.
pub fn check_danger(danger: Option<Danger>, allowed: bool) -> Result<Option<Danger>, Refusal> {
    match danger {
        Some(d) if !allowed => Err(Refusal::Dangerous(d)),
        d => Ok(d),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_asset_moving_signatures_are_dangerous() {
        for name in ["Permit", "PermitSingle", "PermitBatch", "PermitWitnessTransferFrom", "OrderComponents"] {
            assert_eq!(danger(name, []).map(|d| d.type_name), Some(name.to_string()), "{name}");
        }
        assert!(danger("HyperliquidTransaction:UsdSend", []).is_some());
        // A wrapper around a declared Permit struct still counts.
        assert_eq!(danger("Wrapper", ["Wrapper", "Permit"]).map(|d| d.type_name), Some("Permit".into()));
        // Hyperliquid's L1 actions (orders) and ordinary messages are not in the list.
        assert_eq!(danger("Agent", ["Agent"]), None);
        assert_eq!(danger("Mail", ["Mail", "Person"]), None);
        // Exact names: a type that merely contains the word is not matched.
        assert_eq!(danger("PermitLike", []), None);
    }

    #[test]
    fn dangerous_needs_the_flag() {
        let d = danger("Permit", []);
        assert!(matches!(check_danger(d.clone(), false), Err(Refusal::Dangerous(_))));
        assert_eq!(check_danger(d.clone(), true), Ok(d));
        assert_eq!(check_danger(None, false), Ok(None));
    }

    #[test]
    fn calls_run_only_on_the_connected_chain() {
        assert_eq!(check_call_chain(31337, 31337), Ok(()));
        assert_eq!(check_call_chain(1, 31337), Err(Refusal::CallChain { proposed: 1, connected: 31337 }));
    }

    #[test]
    fn on_chain_authorisations_must_name_the_connected_chain() {
        let token = Address::repeat_byte(0x11);
        assert_eq!(check_domain(Some(31337), Some(token), 31337), Ok(()));
        assert_eq!(
            check_domain(Some(1), Some(token), 31337),
            Err(Refusal::DomainChain { contract: token, proposed: 1, connected: 31337 })
        );
        assert_eq!(check_domain(None, Some(token), 31337), Err(Refusal::NoDomainChain { contract: token }));
        // Off-chain venues: Hyperliquid's L1 domain (chain 1337, contract zero) is not compared.
        assert_eq!(check_domain(Some(1337), Some(Address::ZERO), 31337), Ok(()));
        assert_eq!(check_domain(None, None, 31337), Ok(()));
    }
}
