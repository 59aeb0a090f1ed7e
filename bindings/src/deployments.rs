//! The deployments file `deployments/<chainId>.json` that `script/Deploy.s.sol` writes: every
//! contract address, the role holders and the block from which logs can appear. Every Rust
//! service reads its addresses from here rather than from its own configuration, so a redeploy
//! needs no other change.

use std::path::{Path, PathBuf};

use alloy::primitives::Address;
use serde::{Deserialize, Serialize};

/// Why a deployments file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum DeploymentsError {
    #[error("cannot read deployments file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("deployments file {path} is malformed: {source}")]
    Parse { path: PathBuf, source: serde_json::Error },
    #[error("deployments file {path} is for chain {found}, expected chain {expected}")]
    WrongChain { path: PathBuf, expected: u64, found: u64 },
}

/// A deployment of the AgentNexus contracts on one chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployments {
    pub chain_id: u64,
    /// No log of these contracts exists before this block: where an indexer starts.
    pub deployment_block: u64,
    pub contracts: ContractAddresses,
    pub roles: RoleHolders,
}

/// Contract addresses, keyed as the deploy script writes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractAddresses {
    #[serde(rename = "AgentRegistry")]
    pub agent_registry: Address,
    /// Also the ERC-1155 credits contract.
    #[serde(rename = "AgentMarketplace")]
    pub agent_marketplace: Address,
    /// The USDC the catalog prices in (TestUSDC on local chains).
    #[serde(rename = "USDC")]
    pub usdc: Address,
    /// EntryPoint v0.8, at its canonical address. Absent from files written before the account
    /// contracts existed.
    #[serde(rename = "EntryPoint", default, skip_serializing_if = "Option::is_none")]
    pub entry_point: Option<Address>,
    /// Deploys `NexusAccount`s (CREATE2, counterfactual addresses).
    #[serde(rename = "NexusAccountFactory", default, skip_serializing_if = "Option::is_none")]
    pub nexus_account_factory: Option<Address>,
    /// The verifying paymaster that sponsors user operations.
    #[serde(rename = "NexusPaymaster", default, skip_serializing_if = "Option::is_none")]
    pub nexus_paymaster: Option<Address>,
}

/// Who was given each role at deployment. The deploying key holds no role unless it is named
/// here (the local defaults name it admin and curator; see `script/Deploy.s.sol`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleHolders {
    /// Default admin of the registry and the marketplace, and the marketplace's pauser. When it is
    /// not the deployer, the default admin role is a pending delayed transfer until it accepts.
    pub admin: Address,
    /// The registry's curator.
    pub curator: Address,
    /// Holds the marketplace's RELAYER_ROLE.
    pub relayer: Address,
    /// Receives platform fees (not a role: an address the marketplace credits).
    pub treasury: Address,
    /// The paymaster's sponsorship signer (absent from files written before the paymaster existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sponsor: Option<Address>,
}

