//! Checking the action proposals of an agent's output (`nexus_proposals`, `docs/ARCHITECTURE.md`
//! "The agent container contract").
//!
//! Every output is checked, with or without a declared output schema: proposals reach the
//! requester's wallet, so their shape is the platform's contract, not the developer's. A broken
//! shape (too many, an oversized call, a summary with control characters, typed data that does
//! not hash as EIP-712, ...) settles the run as failure (cause `invalid_output`, refunded) with a
//! system log line naming the entry and the rule. Outputs without `proposals` pass unchanged.
//!
//! Rejected design: dropping invalid proposals and paying for the rest of the output. The
//! requester asked for a result that may include actions; silently removing some would present
//! a partial plan as the agent's whole one.

use nexus_proposals::Proposals;

use crate::docker::Failure;

/// `Ok(())` when `output` (already known to be one JSON document) carries no proposals or only
/// valid ones. Reported as an output-contract failure (`Failure::OutputSchema`): the proposals
/// shape is part of every agent's output contract.
pub fn check(output: &[u8]) -> Result<(), Failure> {
    Proposals::from_output_slice(output).map(drop).map_err(|e| Failure::OutputSchema(format!("invalid proposals: {e}")))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn call(summary: &str) -> serde_json::Value {
        json!({"kind": "call", "chainId": 31337, "to": "0x00000000000000000000000000000000000000aa",
               "value": "0", "data": "0x", "summary": summary})
    }

    fn check_json(output: serde_json::Value) -> Result<(), Failure> {
        check(&serde_json::to_vec(&output).expect("json"))
    }

    #[test]
    fn outputs_without_proposals_pass_unchanged() {
        assert!(check_json(json!({"summary": "no actions"})).is_ok());
        assert!(check_json(json!([1, 2, 3])).is_ok());
        assert!(check_json(json!({"proposals": [call("Send nothing")]})).is_ok());
    }

    #[test]
    fn a_broken_shape_is_an_invalid_output_naming_the_entry_and_rule() {
        let err = check_json(json!({"proposals": [call("ok"), call("line\nbreak")]})).expect_err("control char");
        assert_eq!(err.cause(), "invalid_output");
        let text = err.to_string();
        assert!(text.contains("proposal 1") && text.contains("U+000A"), "{text}");

        let err = check_json(json!({"proposals": vec![call("x"); 17]})).expect_err("too many");
        assert!(err.to_string().contains("17 proposals, at most 16"), "{err}");
    }

    #[test]
    fn typed_data_must_hash_as_eip712() {
        // Right JSON shape, but `primaryType` names no type: the wallet could not sign it.
        let typed = json!({"kind": "typedData", "summary": "Order",
            "typedData": {"types": {"EIP712Domain": []}, "primaryType": "Order", "domain": {}, "message": {}},
            "submitTo": "https://api.hyperliquid.xyz/exchange", "submitBody": {"nonce": 1}});
        let err = check_json(json!({"proposals": [typed]})).expect_err("unhashable");
        assert!(err.to_string().contains("proposal 0: typedData is not EIP-712"), "{err}");
    }
}
