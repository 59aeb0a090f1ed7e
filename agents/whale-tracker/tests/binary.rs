//! Runs the built `agent-whale-tracker` through the real egress proxy ([`AgentNet`]), with the
//! real RPC origin routed to a private anvil (the AgentNexus devnet, whose TestUSDC is a plain
//! OpenZeppelin ERC-20) or to a stub node that refuses wide `eth_getLogs` ranges. Expected
//! values are worked out by hand from the transfers each test makes.

mod support;

use std::ffi::OsStr;

use agent_io::testing::{check_metadata, envelope, metadata, run, run_with_env};
use agent_whale_tracker::RPC_URL;
use alloy::primitives::{Address, U256, address};
use alloy::providers::Provider;
use nexus_bindings::TestUSDC;
use nexus_sandbox::harness::AgentNet;
use nexus_testkit::Devnet;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_agent-whale-tracker");
/// A built-in label ("Binance 14").
const BINANCE_14: Address = address!("28C6c06298d514Db089934071355E5743bf21d60");

fn meta() -> Value {
    metadata(env!("CARGO_MANIFEST_DIR"))
}

fn run_on(net: &AgentNet, input: Value) -> agent_io::testing::Run {
    run_with_env(BIN, &envelope(input), &[("NEXUS_EGRESS_SOCKET", net.socket().as_os_str())])
}

/// USDC with 6 decimals.
fn usdc(whole: u64) -> U256 {
    U256::from(whole) * U256::from(1_000_000u64)
}

#[test]
fn metadata_is_complete_and_small() {
    check_metadata(&meta());
}

