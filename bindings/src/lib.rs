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
pub const CONTRACTS: &[&str] = &["AgentRegistry", "AgentMarketplace", "TestUSDC"];

/// `AgentRegistry`: the curated agent catalog.
pub mod registry {
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug, PartialEq, Eq)]
        AgentRegistry,
        "abi/AgentRegistry.json"
    );
}

/// `AgentMarketplace`: escrow and the ERC-1155 execution credits.
pub mod marketplace {
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug, PartialEq, Eq)]
        AgentMarketplace,
        "abi/AgentMarketplace.json"
    );
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

pub use marketplace::AgentMarketplace;
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
