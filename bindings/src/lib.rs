//! Typed Rust bindings for the AgentNexus contracts, and the deployments file that says where
//! they live.
//!
//! # Why the ABIs are committed JSON
//!
//! The contracts' ABIs in `abi/` are copied verbatim from Foundry's compiled artifacts
//! (`out/<Name>.sol/<Name>.json`, field `abi`) and fed to alloy's `sol!` macro, so every Rust type
//! here comes from the compiler, never from a hand-written ABI. Committing the JSON (as
//! `forge bind` commits its generated crate) keeps `cargo build` independent of Node and solc:
//! a fresh clone builds without compiling Solidity. The `abi_is_fresh` test compares the
//! committed copies with the artifacts of the current sources and fails when they drift;
//! `UPDATE_BINDINGS=1 cargo test -p nexus-bindings --test abi_is_fresh` (or `make bindings`)
//! refreshes them.

pub mod deployments;

pub use deployments::{ContractAddresses, Deployments, DeploymentsError, RoleHolders};

/// The contracts whose ABIs this crate carries, as named by their Solidity source file.
/// `IEntryPoint` is the interface of EntryPoint v0.8 (`@account-abstraction/contracts`), compiled
/// from the npm package's source like our own contracts.
pub const CONTRACTS: &[&str] = &[
    "AgentRegistry",
    "AgentMarketplace",
    "TestUSDC",
    "NexusAccount",
    "NexusAccountFactory",
    "NexusPaymaster",
    "IEntryPoint",
];

/// `AgentRegistry`: the curated agent catalog.
// Generated event constructors take one argument per event field.
#[allow(clippy::too_many_arguments)]
pub mod registry {
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug, PartialEq, Eq)]
        AgentRegistry,
        "abi/AgentRegistry.json"
    );
}

/// `AgentMarketplace`: escrow and the ERC-1155 execution credits.
#[allow(clippy::too_many_arguments)]
pub mod marketplace {
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug, PartialEq, Eq)]
        AgentMarketplace,
        "abi/AgentMarketplace.json"
    );

    impl AgentMarketplace::ExecutionRequested {
        /// The `Execution` this request committed to, as `settle` and `reclaim` take it back.
        pub fn execution(&self) -> IAgentMarketplace::Execution {
            IAgentMarketplace::Execution {
                requester: self.requester,
                developer: self.developer,
                token: self.token,
                creditId: self.creditId,
                deadline: self.deadline,
            }
        }
    }
}

/// `TestUSDC`: the 6-decimal ERC-20 the local chain uses for USDC (its ABI is plain ERC-20 plus
/// an open `mint`, so it also serves for real USDC's ERC-20 calls).
pub mod usdc {
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug, PartialEq, Eq)]
        TestUSDC,
        "abi/TestUSDC.json"
    );
}

/// `NexusAccount`: the ERC-4337 smart account (one ECDSA owner, scoped session keys, ERC-1271).
///
/// `userOp.signature` is `0x00 ‖ ownerSignature(65)` for the owner, or
/// `0x01 ‖ sessionKey(20) ‖ keySignature(65)` for a session key; both sign the EntryPoint's
/// userOpHash as is. A session-key operation must be a paymaster-sponsored `execute(target, 0,
/// data)` of a (target, selector) the grant permits (see contracts/account/INexusAccount.sol).
#[allow(clippy::too_many_arguments)]
pub mod account {
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug, PartialEq, Eq)]
        NexusAccount,
        "abi/NexusAccount.json"
    );

    /// Signature mode byte of an owner-signed user operation.
    pub const MODE_OWNER: u8 = 0x00;
    /// Signature mode byte of a session-key-signed user operation.
    pub const MODE_SESSION_KEY: u8 = 0x01;
}

/// `NexusAccountFactory`: CREATE2 deployment of accounts; `getAddress(owner, salt)` is the
/// counterfactual address, `createAccount(owner, salt)` the initCode call (only the EntryPoint's
/// SenderCreator may make it: accounts are deployed by their first user operation).
pub mod account_factory {
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug, PartialEq, Eq)]
        NexusAccountFactory,
        "abi/NexusAccountFactory.json"
    );
}

