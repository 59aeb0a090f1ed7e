//! `Execution.proposals`: the output's action proposals, typed, to the requester only; a stored
//! output whose proposals break the shape is an `INVALID_OUTPUT` error, not an empty list.

mod common;

use serde_json::{Value, json};

use common::{Env, agent_with_credits, settled_execution};

const TO: &str = "0x00000000000000000000000000000000000000aa";

fn typed_data() -> Value {
    json!({"types": {"EIP712Domain": [{"name": "name", "type": "string"}, {"name": "chainId", "type": "uint256"}],
                     "Agent": [{"name": "source", "type": "string"}, {"name": "connectionId", "type": "bytes32"}]},
           "primaryType": "Agent", "domain": {"name": "Exchange", "chainId": 1337},
           "message": {"source": "a", "connectionId": format!("0x{}", "11".repeat(32))}})
}

const Q: &str = "query($id: BigInt!) { execution(id: $id) { proposals { __typename
    ... on CallProposal { index summary chainId to value data }
    ... on TypedDataProposal { index summary primaryType signingHash submitTo submitHost submitBody typedData } } } }";

#[tokio::test]
async fn proposals_are_typed_and_private() {
    let env = Env::start(|_| {}).await;
    let devnet = env.devnet();
    let (requester, stranger) = (devnet.signer(3), devnet.signer(4));
    let credit = agent_with_credits(devnet, 3, 1_000_000_000_000_000, 3).await;

    let good = serde_json::to_vec(&json!({"summary": "two actions", "proposals": [
        {"kind": "call", "chainId": 31337, "to": TO, "value": "1000000000000000000", "data": "0xa9059cbb",
         "summary": "Send 1 ETH"},
        {"kind": "typedData", "summary": "Buy 0.1 BTC", "typedData": typed_data(),
         "submitTo": "https://api.hyperliquid.xyz/exchange", "submitBody": {"action": {"type": "order"}, "nonce": 7}}
    ]}))
    .expect("json");
    let bad = serde_json::to_vec(&json!({"proposals": [{"kind": "call", "chainId": 0, "to": TO, "value": "0",
        "data": "0x", "summary": "zero chain"}]}))
    .expect("json");
    let none = br#"{"summary": "nothing to do"}"#.to_vec();
    // Three settled executions (ids 1..=3), each with an output blob as the relayer stores it.
    for (i, output) in [&good, &bad, &none].into_iter().enumerate() {
        settled_execution(&env, 3, credit, format!("{{\"n\":{i}}}").as_bytes(), output).await;
    }
    env.indexed().await;
    let token = env.sign_in(&requester).await;
    let other = env.sign_in(&stranger).await;

    let mine = env.gql(Q, json!({"id": "1"}), Some(&token)).await;
    assert_eq!(mine["errors"], Value::Null, "{mine}");
    let hash = nexus_proposals::eip712::signing_hash(&typed_data()).expect("hash").to_string();
    assert_eq!(
        mine["data"]["execution"]["proposals"],
        json!([
            {"__typename": "CallProposal", "index": 0, "summary": "Send 1 ETH", "chainId": "31337",
             "to": "0x00000000000000000000000000000000000000AA", "value": "1000000000000000000", "data": "0xa9059cbb"},
            {"__typename": "TypedDataProposal", "index": 1, "summary": "Buy 0.1 BTC", "primaryType": "Agent",
             "signingHash": hash, "submitTo": "https://api.hyperliquid.xyz/exchange",
             "submitHost": "api.hyperliquid.xyz", "submitBody": {"action": {"type": "order"}, "nonce": 7},
             "typedData": typed_data()}
        ]),
    );

    // Another signed-in account and an anonymous client: the same errors as `output`.
    let theirs = env.gql(Q, json!({"id": "1"}), Some(&other)).await;
    assert_eq!(theirs["data"]["execution"]["proposals"], Value::Null, "{theirs}");
    assert_eq!(theirs["errors"][0]["extensions"]["code"], "FORBIDDEN", "{theirs}");
    let anonymous = env.gql(Q, json!({"id": "1"}), None).await;
    assert_eq!(anonymous["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{anonymous}");

    // A stored output breaking the shape is an error naming the rule, never an empty list.
    let broken = env.gql(Q, json!({"id": "2"}), Some(&token)).await;
    assert_eq!(broken["data"]["execution"]["proposals"], Value::Null, "{broken}");
    assert_eq!(broken["errors"][0]["extensions"]["code"], "INVALID_OUTPUT", "{broken}");
    let message = broken["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("proposal 0: chainId is 0"), "{broken}");

    let empty = env.gql(Q, json!({"id": "3"}), Some(&token)).await;
    assert_eq!(empty["data"]["execution"]["proposals"], json!([]), "{empty}");
}
