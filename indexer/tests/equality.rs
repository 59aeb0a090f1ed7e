//! Equality: a scripted marketplace history (several agents and buyers, ETH and USDC purchases,
//! executions settled both ways, a reclaim after the deadline, cancels, withdrawals, price and
//! status changes, a fee change) indexed live while it happens, then every projection compared
//! with the contracts' view functions; and a second, from-scratch backfill of the same chain (in
//! small ranges, journal off) must produce identical projections.

mod common;

use std::time::Duration;

use alloy::primitives::{Address, B256, U256, Uint, keccak256};
use alloy::providers::Provider;
use alloy::providers::ext::AnvilApi;
use nexus_bindings::AgentMarketplace;
use nexus_bindings::TestUSDC;
use nexus_bindings::agent::{Category, Status};
use nexus_bindings::registry::{AgentRegistry, IAgentRegistry};
use nexus_testkit::{Devnet, Postgres};

macro_rules! send {
    ($call:expr) => {{
        let receipt = $call.send().await.expect("send").get_receipt().await.expect("receipt");
        assert!(receipt.status(), "transaction reverted");
        receipt
    }};
}

const ETH: Address = Address::ZERO;

fn params(developer: Address, token: Address, price: u64, uri: &str) -> IAgentRegistry::AgentParams {
    IAgentRegistry::AgentParams {
        developer,
        paymentToken: token,
        price: Uint::from(price),
        maxDuration: 30,
        category: Category::General.into(),
        imageDigest: B256::repeat_byte(7),
        metadataURI: uri.into(),
    }
}

