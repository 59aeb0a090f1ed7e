//! Runs the built `agent-gas-advisor` binary on an `eth_feeHistory(5, "latest", [10, 50, 90])`
//! result shaped like mainnet's, as the relayer would, and checks the output against the
//! published output schema and values computed by hand (Python integers) for
//! `tests/data/fee-history.json`. Its base fees follow the EIP-1559 rule from gas used of
//! 20,793,000 / 14,628,000 / 29,982,000 / 9,036,000 / 16,563,000 out of 30,000,000.

use agent_io::testing::{check_metadata, envelope, metadata, run};
use serde_json::{Value, json};

mod live;

const BIN: &str = env!("CARGO_BIN_EXE_agent-gas-advisor");
const FEE_HISTORY: &str = include_str!("data/fee-history.json");

fn fee_history() -> Value {
    serde_json::from_str(FEE_HISTORY).expect("fee history JSON")
}

#[test]
fn metadata_is_complete_and_small() {
    check_metadata(&metadata(env!("CARGO_MANIFEST_DIR")));
}

#[test]
fn advises_on_a_mainnet_like_fee_history() {
    let meta = metadata(env!("CARGO_MANIFEST_DIR"));
    let input = json!({
        "feeHistory": fee_history(),
        "rewardPercentiles": [10, 50, 90],
        "urgency": "high",
        "gasLimit": 21000
    });
    agent_io::schema::check(&meta["inputSchema"], &input).expect("example input fits the input schema");

    let run = run(BIN, &envelope(input));
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    let out = run.json();
    agent_io::schema::check(&meta["outputSchema"], &out).expect("output fits the output schema");
    assert!(run.stderr.contains("5 blocks up to 20598576, next base fee 14126296331 wei"), "{}", run.stderr);

    assert_eq!(out["latestBlock"], "20598576");
    assert_eq!(out["blocks"], 5);
    assert_eq!(
        out["baseFee"],
        json!({
            "current": "13944667043",
            "next": "14126296331",
            "nextGwei": "14.126296331",
            // Our EIP-1559 computation from the newest block agrees with the node's to the wei.
            "computedNext": "14126296331",
            "source": "feeHistory",
            "nextIfFull": "15892083372",
            "nextIfEmpty": "12360509290"
        })
    );
    // Medians over the five blocks of the 10th / 50th / 90th percentile rewards.
    let tiers = out["tiers"].as_array().expect("tiers");
    let fields = |k: &str| tiers.iter().map(|t| t[k].clone()).collect::<Vec<_>>();
    assert_eq!(fields("speed"), [json!("slow"), json!("standard"), json!("fast")]);
    assert_eq!(fields("percentile"), [json!(10.0), json!(50.0), json!(90.0)]);
    assert_eq!(fields("maxPriorityFeePerGas"), [json!("50000000"), json!("1100000000"), json!("2500000000")]);
    assert_eq!(fields("maxFeePerGas"), [json!("28302592662"), json!("29352592662"), json!("30752592662")]);
    assert_eq!(fields("maxPriorityFeePerGasGwei"), [json!("0.05"), json!("1.1"), json!("2.5")]);
    assert_eq!(fields("fullBlocksHeadroom"), [json!(5), json!(5), json!(5)]);
    for tier in tiers {
        for key in ["maxPriorityFeePerGas", "maxFeePerGas"] {
            assert!(tier[key].as_str().is_some_and(|s| s.bytes().all(|b| b.is_ascii_digit())), "{tier}");
        }
    }
    assert_eq!(
        out["recommendation"],
        json!({
            "urgency": "high",
            "speed": "fast",
            "maxPriorityFeePerGas": "2500000000",
            "maxFeePerGas": "30752592662",
            "expectedCostWei": "349152222951000",
            "maxCostWei": "645804445902000"
        })
    );
    assert_eq!(
        out["trend"],
        json!({
            "direction": "rising",
            "baseFeeChangeBps": 1316,
            "minBaseFee": "12483201552",
            "maxBaseFee": "14673963004",
            "averageGasUsedRatio": 0.6067,
            "congestion": "normal"
        })
    );
}

#[test]
fn invalid_input_exits_2_with_a_clear_message() {
    let mut no_reward = fee_history();
    no_reward.as_object_mut().expect("object").remove("reward");
    let mut bad_hex = fee_history();
    bad_hex["baseFeePerGas"][2] = json!("0xzz");
    let mut short = fee_history();
    short["baseFeePerGas"].as_array_mut().expect("array").truncate(3);
    for (input, message) in [
        (json!({ "feeHistory": no_reward }), "feeHistory.reward is missing"),
        (json!({ "feeHistory": bad_hex }), "\"0xzz\" is not a hex (0x…) or decimal integer quantity"),
        (json!({ "feeHistory": short }), "feeHistory.baseFeePerGas has 3 entries for 5 blocks"),
        (json!({ "feeHistory": fee_history(), "urgency": "asap" }), "unknown variant `asap`"),
    ] {
        let run = run(BIN, &envelope(input.clone()));
        assert_eq!(run.code, Some(2), "{input}: stderr {}", run.stderr);
        assert!(run.stderr.contains(message), "{message}: stderr {}", run.stderr);
    }
}

/// The shipped example (live mode) runs through the proxy against anvil and fits both schemas.
#[test]
fn example_input_runs() {
    let chain = live::Chain::start(0);
    let net = chain.net();
    agent_io::testing::check_example_runs_with_env(
        env!("CARGO_MANIFEST_DIR"),
        BIN,
        &[("NEXUS_EGRESS_SOCKET", net.socket().as_os_str())],
    );
}
