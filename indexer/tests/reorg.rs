//! Reorgs through anvil's `evm_snapshot`/`evm_revert`: index a branch, revert it, mine a
//! different (longer, or shorter) branch, index again. After each round the database must equal
//! both the contracts' views and a clean index of the final chain; a reorg deeper than the
//! configured limit must stop the indexer with `ReorgTooDeep`. Four scripted rounds (longer and
//! shorter winners) are followed by eight pseudo-random ones of depth 1 to 10.

mod common;

use alloy::primitives::{Address, B256, U256, Uint, keccak256};
use alloy::providers::ext::AnvilApi;
use nexus_bindings::AgentMarketplace;
use nexus_bindings::agent::Category;
use nexus_bindings::registry::{AgentRegistry, IAgentRegistry};
use nexus_indexer::{IndexerError, Progress};
use nexus_testkit::{Devnet, Postgres};

macro_rules! send {
    ($call:expr) => {{
        let receipt = $call.send().await.expect("send").get_receipt().await.expect("receipt");
        assert!(receipt.status(), "transaction reverted");
        receipt
    }};
}

const PRICE: u64 = 1_000_000_000_000_000;

#[tokio::test]
async fn rolls_back_to_the_common_ancestor() {
    let devnet = Devnet::start().await.expect("devnet");
    let pg = Postgres::start().expect("postgres");
    let d = devnet.deployments.contracts.clone();
    let anvil = devnet.dev_provider(0);
    let accounts: Vec<Address> = (0..10).map(|i| devnet.signer(i).address()).collect();

    let mut indexer = common::indexer(&devnet, &pg, "follow", |_| {}).await;
    let mut shallow = common::indexer(&devnet, &pg, "shallow", |c| c.max_reorg_depth = 2).await;

    let curator = AgentRegistry::new(d.agent_registry, devnet.dev_provider(0));
    send!(curator.registerAgent(IAgentRegistry::AgentParams {
        developer: accounts[6],
        paymentToken: Address::ZERO,
        price: Uint::from(PRICE),
        maxDuration: 30,
        category: Category::Crypto.into(),
        imageDigest: B256::repeat_byte(1),
        metadataURI: "data:application/json,{}".into(),
    }));
    // A fresh provider per transaction: alloy caches nonces per provider, and a revert rewinds them.
    let market = |i: usize| AgentMarketplace::new(d.agent_marketplace, devnet.dev_provider(i));
    let credit = nexus_bindings::credit_id::encode(U256::from(1), U256::from(PRICE));
    send!(market(3).purchase(U256::from(1), U256::from(5), U256::from(PRICE)).value(U256::from(PRICE * 5)));
    indexer.sync().await.expect("sync");
    shallow.sync().await.expect("sync");

    // Rounds of (branch that gets abandoned, branch that wins). `extra` empty blocks make the
    // winner longer; 0 with a short winner exercises a head that moved backwards.
    let mut round_number = 0u64;
    for (abandoned_txs, winning_txs, extra) in [(1usize, 2usize, 1u64), (3, 1, 0), (4, 0, 0), (2, 3, 2)] {
        round_number += 1;
        let snapshot = anvil.anvil_snapshot().await.expect("snapshot");
        // Abandoned branch: requests and settlements, a purchase by someone else.
        for i in 0..abandoned_txs {
            match i % 3 {
                0 => {
                    let r = send!(market(3).requestExecution(credit, keccak256([round_number as u8, i as u8])));
                    let e = r.decoded_log::<AgentMarketplace::ExecutionRequested>().expect("requested").data;
                    send!(market(1).settle(e.requestId, e.execution(), true, B256::ZERO));
                }
                1 => {
                    send!(market(4).purchase(U256::from(1), U256::from(1), U256::from(PRICE)).value(U256::from(PRICE)));
                }
                _ => {
                    send!(market(3).cancel(credit, U256::from(1)));
                }
            }
        }
        indexer.sync().await.expect("sync abandoned branch");
        assert!(anvil.anvil_revert(snapshot).await.expect("revert"));
        // Winning branch: different transactions.
        for i in 0..winning_txs {
            if i % 2 == 0 {
                send!(market(5).purchase(U256::from(1), U256::from(2), U256::from(PRICE)).value(U256::from(PRICE * 2)));
            } else {
                let r = send!(market(3).requestExecution(credit, keccak256([0xff, round_number as u8, i as u8])));
                let e = r.decoded_log::<AgentMarketplace::ExecutionRequested>().expect("requested").data;
                send!(market(1).settle(e.requestId, e.execution(), false, B256::ZERO));
            }
        }
        if extra > 0 {
            anvil.anvil_mine(Some(extra), None).await.expect("mine");
        }
        let head = common::head(&devnet).await;
        let mut rollbacks = 0;
        loop {
            match indexer.step().await.expect("step on the winning branch") {
                Progress::RolledBack(_) => rollbacks += 1,
                Progress::CaughtUp(n) => {
                    assert_eq!(n, head, "round {round_number}");
                    break;
                }
                Progress::Applied(_) => {}
            }
        }
        assert_eq!(rollbacks, 1, "round {round_number}: one reorg, one rollback");
        common::assert_matches_chain(&devnet, indexer.pool(), &accounts).await;

        let mut clean = common::indexer(&devnet, &pg, &format!("clean{round_number}"), |_| {}).await;
        clean.sync().await.expect("clean index");
        common::assert_same_projections(indexer.pool(), clean.pool()).await;
    }

    // Pseudo-random rounds: abandon 1..=10 blocks, win with 0..=10 different ones (a winner no
    // longer than the loser included), indexing part of the time in between.
    let mut seed = 0x2545_f491u64;
    let mut next = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    for round in 0..8u64 {
        let snapshot = anvil.anvil_snapshot().await.expect("snapshot");
        let depth = 1 + next(10);
        for _ in 0..depth {
            send!(market(4).purchase(U256::from(1), U256::from(1), U256::from(PRICE)).value(U256::from(PRICE)));
        }
        indexer.sync().await.expect("sync abandoned branch");
        assert!(anvil.anvil_revert(snapshot).await.expect("revert"));
        let winning = next(11);
        for _ in 0..winning {
            send!(market(5).purchase(U256::from(1), U256::from(3), U256::from(PRICE)).value(U256::from(PRICE * 3)));
        }
        let head = common::head(&devnet).await;
        assert_eq!(indexer.sync().await.expect("sync winner"), head, "random round {round} (depth {depth})");
        common::assert_matches_chain(&devnet, indexer.pool(), &accounts).await;
    }
    let mut clean = common::indexer(&devnet, &pg, "clean_final", |_| {}).await;
    clean.sync().await.expect("clean index");
    common::assert_same_projections(indexer.pool(), clean.pool()).await;

    // Deeper than the shallow indexer's limit of 2: it must refuse to continue.
    shallow.sync().await.expect("shallow catches up");
    let snapshot = anvil.anvil_snapshot().await.expect("snapshot");
    for _ in 0..4 {
        send!(market(4).purchase(U256::from(1), U256::from(1), U256::from(PRICE)).value(U256::from(PRICE)));
    }
    shallow.sync().await.expect("shallow follows");
    assert!(anvil.anvil_revert(snapshot).await.expect("revert"));
    for _ in 0..5 {
        send!(market(5).purchase(U256::from(1), U256::from(1), U256::from(PRICE)).value(U256::from(PRICE)));
    }
    match shallow.sync().await {
        Err(IndexerError::ReorgTooDeep { limit: 2, .. }) => {}
        other => panic!("expected ReorgTooDeep, got {other:?}"),
    }
}