#[tokio::test]
async fn projections_equal_contract_views() {
    let devnet = Devnet::start().await.expect("devnet");
    let pg = Postgres::start().expect("postgres");
    let d = devnet.deployments.contracts.clone();

    // Live over the websocket endpoint: newHeads wake-ups, polling only as a (slow) fallback.
    let ws_url = devnet.ws_url();
    let live = common::indexer(&devnet, &pg, "live", |c| {
        c.rpc_url = ws_url;
        c.poll_interval = Duration::from_secs(120); // so catching up proves the wake-ups work
    })
    .await;
    let live_pool = live.pool().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut live = live;
    let live_task = tokio::spawn(async move {
        live.run(async {
            let _ = stopped.await;
        })
        .await
    });

    // One provider per sending account: alloy caches nonces per provider.
    let admin = devnet.dev_provider(0);
    let curator = AgentRegistry::new(d.agent_registry, admin.clone());
    let relayer = AgentMarketplace::new(d.agent_marketplace, devnet.dev_provider(1));
    let admin_market = AgentMarketplace::new(d.agent_marketplace, admin.clone());
    let (dev_a, dev_b) = (devnet.signer(6).address(), devnet.signer(7).address());
    let buyers: Vec<Address> = (3..6).map(|i| devnet.signer(i).address()).collect();
    let market = |i: usize| AgentMarketplace::new(d.agent_marketplace, devnet.dev_provider(i));

    // Agents: 1 ETH, 2 USDC, 3 ETH (inline metadata with a name for the search column).
    let eth_price = 10_000_000_000_000_000u64;
    let usdc_price = 1_000_000u64;
    send!(curator.registerAgent(params(
        dev_a,
        ETH,
        eth_price,
        r#"data:application/json,{"name":"Echo","description":"repeats","tags":["test"]}"#
    )));
    send!(curator.registerAgent(params(dev_b, d.usdc, usdc_price, "ipfs://bafy-agent-two")));
    send!(curator.registerAgent(params(dev_a, ETH, 5_000_000_000_000_000, "data:,not json")));

    // Purchases in ETH and USDC.
    let m3 = market(3);
    let m4 = market(4);
    let m5 = market(5);
    let cost = |p: u64, n: u64| U256::from(p) * U256::from(n);
    send!(m3.purchase(U256::from(1), U256::from(3), U256::from(eth_price)).value(cost(eth_price, 3)));
    let usdc4 = TestUSDC::new(d.usdc, devnet.dev_provider(4));
    send!(usdc4.mint(buyers[1], cost(usdc_price, 10)));
    send!(usdc4.approve(d.agent_marketplace, cost(usdc_price, 10)));
    send!(m4.purchase(U256::from(2), U256::from(4), U256::from(usdc_price)));
    send!(m5.purchase(U256::from(1), U256::from(2), U256::from(eth_price)).value(cost(eth_price, 2)));
    send!(
        m5.purchase(U256::from(3), U256::from(2), U256::from(5_000_000_000_000_000u64))
            .value(cost(5_000_000_000_000_000, 2))
    );

    // The developer changes the price: later purchases get a new credit id.
    let new_price = 20_000_000_000_000_000u64;
    let dev_registry = AgentRegistry::new(d.agent_registry, devnet.dev_provider(6));
    send!(dev_registry.updateAgent(
        U256::from(1),
        Uint::from(new_price),
        60,
        B256::repeat_byte(8),
        r#"data:application/json,{"name":"Echo 2"}"#.into()
    ));
    send!(m3.purchase(U256::from(1), U256::from(1), U256::from(new_price)).value(cost(new_price, 1)));

    // Executions: r1..r3 by buyer 3 (agent 1, old price), r4..r6 by buyer 4 (agent 2), r7 by buyer 5.
    let old_credit = nexus_bindings::credit_id::encode(U256::from(1), U256::from(eth_price));
    let usdc_credit = nexus_bindings::credit_id::encode(U256::from(2), U256::from(usdc_price));
    let agent3_credit = nexus_bindings::credit_id::encode(U256::from(3), U256::from(5_000_000_000_000_000u64));
    let mut requests = Vec::new();
    for (m, credit) in [(&m3, old_credit), (&m3, old_credit), (&m3, old_credit)].into_iter().chain([
        (&m4, usdc_credit),
        (&m4, usdc_credit),
        (&m4, usdc_credit),
        (&m5, agent3_credit),
    ]) {
        let receipt = send!(m.requestExecution(credit, keccak256(credit.to_be_bytes::<32>())));
        requests.push(receipt.decoded_log::<AgentMarketplace::ExecutionRequested>().expect("requested").data);
    }
    // A fee change between settlements.
    send!(relayer.settle(requests[0].requestId, requests[0].execution(), true, keccak256(b"out1")));
    send!(admin_market.setFeeBps(500));
    send!(relayer.settle(requests[1].requestId, requests[1].execution(), false, B256::ZERO));
    send!(relayer.settle(requests[3].requestId, requests[3].execution(), true, keccak256(b"out4")));
    send!(relayer.settle(requests[4].requestId, requests[4].execution(), false, B256::ZERO));

    // Past the deadlines: buyer 3 reclaims r3, buyer 4 reclaims r6; r7 stays open.
    let anvil = devnet.dev_provider(0);
    anvil.anvil_increase_time(10_000).await.expect("increase time");
    anvil.anvil_mine(Some(1), None).await.expect("mine");
    send!(m3.reclaim(requests[2].requestId, requests[2].execution()));
    send!(m4.reclaim(requests[5].requestId, requests[5].execution()));

    // Cancels (buyer 4: one USDC credit; buyer 5: one agent-1 credit).
    send!(m4.cancel(usdc_credit, U256::from(1)));
    send!(m5.cancel(old_credit, U256::from(1)));

    // Status changes: agent 3 paused, back to active, retired.
    let curator_set = |s: Status| curator.setStatus(U256::from(3), s.into());
    send!(curator_set(Status::Paused));
    send!(curator_set(Status::Active));
    send!(curator_set(Status::Retired));

    // Withdrawals: the developer (ETH), buyer 4 (USDC refunds), the treasury to another address.
    send!(market(6).withdraw(ETH));
    send!(m4.withdraw(d.usdc));
    send!(market(2).withdrawTo(ETH, buyers[0]));

    let accounts: Vec<Address> = (0..10).map(|i| devnet.signer(i).address()).collect();
    let head = common::head(&devnet).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let cursor: Option<i64> = sqlx::query_scalar("SELECT block_number FROM chain_cursor")
            .fetch_optional(&live_pool)
            .await
            .expect("cursor");
        if cursor == Some(head as i64) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "live indexer did not catch up (at {cursor:?}, head {head})");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    common::assert_matches_chain(&devnet, &live_pool, &accounts).await;

    // Metadata: inline JSON resolved (and searchable), IPFS pending, bad JSON failed.
    let statuses: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT metadata_status, name FROM agents ORDER BY agent_id")
            .fetch_all(&live_pool)
            .await
            .unwrap();
    assert_eq!(statuses, vec![("ok".into(), Some("Echo 2".into())), ("pending".into(), None), ("failed".into(), None)]);
    let found: i64 = sqlx::query_scalar("SELECT count(*) FROM agents WHERE search @@ to_tsquery('simple', 'echo')")
        .fetch_one(&live_pool)
        .await
        .unwrap();
    assert_eq!(found, 1);
    let statuses: Vec<String> =
        sqlx::query_scalar("SELECT status FROM executions ORDER BY request_id").fetch_all(&live_pool).await.unwrap();
    assert_eq!(statuses, ["Succeeded", "Failed", "Reclaimed", "Succeeded", "Failed", "Reclaimed", "Requested"]);

    let _ = stop.send(());
    live_task.await.expect("join").expect("live indexer failed");

    // A clean backfill of the same chain, in small ranges, equals the live index.
    let mut backfill = common::indexer(&devnet, &pg, "backfill", |c| {
        c.max_reorg_depth = 2;
        c.max_block_range = 4;
    })
    .await;
    assert_eq!(backfill.sync().await.expect("backfill"), head);
    common::assert_same_projections(&live_pool, backfill.pool()).await;
    // Re-running changes nothing.
    assert_eq!(backfill.sync().await.expect("resync"), head);
    common::assert_same_projections(&live_pool, backfill.pool()).await;

    // Status endpoints over the backfilled indexer.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(nexus_indexer::status::serve(listener, backfill.metrics(), std::future::pending()));
    let http = alloy::transports::http::reqwest::Client::new();
    let get = |path: &str| http.get(format!("http://{addr}{path}")).send();
    assert_eq!(get("/health").await.expect("health").status(), 200);
    assert_eq!(get("/ready").await.expect("ready").status(), 200);
    let metrics = get("/metrics").await.expect("metrics").text().await.expect("body");
    assert!(metrics.contains(&format!("nexus_indexer_cursor_block {head}\n")), "{metrics}");
    assert!(metrics.contains("nexus_indexer_ready 1\n"), "{metrics}");
    let _ = anvil.get_block_number().await;
}
