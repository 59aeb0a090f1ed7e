//! Action proposals of an execution's output (`nexus_proposals`), typed for clients.
//!
//! The output is private, so `Execution.proposals` has the output's access rule (requester
//! only). The relayer already refused outputs whose proposals break the shape; the API parses
//! again anyway (the blob is what it is, whoever stored it) and reports a blob that fails as an
//! `INVALID_OUTPUT` error, never as an empty list that would hide the agent's actions.

use alloy::primitives::{B256, U256};
use async_graphql::{Json, SimpleObject, Union};
use nexus_proposals::{Proposal as Wire, Proposals};
use sqlx::PgPool;

use crate::error::{DbResult, code, coded};
use crate::scalars::{Address, BigInt, Bytes32};

/// The largest output the API parses for proposals. Parsing costs time and memory in
/// proportion to the document, per request; the relayer's stdout cap (1 MiB by default) keeps
/// real outputs far below this.
pub const MAX_PARSED_OUTPUT_BYTES: i64 = 4 * 1024 * 1024;

/// An action the agent proposes; the requester's wallet decides (`nexus apply`).
#[derive(Union)]
pub enum Proposal {
    Call(CallProposal),
    TypedData(TypedDataProposal),
}

/// An EVM call to send from the requester's wallet (or in a smart account's batch).
#[derive(SimpleObject)]
pub struct CallProposal {
    /// Position in the output's `proposals` array (what `nexus apply --index` takes).
    pub index: i32,
    /// The agent's description of the call: untrusted text.
    pub summary: String,
    pub chain_id: BigInt,
    pub to: Address,
    /// Wei sent with the call.
    pub value: BigInt,
    /// Calldata, `0x`-hex.
    pub data: String,
}

/// An EIP-712 message to sign; `submitBody` plus the signature is POSTed to `submitTo`.
#[derive(SimpleObject)]
pub struct TypedDataProposal {
    pub index: i32,
    /// The agent's description of the message: untrusted text.
    pub summary: String,
    /// EIP-712 JSON as `eth_signTypedData_v4` takes it.
    pub typed_data: Json<serde_json::Value>,
    pub primary_type: String,
    /// The EIP-712 hash a wallet signs for `typedData`.
    pub signing_hash: Bytes32,
    /// Where the signed body is posted.
    pub submit_to: String,
    /// `submitTo`'s `host[:port]`: the party the signature is given to.
    pub submit_host: String,
    /// The body to post, before the signer adds `signature`.
    pub submit_body: Json<serde_json::Value>,
}

/// The proposals of the output blob `hash`; `None` when the blob is not stored here.
pub async fn load_proposals(pool: &PgPool, hash: B256) -> async_graphql::Result<Option<Vec<Proposal>>> {
    // The size first, so an oversized blob is refused without being fetched.
    let row: Option<(i64, Option<Vec<u8>>)> = sqlx::query_as(
        "SELECT octet_length(bytes)::bigint, CASE WHEN octet_length(bytes) <= $2 THEN bytes END \
         FROM blobs WHERE hash = $1",
    )
    .bind(hash.as_slice())
    .bind(MAX_PARSED_OUTPUT_BYTES)
    .fetch_optional(pool)
    .await
    .db()?;
    let Some((size, bytes)) = row else { return Ok(None) };
    let Some(bytes) = bytes else {
        return Err(invalid(format!(
            "the output is {size} bytes, more than the {MAX_PARSED_OUTPUT_BYTES} parsed here"
        )));
    };
    let proposals = Proposals::from_output_slice(&bytes).map_err(|e| invalid(format!("invalid proposals: {e}")))?;
    to_api(proposals).map(Some)
}

fn invalid(message: String) -> async_graphql::Error {
    coded(message, code::INVALID_OUTPUT)
}

/// Converts validated proposals; the fallible steps were already checked by validation, a
/// failure here still is an error rather than a panic.
pub fn to_api(proposals: Proposals) -> async_graphql::Result<Vec<Proposal>> {
    proposals
        .into_vec()
        .into_iter()
        .enumerate()
        .map(|(index, proposal)| {
            let index = i32::try_from(index).map_err(|_| invalid("too many proposals".into()))?;
            let fail = |rule: nexus_proposals::Rule| invalid(format!("proposal {index}: {rule}"));
            Ok(match proposal {
                Wire::Call { chain_id, to, value, data, summary } => Proposal::Call(CallProposal {
                    index,
                    summary,
                    chain_id: BigInt(U256::from(chain_id)),
                    to: Address(to),
                    value: BigInt(value),
                    data: data.to_string(),
                }),
                Wire::TypedData { typed_data, submit_to, submit_body, summary } => {
                    let parsed = nexus_proposals::eip712::parse(&typed_data).map_err(fail)?;
                    let hash = parsed.eip712_signing_hash().map_err(|e| invalid(format!("proposal {index}: {e}")))?;
                    let submit_host = nexus_proposals::submit_host(&submit_to).map_err(fail)?.to_string();
                    Proposal::TypedData(TypedDataProposal {
                        index,
                        summary,
                        primary_type: parsed.primary_type,
                        typed_data: Json(typed_data),
                        signing_hash: Bytes32(hash),
                        submit_to,
                        submit_host,
                        submit_body: Json(submit_body),
                    })
                }
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn converts_both_kinds_with_index_host_and_hash() {
        let typed = json!({"types": {"EIP712Domain": [{"name": "name", "type": "string"}],
                                     "Agent": [{"name": "source", "type": "string"}]},
                           "primaryType": "Agent", "domain": {"name": "Exchange"}, "message": {"source": "a"}});
        let output = json!({"proposals": [
            {"kind": "call", "chainId": 31337, "to": "0x00000000000000000000000000000000000000aa",
             "value": "5", "data": "0x01ff", "summary": "call"},
            {"kind": "typedData", "summary": "order", "typedData": typed,
             "submitTo": "http://127.0.0.1:18701/exchange", "submitBody": {"nonce": 7}}
        ]});
        let api = to_api(Proposals::from_output(&output).expect("valid")).expect("converts");
        match &api[0] {
            Proposal::Call(c) => {
                assert_eq!((c.index, c.value.0, c.data.as_str()), (0, U256::from(5), "0x01ff"));
                assert_eq!(c.chain_id.0, U256::from(31337));
            }
            Proposal::TypedData(_) => panic!("first is a call"),
        }
        match &api[1] {
            Proposal::TypedData(t) => {
                assert_eq!((t.index, t.submit_host.as_str(), t.primary_type.as_str()), (1, "127.0.0.1:18701", "Agent"));
                let expected = nexus_proposals::eip712::signing_hash(&typed).expect("hash");
                assert_eq!(t.signing_hash.0, expected);
            }
            Proposal::Call(_) => panic!("second is typed data"),
        }
    }
}
