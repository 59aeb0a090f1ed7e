//! Live mode: `eth_feeHistory` through the real egress proxy (`AgentNet`), the real RPC origin
//! routed to a private anvil whose blocks are empty, so every value follows from anvil's
//! genesis base fee (1 gwei) and the EIP-1559 rule by hand (checked against anvil 1.7's
//! `eth_feeHistory` answer).

use agent_gas_advisor::live::RPC_URL;
use agent_io::testing::{envelope, metadata, run, run_with_env};
use alloy::node_bindings::{Anvil, AnvilInstance};
use alloy::providers::ProviderBuilder;
use alloy::providers::ext::AnvilApi;
use nexus_sandbox::harness::AgentNet;
use serde_json::{Value, json};

use super::BIN;

pub struct Chain {
    anvil: AnvilInstance,
}

impl Chain {
    /// Anvil with `blocks` empty blocks mined after genesis.
    pub fn start(blocks: u64) -> Self {
        let anvil = Anvil::new().path(nexus_testkit::foundry_tool("anvil").expect("anvil")).spawn();
        if blocks > 0 {
            let provider = ProviderBuilder::new().connect_http(anvil.endpoint_url());
            let rt = tokio::runtime::Runtime::new().expect("runtime");
            rt.block_on(provider.anvil_mine(Some(blocks), None)).expect("mine");
        }
        Chain { anvil }
    }

    pub fn net(&self) -> AgentNet {
        AgentNet::builder(&metadata(env!("CARGO_MANIFEST_DIR")))
            .route(RPC_URL, &self.anvil.endpoint())
            .start()
            .expect("harness")
    }
}

fn run_on(net: &AgentNet, input: Value) -> agent_io::testing::Run {
    run_with_env(BIN, &envelope(input), &[("NEXUS_EGRESS_SOCKET", net.socket().as_os_str())])
}

#[test]
fn advises_on_the_live_fee_history() {
    let chain = Chain::start(4);
    let net = chain.net();
    let run = run_on(&net, json!({ "live": { "blocks": 5, "percentiles": [10, 50, 90] }, "gasLimit": 21000 }));
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    let out = run.json();
    agent_io::schema::check(&metadata(env!("CARGO_MANIFEST_DIR"))["outputSchema"], &out).expect("output schema");
    assert!(run.stderr.contains("(live)"), "{}", run.stderr);
    // Blocks 0..=4, all empty. Anvil's block 1 keeps the genesis base fee (1 gwei); from then
    // on each base fee is the previous minus floor(previous / 8): 875_000_000, 765_625_000,
    // 669_921_875, next 586_181_641.
    assert_eq!(out["latestBlock"], "4");
    assert_eq!(out["blocks"], 5);
    assert_eq!(
        out["baseFee"],
        json!({
            "current": "669921875", "next": "586181641", "nextGwei": "0.586181641",
            "computedNext": "586181641", "source": "feeHistory",
            // +/- floor(586_181_641 / 8) = 73_272_705.
            "nextIfFull": "659454346", "nextIfEmpty": "512908936"
        })
    );
    // No transactions: every tip is 0, maxFeePerGas = 2 x next base fee.
    assert_eq!(
        out["recommendation"],
        json!({
            "urgency": "medium", "speed": "standard", "maxPriorityFeePerGas": "0", "maxFeePerGas": "1172363282",
            "expectedCostWei": (21_000u64 * 586_181_641).to_string(), "maxCostWei": (21_000u64 * 1_172_363_282).to_string()
        })
    );
    assert_eq!(out["tiers"][2]["percentile"], json!(90.0));
    // (586_181_641 - 1e9) * 10_000 / 1e9 = -4138.2, truncated.
    assert_eq!(out["trend"]["baseFeeChangeBps"], -4138);
    assert_eq!(out["trend"]["direction"], "falling");
    assert_eq!(out["trend"]["congestion"], "low");
    std::thread::sleep(std::time::Duration::from_millis(100));
    let records = net.records();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!((records[0].method.as_str(), records[0].host.as_str()), ("POST", "ethereum-rpc.publicnode.com"));
}

#[test]
fn live_failures_exit_with_the_contract_codes() {
    // No egress socket (the smoke run's case); an input history still needs none.
    let run = run(BIN, &envelope(json!({ "live": {} })));
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("no network"), "{}", run.stderr);

    let chain = Chain::start(0);
    let net = chain.net();
    for (input, message) in [
        (json!({ "live": { "blocks": 0 } }), "live.blocks must be between 1 and 1024"),
        (json!({ "live": {}, "rewardPercentiles": [50] }), "give either live or feeHistory"),
        (json!({ "live": { "percentiles": [90, 10] } }), "ascending"),
        (json!({ "live": { "block": 5 } }), "unknown field `block`"),
        (json!({ "urgency": "high" }), "give feeHistory (an eth_feeHistory result), or live"),
    ] {
        let run = run_on(&net, input.clone());
        assert_eq!(run.code, Some(2), "{input}: stderr {}", run.stderr);
        assert!(run.stderr.contains(message), "{message}: stderr {}", run.stderr);
    }
}
