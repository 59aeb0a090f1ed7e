//! Action proposals in outputs, end to end over the real stack: the relayer settles an output
//! with valid proposals as success and one whose proposals break the shape as failure (refund),
//! with a system log line naming the entry and the rule.

mod common;

use std::time::Duration;

use alloy::primitives::U256;
use common::{PRICE, Stack};

const SETTLE_TIMEOUT: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn proposals_shape_is_enforced() {
    let stack = Stack::start("relayer_proposals").await;
    let relayer = stack.relayer(|_| {}).await;
    // `echo` returns its input as its output: the input decides the proposals. No output
    // schema is declared: the proposals check applies to every agent regardless.
    let echo = stack.register("echo", 60).await;
    let credit = stack.buy(echo, 2).await;
    let call = |summary: &str| {
        serde_json::json!({"kind": "call", "chainId": 31337, "to": "0x00000000000000000000000000000000000000aa",
                           "value": "0", "data": "0x", "summary": summary})
    };
    let good = serde_json::to_vec(&serde_json::json!({"proposals": [call("Send nothing")]})).expect("json");
    let bad = serde_json::to_vec(&serde_json::json!({"proposals": [call("fine"), call("")]})).expect("json");

    let good = stack.request(credit, stack.upload(&good).await).await;
    assert_eq!(stack.settled(good, SETTLE_TIMEOUT).await.0, "Succeeded", "valid proposals");
    let bad = stack.request(credit, stack.upload(&bad).await).await;
    assert_eq!(stack.settled(bad, SETTLE_TIMEOUT).await.0, "Failed", "an empty summary");
    assert_eq!(stack.withdrawable(stack.buyer()).await, U256::from(PRICE), "the failure is refunded");

    let lines: Vec<String> = sqlx::query_scalar(
        "SELECT line FROM execution_logs WHERE request_id = $1::numeric AND stream = 'system' ORDER BY seq",
    )
    .bind(bad.to_string())
    .fetch_all(&stack.pool)
    .await
    .expect("logs");
    assert!(
        lines.iter().any(|l| l.contains("proposal 1: summary is empty")),
        "the requester's log names the entry and the rule: {lines:?}"
    );
    relayer.stop().await;
    stack.stop().await;
}
