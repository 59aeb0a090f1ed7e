//! EIP-712 parsing and hashing of typed-data proposals (feature `eip712`).
//!
//! The relayer, the GraphQL API and the CLI enable this, so a typed-data proposal that reaches a
//! user has been proven to parse and hash exactly as the wallet will sign it. Agents' light
//! build checks only the JSON shape.

use alloy_primitives::B256;
use serde::Deserialize;
use serde_json::Value;

pub use alloy_dyn_abi::TypedData;

use crate::{Proposal, Rule};

/// Parses `eth_signTypedData_v4` JSON into alloy's EIP-712 model (no hashing).
pub fn parse(typed_data: &Value) -> Result<TypedData, Rule> {
    TypedData::deserialize(typed_data).map_err(|e| Rule::TypedDataShape(e.to_string()))
}

/// The EIP-712 signing hash (`keccak256("\x19\x01" ‖ domainSeparator ‖ hashStruct(message))`):
/// what a wallet signs.
pub fn signing_hash(typed_data: &Value) -> Result<B256, Rule> {
    parse(typed_data)?.eip712_signing_hash().map_err(|e| Rule::TypedDataShape(e.to_string()))
}

impl Proposal {
    /// The parsed EIP-712 message of a typed-data proposal; `None` for a call.
    pub fn eip712(&self) -> Option<Result<TypedData, Rule>> {
        match self {
            Proposal::TypedData { typed_data, .. } => Some(parse(typed_data)),
            Proposal::Call { .. } => None,
        }
    }
}
