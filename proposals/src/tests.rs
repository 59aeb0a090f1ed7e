use serde_json::{Value, json};

use super::*;
use crate::limits::*;

const TO: &str = "0x00000000000000000000000000000000000000aa";

/// The EIP-712 specification's own example (`Mail`), whose signing hash is published.
fn mail_typed_data() -> Value {
    json!({
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"}
            ],
            "Person": [{"name": "name", "type": "string"}, {"name": "wallet", "type": "address"}],
            "Mail": [
                {"name": "from", "type": "Person"}, {"name": "to", "type": "Person"},
                {"name": "contents", "type": "string"}
            ]
        },
        "primaryType": "Mail",
        "domain": {"name": "Ether Mail", "version": "1", "chainId": 1,
                   "verifyingContract": "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"},
        "message": {
            "from": {"name": "Cow", "wallet": "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"},
            "to": {"name": "Bob", "wallet": "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"},
            "contents": "Hello, Bob!"
        }
    })
}

fn call() -> Value {
    json!({"kind": "call", "chainId": 31337, "to": TO, "value": "1000000000000000000", "data": "0x095ea7b3",
           "summary": "Approve 10 USDC"})
}

fn typed() -> Value {
    json!({"kind": "typedData", "summary": "Buy 0.1 BTC at 60000", "typedData": mail_typed_data(),
           "submitTo": "https://api.hyperliquid.xyz/exchange",
           "submitBody": {"action": {"type": "order"}, "nonce": 1_733_000_000_000u64}})
}

fn parse(entries: Vec<Value>) -> Result<Proposals, ProposalsError> {
    Proposals::from_output(&json!({"result": 1, "proposals": entries}))
}

fn rule_of(entry: Value) -> Rule {
    match parse(vec![entry]) {
        Err(ProposalsError::Invalid { index: 0, rule }) => rule,
        other => panic!("expected a rule violation, got {other:?}"),
    }
}

fn with(mut entry: Value, key: &str, value: Value) -> Value {
    entry[key] = value;
    entry
}

