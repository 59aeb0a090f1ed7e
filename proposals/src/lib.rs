//! Action proposals: what an agent suggests doing, for the user's wallet to decide.
//!
//! Agents never sign. An agent's output document may carry a `proposals` array; each entry is
//! either an EVM call ([`Proposal::Call`]) or an EIP-712 message to sign and post to a URL
//! ([`Proposal::TypedData`], how orders on Hyperliquid-style venues are placed). The relayer
//! validates the shape of every output's proposals (a broken shape fails the run, refunded), the
//! GraphQL API exposes them typed to the requester, and `nexus proposals` / `nexus apply` show
//! and execute them after the user confirms.
//!
//! This crate is the one definition of that contract: the wire shape ([`Proposal`], serde),
//! the limits ([`limits`]) and their check ([`validate`], [`Proposals::from_output`]).
//!
//! ```
//! use nexus_proposals::{Proposal, Proposals};
//! let output = serde_json::json!({
//!     "summary": "...",
//!     "proposals": [{"kind": "call", "chainId": 31337,
//!         "to": "0x0000000000000000000000000000000000000001",
//!         "value": "1000000000000000000", "data": "0x", "summary": "Send 1 ETH"}]
//! });
//! let proposals = Proposals::from_output(&output).unwrap();
//! assert!(matches!(proposals.as_slice()[0], Proposal::Call { chain_id: 31337, .. }));
//! ```

mod decimal;
#[cfg(feature = "eip712")]
pub mod eip712;
pub mod limits;
mod validate;

use alloy_primitives::{Address, Bytes, U256};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use validate::{ProposalsError, Rule, submit_host, validate};

/// The output document's field that carries the proposals.
pub const OUTPUT_FIELD: &str = "proposals";

/// One suggested action. The JSON shape (`kind` tag, camelCase fields) is the agents' output
/// contract; see the crate README.
///
/// Unknown fields are refused: a field a wallet would silently ignore (`gas`, `from`, a second
/// URL) is a field an agent might expect to be honoured, so it is an error rather than dropped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum Proposal {
    /// An EVM transaction from the user's wallet (or a call in the smart account's batch).
    #[serde(rename_all = "camelCase")]
    Call {
        /// The chain the call is meant for; `nexus apply` refuses a different chain.
        chain_id: u64,
        to: Address,
        /// Wei, as a decimal string (JSON numbers cannot carry a uint256 exactly).
        #[serde(with = "decimal")]
        value: U256,
        /// Calldata, 0x-hex.
        data: Bytes,
        /// What the call does, in words, shown before confirmation.
        summary: String,
    },
    /// An EIP-712 message to sign; `submitBody` plus the signature is POSTed to `submitTo`.
    #[serde(rename_all = "camelCase")]
    TypedData {
        /// EIP-712 JSON as `eth_signTypedData_v4` takes it (`types`, `primaryType`, `domain`,
        /// `message`). Kept as JSON rather than a parsed EIP-712 type so the light build (agents)
        /// does not need the ABI machinery; [`eip712`] parses it (feature `eip712`).
        typed_data: Value,
        /// Absolute http(s) URL the signed body is posted to.
        submit_to: String,
        /// A JSON object; the signer adds `"signature": {"r", "s", "v"}` before posting.
        submit_body: Value,
        summary: String,
    },
}

impl Proposal {
    /// The human-readable summary the agent wrote (untrusted text: sanitise before printing).
    pub fn summary(&self) -> &str {
        match self {
            Proposal::Call { summary, .. } | Proposal::TypedData { summary, .. } => summary,
        }
    }

    /// The wire name of this proposal's kind (`"call"` or `"typedData"`).
    pub fn kind(&self) -> &'static str {
        match self {
            Proposal::Call { .. } => "call",
            Proposal::TypedData { .. } => "typedData",
        }
    }
}

/// The validated proposals of one output (possibly none).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Proposals(Vec<Proposal>);

impl Proposals {
    /// Reads and validates the `proposals` of an output document. A document without the field
    /// (or with `null`, what an `Option` serialises to) has none; any other non-array value,
    /// an entry that is not a proposal, or an entry that breaks a limit is an error naming the
    /// entry's index.
    pub fn from_output(output: &Value) -> Result<Self, ProposalsError> {
        let entries = match output.get(OUTPUT_FIELD) {
            None | Some(Value::Null) => return Ok(Self::default()),
            Some(Value::Array(entries)) => entries,
            Some(_) => return Err(ProposalsError::NotAnArray),
        };
        // Count first: a document with a million entries is refused before any is parsed.
        if entries.len() > limits::MAX_PROPOSALS {
            return Err(ProposalsError::TooMany { count: entries.len() });
        }
        let proposals = entries
            .iter()
            .enumerate()
            .map(|(index, entry)| {
                Proposal::deserialize(entry).map_err(|e| ProposalsError::Shape { index, reason: e.to_string() })
            })
            .collect::<Result<Vec<_>, _>>()?;
        validate(&proposals)?;
        Ok(Self(proposals))
    }

    /// [`Proposals::from_output`] on the output's bytes (one JSON document).
    pub fn from_output_slice(output: &[u8]) -> Result<Self, ProposalsError> {
        let document: Value = serde_json::from_slice(output).map_err(|e| ProposalsError::NotJson(e.to_string()))?;
        Self::from_output(&document)
    }

    /// Validates proposals an agent built, so it can put them in its output.
    pub fn new(proposals: Vec<Proposal>) -> Result<Self, ProposalsError> {
        validate(&proposals)?;
        Ok(Self(proposals))
    }

    pub fn as_slice(&self) -> &[Proposal] {
        &self.0
    }

    pub fn into_vec(self) -> Vec<Proposal> {
        self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Proposal> {
        self.0.iter()
    }
}

impl<'a> IntoIterator for &'a Proposals {
    type Item = &'a Proposal;
    type IntoIter = std::slice::Iter<'a, Proposal>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests;