/// `NexusPaymaster`: the verifying paymaster. `paymasterAndData` is
/// `paymaster(20) ‖ verificationGasLimit(16) ‖ postOpGasLimit(16) ‖ mode(1) ‖ validUntil(6)
/// ‖ validAfter(6) [‖ token(20) ‖ exchangeRate(32) in ERC-20 mode] ‖ signature(65)`; the sponsor
/// signs `getHash(userOp, validUntil, validAfter)` (sponsored) or `getTokenHash(userOp,
/// validUntil, validAfter, token, exchangeRate)` (ERC-20 mode, rate = token units per 1e18 wei)
/// with an EIP-191 prefix (`personal_sign` of the 32 bytes).
pub mod paymaster {
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug, PartialEq, Eq)]
        NexusPaymaster,
        "abi/NexusPaymaster.json"
    );

    /// Mode byte: the paymaster's deposit pays, the account pays nothing.
    pub const MODE_SPONSORED: u8 = 0x00;
    /// Mode byte: the account prepays the maximum gas cost in an ERC-20 token during validation,
    /// the paymaster pays the gas, and `postOp` refunds what was not used.
    pub const MODE_ERC20: u8 = 0x01;
    /// Length of a sponsored operation's `paymasterAndData`.
    pub const PAYMASTER_AND_DATA_LENGTH: usize = 130;
    /// Length of an ERC-20-mode operation's `paymasterAndData`.
    pub const ERC20_PAYMASTER_AND_DATA_LENGTH: usize = 182;
}

/// `IEntryPoint`: EntryPoint v0.8 (nonces, deposits, `handleOps`, `getUserOpHash`, its events and
/// `FailedOp` errors). Deployed at [`entry_point::ADDRESS`] on every chain the stack runs on.
#[allow(clippy::too_many_arguments)]
pub mod entry_point {
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug, PartialEq, Eq)]
        IEntryPoint,
        "abi/IEntryPoint.json"
    );

    /// EntryPoint v0.8's canonical address.
    pub const ADDRESS: alloy::primitives::Address =
        alloy::primitives::address!("4337084D9E255Ff0702461CF8895CE9E3b5Ff108");
}

pub use account::NexusAccount;
pub use account_factory::NexusAccountFactory;
pub use entry_point::IEntryPoint;
pub use marketplace::AgentMarketplace;
pub use paymaster::NexusPaymaster;
pub use registry::AgentRegistry;
pub use usdc::TestUSDC;

/// Credit ids encode `agentId << 96 | unitPrice` (contracts/libraries/CreditId.sol).
pub mod credit_id {
    use alloy::primitives::U256;

    /// Bits of the credit id that hold the unit price.
    pub const PRICE_BITS: usize = 96;

    /// The ERC-1155 id of a credit for `agent_id` bought at `unit_price`.
    pub fn encode(agent_id: U256, unit_price: U256) -> U256 {
        (agent_id << PRICE_BITS) | unit_price
    }

    /// Splits a credit id into `(agent_id, unit_price)`.
    pub fn decode(credit_id: U256) -> (U256, U256) {
        let mask = (U256::from(1u8) << PRICE_BITS) - U256::from(1u8);
        (credit_id >> PRICE_BITS, credit_id & mask)
    }
}

/// Rust names for the registry's Solidity enums.
///
/// A JSON ABI keeps only an enum's underlying `uint8`, so `sol!` turns `IAgentRegistry.Status` and
/// `IAgentRegistry.Category` into `uint8` wrappers. These enums give the values their names, in
/// the declaration order of `contracts/interfaces/IAgentRegistry.sol`; the devnet tests pin each
/// value against the deployed contract.
pub mod agent {
    use crate::registry::IAgentRegistry;

    /// A value the contracts never produce for this enum.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
    #[error("{value} is not a valid {name}")]
    pub struct UnknownVariant {
        pub name: &'static str,
        pub value: u8,
    }