#[test]
fn parses_both_kinds_and_writes_the_same_json_back() {
    let proposals = parse(vec![call(), typed()]).unwrap();
    match &proposals.as_slice()[0] {
        Proposal::Call { chain_id, to, value, data, summary } => {
            assert_eq!(*chain_id, 31337);
            assert_eq!(to.to_string().to_lowercase(), TO);
            assert_eq!(*value, U256::from(10u64).pow(U256::from(18u64)));
            assert_eq!(data.as_ref(), [0x09, 0x5e, 0xa7, 0xb3]);
            assert_eq!(summary, "Approve 10 USDC");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(proposals.as_slice()[1].kind(), "typedData");
    // The value stays a decimal string (alloy's own U256 serde would write hex).
    let written = serde_json::to_value(&proposals).unwrap();
    assert_eq!(written[0]["value"], "1000000000000000000");
    assert_eq!(written, json!([call(), typed()]));
}

#[test]
fn absent_or_null_proposals_are_none_and_other_values_are_refused() {
    assert!(Proposals::from_output(&json!({"summary": "x"})).unwrap().is_empty());
    assert!(Proposals::from_output(&json!({"proposals": null})).unwrap().is_empty());
    assert!(Proposals::from_output(&json!("a string output")).unwrap().is_empty());
    assert_eq!(Proposals::from_output(&json!({"proposals": {}})), Err(ProposalsError::NotAnArray));
    assert!(matches!(Proposals::from_output_slice(b"{not json"), Err(ProposalsError::NotJson(_))));
    let bytes = serde_json::to_vec(&json!({"proposals": [call()]})).unwrap();
    assert_eq!(Proposals::from_output_slice(&bytes).unwrap().len(), 1);
}

#[test]
fn count_is_limited() {
    assert_eq!(parse(vec![call(); MAX_PROPOSALS]).unwrap().len(), MAX_PROPOSALS);
    assert_eq!(parse(vec![call(); MAX_PROPOSALS + 1]), Err(ProposalsError::TooMany { count: MAX_PROPOSALS + 1 }));
    let built = vec![Proposal::deserialize(&call()).unwrap(); MAX_PROPOSALS + 1];
    assert!(matches!(Proposals::new(built), Err(ProposalsError::TooMany { .. })));
}

#[test]
fn entries_that_are_not_proposals_name_their_index() {
    let shape_index = |bad: Value| match parse(vec![call(), bad]) {
        Err(ProposalsError::Shape { index, reason }) => (index, reason),
        other => panic!("{other:?}"),
    };
    assert!(shape_index(with(call(), "kind", json!("transfer"))).1.contains("transfer"));
    assert!(shape_index(with(call(), "gas", json!(21000))).1.contains("gas"));
    assert_eq!(shape_index(with(call(), "value", json!("0x10"))).0, 1);
    assert_eq!(shape_index(with(call(), "value", json!(10))).0, 1);
    assert_eq!(shape_index(with(call(), "value", json!("1_000"))).0, 1);
    assert_eq!(shape_index(with(call(), "value", json!(""))).0, 1);
    assert_eq!(shape_index(with(call(), "chainId", json!("1"))).0, 1);
    assert_eq!(shape_index(with(call(), "to", json!("0x12"))).0, 1);
    let mut missing = call();
    missing.as_object_mut().unwrap().remove("data");
    assert!(shape_index(missing).1.contains("data"));
    // The largest uint256 is a valid value.
    let max = U256::MAX.to_string();
    assert!(parse(vec![with(call(), "value", json!(max))]).is_ok());
}

#[test]
fn summary_rules() {
    assert_eq!(rule_of(with(call(), "summary", json!(" "))), Rule::SummaryEmpty);
    // Characters, not bytes: 280 two-byte characters fit, 281 do not.
    assert!(parse(vec![with(call(), "summary", json!("é".repeat(MAX_SUMMARY_CHARS)))]).is_ok());
    assert_eq!(
        rule_of(with(call(), "summary", json!("é".repeat(MAX_SUMMARY_CHARS + 1)))),
        Rule::SummaryTooLong { chars: MAX_SUMMARY_CHARS + 1 }
    );
    for (text, code) in [("a\nb", 0x0a), ("a\u{1b}[2Jb", 0x1b), ("pay \u{202E}evil", 0x202e), ("x\u{2066}y", 0x2066)] {
        assert_eq!(rule_of(with(typed(), "summary", json!(text))), Rule::SummaryForbiddenChar { code });
    }
}

#[test]
fn call_rules() {
    assert_eq!(rule_of(with(call(), "chainId", json!(0))), Rule::ZeroChainId);
    assert_eq!(rule_of(with(call(), "to", json!(format!("0x{}", "0".repeat(40))))), Rule::ZeroAddressTarget);
    let hex = |n: usize| json!(format!("0x{}", "ab".repeat(n)));
    assert!(parse(vec![with(call(), "data", hex(MAX_CALL_DATA_BYTES))]).is_ok());
    assert_eq!(
        rule_of(with(call(), "data", hex(MAX_CALL_DATA_BYTES + 1))),
        Rule::DataTooLarge { bytes: MAX_CALL_DATA_BYTES + 1 }
    );
}

#[test]
fn typed_data_rules() {
    let mut big = mail_typed_data();
    big["message"]["contents"] = json!("x".repeat(MAX_TYPED_DATA_JSON_BYTES));
    assert_eq!(rule_of(with(typed(), "typedData", big)), Rule::TypedDataTooLarge);
    let mut no_message = mail_typed_data();
    no_message.as_object_mut().unwrap().remove("message");
    assert!(
        matches!(rule_of(with(typed(), "typedData", no_message)), Rule::TypedDataShape(m) if m.contains("message"))
    );
    let mut extra = mail_typed_data();
    extra["note"] = json!("hi");
    assert!(matches!(rule_of(with(typed(), "typedData", extra)), Rule::TypedDataShape(m) if m.contains("note")));
    assert!(matches!(rule_of(with(typed(), "typedData", json!("{}"))), Rule::TypedDataShape(_)));
    let mut float = mail_typed_data();
    float["domain"]["chainId"] = json!(1.5);
    assert!(matches!(rule_of(with(typed(), "typedData", float)), Rule::InexactNumber { field: "typedData", .. }));
    // 2^70 does not fit a JSON integer of serde_json: it became an f64 and is refused.
    let mut huge = mail_typed_data();
    huge["domain"]["chainId"] = serde_json::from_str("1180591620717411303424").unwrap();
    assert!(matches!(rule_of(with(typed(), "typedData", huge)), Rule::InexactNumber { .. }));
}

#[test]
fn submit_body_rules() {
    assert_eq!(rule_of(with(typed(), "submitBody", json!([1]))), Rule::SubmitBodyNotObject);
    assert_eq!(rule_of(with(typed(), "submitBody", json!({"signature": {}}))), Rule::SubmitBodyHasSignature);
    let big = json!({"pad": "x".repeat(MAX_SUBMIT_BODY_JSON_BYTES)});
    assert_eq!(rule_of(with(typed(), "submitBody", big)), Rule::SubmitBodyTooLarge);
    assert!(matches!(
        rule_of(with(typed(), "submitBody", json!({"px": 0.1}))),
        Rule::InexactNumber { field: "submitBody", .. }
    ));
}

#[test]
fn submit_to_must_be_an_absolute_http_url() {
    for (url, host) in [
        ("https://api.hyperliquid.xyz/exchange", "api.hyperliquid.xyz"),
        ("http://127.0.0.1:18701/exchange", "127.0.0.1:18701"),
        ("HTTPS://[::1]:8443?x=1", "[::1]:8443"),
        ("https://example.org", "example.org"),
    ] {
        assert_eq!(submit_host(url), Ok(host), "{url}");
    }
    for url in [
        "ftp://example.org/x",
        "//example.org/x",
        "https:///path",
        "https://user:pass@example.org/",
        "https://exämple.org/",
        "https://example.org/a b",
        "https://example.org:/",
        "https://example.org:99999/",
        "https://example.org:+80/",
        "https://[::1/",
    ] {
        assert!(matches!(submit_host(url), Err(Rule::SubmitToNotHttpUrl(_))), "{url}");
        assert!(matches!(rule_of(with(typed(), "submitTo", json!(url))), Rule::SubmitToNotHttpUrl(_)), "{url}");
    }
    let long = format!("https://example.org/{}", "a".repeat(MAX_SUBMIT_TO_BYTES));
    assert_eq!(rule_of(with(typed(), "submitTo", json!(long))), Rule::SubmitToTooLong { bytes: long.len() });
}

#[cfg(feature = "eip712")]
#[test]
fn typed_data_parses_and_hashes_as_eip712() {
    // The signing hash the EIP-712 specification publishes for its Mail example.
    let hash = eip712::signing_hash(&mail_typed_data()).unwrap();
    assert_eq!(hash.to_string(), "0xbe609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2");
    let proposals = parse(vec![typed()]).unwrap();
    assert_eq!(proposals.as_slice()[0].eip712().unwrap().unwrap().primary_type, "Mail");
    assert!(Proposal::deserialize(&call()).unwrap().eip712().is_none());
    // The right JSON shape, but the primary type is not among the types: it cannot be hashed.
    let mut unknown = mail_typed_data();
    unknown["primaryType"] = json!("Order");
    assert!(matches!(rule_of(with(typed(), "typedData", unknown)), Rule::TypedDataShape(_)));
}
