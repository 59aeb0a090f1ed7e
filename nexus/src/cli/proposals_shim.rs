//! TEMPORARY stand-in for `nexus-proposals` (H2's crate, not merged yet): the proposal shape of
//! issue 15's spec, parsed just enough for `nexus apply` to be built and tested. The names match
//! what `apply` expects from the crate, so replacing this module is a `use` change; it must not
//! reach main next to the crate (one type per concept).

use alloy::primitives::{Address, Bytes, U256};
use alloy_dyn_abi::TypedData;
use serde::Deserialize;
use serde_json::{Map, Value};

/// One proposal.
#[derive(Debug, Clone)]
pub enum Proposal {
    Call(CallProposal),
    TypedData(TypedDataProposal),
}

#[derive(Debug, Clone)]
pub struct CallProposal {
    pub chain_id: u64,
    pub to: Address,
    pub value: U256,
    pub data: Bytes,
    pub summary: String,
}

#[derive(Debug, Clone)]
pub struct TypedDataProposal {
    pub summary: String,
    pub typed_data: TypedData,
    pub submit_to: String,
    pub submit_body: Map<String, Value>,
}

#[derive(Debug, thiserror::Error)]
#[error("malformed proposals: {0}")]
pub struct ProposalError(String);

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", rename_all_fields = "camelCase", deny_unknown_fields)]
enum Wire {
    Call { chain_id: u64, to: Address, value: String, data: Bytes, summary: String },
    TypedData { summary: String, typed_data: TypedData, submit_to: String, submit_body: Map<String, Value> },
}

/// The output's proposals; `None` without a `proposals` field.
pub fn from_output(output: &Value) -> Result<Option<Vec<Proposal>>, ProposalError> {
    let Some(list) = output.get("proposals") else { return Ok(None) };
    let wire: Vec<Wire> = serde_json::from_value(list.clone()).map_err(|e| ProposalError(e.to_string()))?;
    wire.into_iter()
        .map(|w| match w {
            Wire::Call { chain_id, to, value, data, summary } => {
                let value = value.parse::<U256>().map_err(|e| ProposalError(format!("value {value:?}: {e}")))?;
                Ok(Proposal::Call(CallProposal { chain_id, to, value, data, summary }))
            }
            Wire::TypedData { summary, typed_data, submit_to, submit_body } => {
                Ok(Proposal::TypedData(TypedDataProposal { summary, typed_data, submit_to, submit_body }))
            }
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}