    /// A name that is not one of the enum's variants (e.g. read back from the database).
    #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
    #[error("{value:?} is not a valid {name}")]
    pub struct UnknownName {
        pub name: &'static str,
        pub value: String,
    }

    macro_rules! sol_enum {
        ($(#[$doc:meta])* $name:ident : $sol:ty { $($variant:ident = $value:literal),+ $(,)? }) => {
            $(#[$doc])*
            #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
            #[repr(u8)]
            pub enum $name { $($variant = $value),+ }

            impl $name {
                /// Every variant, in declaration order.
                pub const ALL: &'static [$name] = &[$($name::$variant),+];

                /// The variant's name as Solidity spells it.
                pub fn as_str(self) -> &'static str {
                    match self { $($name::$variant => stringify!($variant)),+ }
                }
            }

            impl From<$name> for $sol {
                fn from(value: $name) -> Self {
                    <$sol>::from(value as u8)
                }
            }

            impl From<$name> for u8 {
                fn from(value: $name) -> Self {
                    value as u8
                }
            }

            impl TryFrom<u8> for $name {
                type Error = UnknownVariant;
                fn try_from(value: u8) -> Result<Self, UnknownVariant> {
                    match value {
                        $($value => Ok($name::$variant),)+
                        _ => Err(UnknownVariant { name: stringify!($name), value }),
                    }
                }
            }

            impl TryFrom<$sol> for $name {
                type Error = UnknownVariant;
                fn try_from(value: $sol) -> Result<Self, UnknownVariant> {
                    Self::try_from(value.into_underlying())
                }
            }

            impl std::fmt::Display for $name {
                fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str(self.as_str())
                }
            }

            /// The inverse of [`as_str`](Self::as_str): exact names only, anything else an error.
            impl std::str::FromStr for $name {
                type Err = UnknownName;
                fn from_str(s: &str) -> Result<Self, UnknownName> {
                    match s {
                        $(stringify!($variant) => Ok($name::$variant),)+
                        _ => Err(UnknownName { name: stringify!($name), value: s.to_string() }),
                    }
                }
            }

            /// Stored as TEXT spelled as [`as_str`](Self::as_str) (the columns' CHECK constraints
            /// list the same names); a value outside the enum is a decode error, never a default.
            #[cfg(feature = "sqlx")]
            impl sqlx::Type<sqlx::Postgres> for $name {
                fn type_info() -> sqlx::postgres::PgTypeInfo {
                    <&str as sqlx::Type<sqlx::Postgres>>::type_info()
                }
                fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
                    <&str as sqlx::Type<sqlx::Postgres>>::compatible(ty)
                }
            }

            #[cfg(feature = "sqlx")]
            impl<'r> sqlx::Decode<'r, sqlx::Postgres> for $name {
                fn decode(value: sqlx::postgres::PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
                    Ok(<&str as sqlx::Decode<sqlx::Postgres>>::decode(value)?.parse()?)
                }
            }

            #[cfg(feature = "sqlx")]
            impl sqlx::Encode<'_, sqlx::Postgres> for $name {
                fn encode_by_ref(
                    &self,
                    buf: &mut sqlx::postgres::PgArgumentBuffer,
                ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                    <&str as sqlx::Encode<sqlx::Postgres>>::encode_by_ref(&self.as_str(), buf)
                }
            }
        };
    }

    sol_enum! {
        /// `IAgentRegistry.Status`: only Active agents can be bought or run; Retired is final.
        Status: IAgentRegistry::Status { Active = 0, Paused = 1, Retired = 2 }
    }

    sol_enum! {
        /// `IAgentRegistry.Category`.
        Category: IAgentRegistry::Category { General = 0, Crypto = 1 }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn round_trips_through_the_abi_type() {
            for &status in Status::ALL {
                assert_eq!(Status::try_from(IAgentRegistry::Status::from(status)), Ok(status));
            }
            for &category in Category::ALL {
                assert_eq!(Category::try_from(IAgentRegistry::Category::from(category)), Ok(category));
            }
            assert_eq!(Status::try_from(3u8), Err(UnknownVariant { name: "Status", value: 3 }));
        }
    }
}