#[test]
fn finds_large_transfers_on_a_devnet_through_the_proxy() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let devnet = rt.block_on(Devnet::start()).expect("devnet");
    let token = devnet.deployments.contracts.usdc;
    let (a4, a5, a6, a7) = (
        devnet.signer(4).address(),
        devnet.signer(5).address(),
        devnet.signer(6).address(),
        devnet.signer(7).address(),
    );
    let first = rt.block_on(async {
        let first = devnet.dev_provider(4).get_block_number().await.expect("head") + 1;
        let (u4, u5, u6) = (
            TestUSDC::new(token, devnet.dev_provider(4)),
            TestUSDC::new(token, devnet.dev_provider(5)),
            TestUSDC::new(token, devnet.dev_provider(6)),
        );
        macro_rules! send {
            ($call:expr) => {{
                let receipt = $call.send().await.expect("send").get_receipt().await.expect("receipt");
                assert!(receipt.status(), "transaction reverted");
            }};
        }
        // One transaction per block (anvil automines): blocks first .. first + 5.
        send!(u4.mint(a4, usdc(10_000_000)));
        send!(u4.transfer(a5, usdc(2_500_000)));
        send!(u4.transfer(a6, usdc(750_000)));
        send!(u4.transfer(BINANCE_14, usdc(3_000_000)));
        send!(u5.transfer(a6, usdc(1_000_000)));
        send!(u6.transfer(a7, usdc(1_000_000) - U256::from(1u64)));
        first
    });

    let net = AgentNet::builder(&meta()).route(RPC_URL, &devnet.rpc_url()).start().expect("harness");
    let no_code = Address::repeat_byte(0x42);
    let mut labels = serde_json::Map::new();
    labels.insert(a5.to_string(), json!("desk five"));
    let input = json!({
        "tokens": [{ "address": token, "minAmount": "1000000" }, { "address": no_code, "decimals": 18 }],
        "fromBlock": first,
        "labels": labels,
    });
    agent_io::schema::check(&meta()["inputSchema"], &input).expect("input fits the schema");
    let run = run_on(&net, input);
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    let out = run.json();
    agent_io::schema::check(&meta()["outputSchema"], &out).expect("output fits the schema");

    // eth_blockNumber (no toBlock), one metadata batch, one eth_getLogs.
    assert_eq!(out["range"], json!({ "fromBlock": first, "toBlock": first + 5, "requests": 3, "splits": 0 }));
    assert_eq!(
        out["tokens"][0],
        json!({
            "address": token, "symbol": "USDC", "decimals": 6, "transfers": 6,
            "volume": "18249999.999999", "threshold": "1000000", "thresholdSource": "minAmount",
            "largeTransfers": 4, "largeVolume": "16500000"
        })
    );
    // decimals() of an address without code fails: the input's decimals stand in.
    assert_eq!(
        out["tokens"][1],
        json!({
            "address": no_code, "symbol": null, "decimals": 18, "transfers": 0, "volume": "0",
            "threshold": null, "thresholdSource": "percentile", "largeTransfers": 0, "largeVolume": "0"
        })
    );
    let movements: Vec<(String, Value, Value, u64)> = out["movements"]
        .as_array()
        .expect("movements")
        .iter()
        .map(|m| {
            (
                m["amount"].as_str().unwrap_or_default().to_owned(),
                m["from"].clone(),
                m["to"].clone(),
                m["blockNumber"].as_u64().unwrap_or(0) - first,
            )
        })
        .collect();
    assert_eq!(
        movements,
        [
            ("10000000".to_owned(), json!(Address::ZERO), json!(a4), 0),
            ("3000000".to_owned(), json!(a4), json!(BINANCE_14), 3),
            ("2500000".to_owned(), json!(a4), json!(a5), 1),
            ("1000000".to_owned(), json!(a5), json!(a6), 4),
        ]
    );
    assert_eq!(out["movements"][0]["fromLabel"], json!({ "name": "Zero address (mint/burn)", "source": "builtIn" }));
    assert_eq!(out["movements"][1]["toLabel"], json!({ "name": "Binance 14", "source": "builtIn" }));
    assert_eq!(out["movements"][2]["toLabel"], json!({ "name": "desk five", "source": "input" }));
    assert_eq!(out["movements"][0]["rawAmount"], "10000000000000");

    // Flows over the large transfers, by gross volume.
    let flows: Vec<(Value, &str, &str, &str, u64)> = out["addresses"]
        .as_array()
        .expect("addresses")
        .iter()
        .map(|f| {
            (
                f["address"].clone(),
                f["received"].as_str().unwrap_or_default(),
                f["sent"].as_str().unwrap_or_default(),
                f["net"].as_str().unwrap_or_default(),
                f["transfers"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        flows,
        [
            (json!(a4), "10000000", "5500000", "4500000", 3),
            (json!(Address::ZERO), "0", "10000000", "-10000000", 1),
            (json!(a5), "2500000", "1000000", "1500000", 2),
            (json!(BINANCE_14), "3000000", "0", "3000000", 1),
            (json!(a6), "1000000", "0", "1000000", 1),
        ]
    );

    // Every call went to the real host name, through the proxy.
    std::thread::sleep(std::time::Duration::from_millis(100));
    let records = net.records();
    assert_eq!(records.len(), 3, "{records:?}");
    assert!(records.iter().all(|r| r.method == "POST" && r.host == "ethereum-rpc.publicnode.com"), "{records:?}");
}

#[test]
fn splits_ranges_a_provider_refuses() {
    let stub = support::start(4);
    let net = AgentNet::builder(&meta()).route(RPC_URL, &stub.url).start().expect("harness");
    // Blocks 3..=12 (10 blocks), one transfer per block of b * 1e6 base units = b STUB.
    let run = run_on(
        &net,
        json!({ "tokens": [{ "address": support::TOKEN }], "fromBlock": 3, "toBlock": 12, "percentile": 80 }),
    );
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    let out = run.json();
    // 10 refused, 5 refused, then spans of 2: 3-4, 5-6, ..., 11-12.
    assert_eq!(*stub.ranges.lock().expect("ranges"), [(3, 12), (3, 7), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12)]);
    assert_eq!(out["range"], json!({ "fromBlock": 3, "toBlock": 12, "requests": 8, "splits": 2 }));
    // Nothing lost: 3 + ... + 12 = 75; 80th percentile of 3..=12 by nearest rank is the 8th: 10.
    assert_eq!(out["tokens"][0]["volume"], "75");
    assert_eq!(out["tokens"][0]["symbol"], "STUB");
    assert_eq!(out["tokens"][0]["threshold"], "10");
    let amounts: Vec<&str> = out["movements"]
        .as_array()
        .expect("movements")
        .iter()
        .map(|m| m["amount"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(amounts, ["12", "11", "10"]);

    // A request bound too small for the splitting fails the run instead of returning a gap.
    let run = run_on(
        &net,
        json!({ "tokens": [{ "address": support::TOKEN }], "fromBlock": 3, "toBlock": 12, "maxRequests": 4 }),
    );
    assert_eq!(run.code, Some(1), "stderr: {}", run.stderr);
    assert!(run.stderr.contains("more than 4 JSON-RPC requests"), "{}", run.stderr);
}

#[test]
fn failures_exit_with_the_contract_codes() {
    // No egress socket: the smoke run's case.
    let run = run(BIN, &envelope(json!({ "tokens": [{ "address": support::TOKEN }] })));
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("no network"), "{}", run.stderr);

    let stub = support::start(1000);
    let net = AgentNet::builder(&meta()).route(RPC_URL, &stub.url).start().expect("harness");
    let t = || json!({ "address": support::TOKEN });
    for (input, message) in [
        (json!({ "tokens": [] }), "tokens must list 1 to 8 tokens"),
        (json!({ "tokens": [{ "address": "0x12" }] }), "\"0x12\" is not an address"),
        (json!({ "tokens": [t(), t()] }), "is listed twice"),
        (json!({ "tokens": [t()], "percentile": 0 }), "percentile must be above 0"),
        (json!({ "tokens": [{ "address": support::TOKEN, "minAmount": "1.0000001" }] }), "more than 6 decimal places"),
        (json!({ "tokens": [t()], "toBlock": support::HEAD + 1 }), "the chain head (32)"),
        (json!({ "tokens": [t()], "fromBlock": 0, "toBlock": 200_000 }), "the range must be 1 to 100000 blocks"),
        (json!({ "tokens": [t()], "chain": "base" }), "unknown field `chain`"),
    ] {
        let run = run_on(&net, input.clone());
        assert_eq!(run.code, Some(2), "{input}: stderr {}", run.stderr);
        assert!(run.stderr.contains(message), "{message}: stderr {}", run.stderr);
    }

    // The node is down: a failure (refund), not an input error.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let net = AgentNet::builder(&meta()).route(RPC_URL, &dead).start().expect("harness");
    let run = run_on(&net, json!({ "tokens": [t()] }));
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("HTTP 502") || run.stderr.contains("HTTP 5"), "{}", run.stderr);
}

/// The shipped example runs against the stub (its tokens' decimals are in the input).
#[test]
fn example_input_runs() {
    let stub = support::start(1000);
    let net = AgentNet::builder(&meta()).route(RPC_URL, &stub.url).start().expect("harness");
    let socket: &OsStr = net.socket().as_os_str();
    agent_io::testing::check_example_runs_with_env(env!("CARGO_MANIFEST_DIR"), BIN, &[("NEXUS_EGRESS_SOCKET", socket)]);
}