impl Deployments {
    /// Reads and parses a deployments file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, DeploymentsError> {
        let path = path.as_ref();
        let text =
            std::fs::read_to_string(path).map_err(|source| DeploymentsError::Read { path: path.to_owned(), source })?;
        serde_json::from_str(&text).map_err(|source| DeploymentsError::Parse { path: path.to_owned(), source })
    }

    /// Reads a deployments file and checks it is for `chain_id` (guards against pointing a
    /// service at one chain with another chain's addresses).
    pub fn load_for_chain(path: impl AsRef<Path>, chain_id: u64) -> Result<Self, DeploymentsError> {
        let path = path.as_ref();
        let deployments = Self::load(path)?;
        if deployments.chain_id != chain_id {
            return Err(DeploymentsError::WrongChain {
                path: path.to_owned(),
                expected: chain_id,
                found: deployments.chain_id,
            });
        }
        Ok(deployments)
    }

    /// The conventional location `<dir>/<chainId>.json`.
    pub fn default_path(dir: impl AsRef<Path>, chain_id: u64) -> PathBuf {
        dir.as_ref().join(format!("{chain_id}.json"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::address;

    // The exact shape script/Deploy.s.sol writes (keys sorted by forge's serializer).
    const SAMPLE: &str = r#"{
      "chainId": 31337,
      "contracts": {
        "AgentMarketplace": "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512",
        "AgentRegistry": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
        "EntryPoint": "0x4337084D9E255Ff0702461CF8895CE9E3b5Ff108",
        "NexusAccountFactory": "0x5FC8d32690cc91D4c39d9d3abcBD16989F875707",
        "NexusPaymaster": "0x0165878A594ca255338adfa4d48449f69242Eb8F",
        "USDC": "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0"
      },
      "deploymentBlock": 1,
      "roles": {
        "admin": "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
        "curator": "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
        "relayer": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
        "sponsor": "0x90F79bf6EB2c4f870365E785982E1f101E93b906",
        "treasury": "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
      }
    }"#;

    // A file written before the account contracts existed.
    const SAMPLE_WITHOUT_ACCOUNTS: &str = r#"{
      "chainId": 31337,
      "contracts": {
        "AgentMarketplace": "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512",
        "AgentRegistry": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
        "USDC": "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0"
      },
      "deploymentBlock": 1,
      "roles": {
        "admin": "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
        "curator": "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
        "relayer": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
        "treasury": "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
      }
    }"#;

    fn write(text: &str) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(file.path(), text).expect("write temp file");
        file
    }

    #[test]
    fn parses_what_the_deploy_script_writes() {
        let file = write(SAMPLE);
        let d = Deployments::load(file.path()).expect("parses");
        assert_eq!(d.chain_id, 31337);
        assert_eq!(d.deployment_block, 1);
        assert_eq!(d.contracts.agent_registry, address!("5FbDB2315678afecb367f032d93F642f64180aa3"));
        assert_eq!(d.roles.relayer, address!("70997970C51812dc3A010C7d01b50e0d17dc79C8"));
        assert_eq!(d.contracts.entry_point, Some(address!("4337084D9E255Ff0702461CF8895CE9E3b5Ff108")));
        assert_eq!(d.contracts.nexus_account_factory, Some(address!("5FC8d32690cc91D4c39d9d3abcBD16989F875707")));
        assert_eq!(d.contracts.nexus_paymaster, Some(address!("0165878A594ca255338adfa4d48449f69242Eb8F")));
        assert_eq!(d.roles.sponsor, Some(address!("90F79bf6EB2c4f870365E785982E1f101E93b906")));
    }

    #[test]
    fn parses_files_without_the_account_contracts() {
        let file = write(SAMPLE_WITHOUT_ACCOUNTS);
        let d = Deployments::load(file.path()).expect("parses");
        assert_eq!(d.contracts.entry_point, None);
        assert_eq!(d.contracts.nexus_account_factory, None);
        assert_eq!(d.contracts.nexus_paymaster, None);
        assert_eq!(d.roles.sponsor, None);
        // Absent stays absent when written back.
        let text = serde_json::to_string(&d).expect("serialises");
        assert!(!text.contains("EntryPoint") && !text.contains("sponsor"), "{text}");
    }

    #[test]
    fn refuses_another_chains_file() {
        let file = write(SAMPLE);
        let err = Deployments::load_for_chain(file.path(), 1).unwrap_err();
        assert!(matches!(err, DeploymentsError::WrongChain { expected: 1, found: 31337, .. }), "{err}");
    }

    #[test]
    fn reports_missing_and_malformed_files() {
        let missing = Deployments::load("/nonexistent/31337.json").unwrap_err();
        assert!(matches!(missing, DeploymentsError::Read { .. }));
        let file = write(r#"{"chainId": 1}"#);
        let malformed = Deployments::load(file.path()).unwrap_err();
        assert!(matches!(malformed, DeploymentsError::Parse { .. }), "{malformed}");
    }
}
