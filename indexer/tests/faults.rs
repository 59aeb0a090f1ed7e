//! Faults: PostgreSQL restarted (immediate shutdown, i.e. a crash) under a running indexer, twice,
//! while events keep coming; RPC endpoints dead or dying. The indexer must retry and fail over on
//! its own, and the end state must equal a clean index of the same chain.

mod common;

use alloy::primitives::{Address, B256, U256, Uint};
use nexus_bindings::AgentMarketplace;
use nexus_bindings::agent::Category;
use nexus_bindings::registry::{AgentRegistry, IAgentRegistry};
use nexus_testkit::{Devnet, Postgres};

const PRICE: u64 = 1_000_000_000;

macro_rules! send {
    ($call:expr) => {{
        let receipt = $call.send().await.expect("send").get_receipt().await.expect("receipt");
        assert!(receipt.status(), "transaction reverted");
    }};
}

/// Agent 1: ETH-priced at PRICE, paying `developer`.
async fn register_agent(devnet: &Devnet, developer: Address) {
    let curator = AgentRegistry::new(devnet.deployments.contracts.agent_registry, devnet.dev_provider(0));
    send!(curator.registerAgent(IAgentRegistry::AgentParams {
        developer,
        paymentToken: Address::ZERO,
        price: Uint::from(PRICE),
        maxDuration: 30,
        category: Category::General.into(),
        imageDigest: B256::repeat_byte(2),
        metadataURI: "ipfs://x".into(),
    }));
}

#[tokio::test]
async fn recovers_from_a_postgres_restart() {
    let devnet = Devnet::start().await.expect("devnet");
    let pg = Postgres::start().expect("postgres");
    let accounts: Vec<Address> = (0..10).map(|i| devnet.signer(i).address()).collect();
    let mut live = common::indexer(&devnet, &pg, "live", |_| {}).await;
    let pool = live.pool().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        live.run(async {
            let _ = stopped.await;
        })
        .await
    });

    register_agent(&devnet, accounts[6]).await;
    let market = AgentMarketplace::new(devnet.deployments.contracts.agent_marketplace, devnet.dev_provider(3));
    for round in 0..3 {
        for _ in 0..5 {
            send!(market.purchase(U256::from(1), U256::from(2), U256::from(PRICE)).value(U256::from(PRICE * 2)));
        }
        if round < 2 {
            pg.restart().expect("restart postgres");
        }
    }

    common::wait_for_cursor(&pool, common::head(&devnet).await, &task).await;
    let _ = stop.send(());
    task.await.expect("join").expect("indexer failed");

    common::assert_matches_chain(&devnet, &pool, &accounts).await;
    let mut clean = common::indexer(&devnet, &pg, "clean", |_| {}).await;
    clean.sync().await.expect("clean");
    common::assert_same_projections(&pool, clean.pool()).await;
}

/// A TCP relay to the node that can be cut: the "RPC endpoint" that dies under the indexer.
struct Relay {
    url: String,
    tasks: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Relay {
    async fn start(upstream: &str) -> Relay {
        let upstream = upstream.trim_start_matches("http://").to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let tasks: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>> = Default::default();
        let conns = tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let conn = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                conns.lock().expect("relay tasks").push(conn);
            }
        });
        tasks.lock().expect("relay tasks").push(accept);
        Relay { url, tasks }
    }

    /// Stops accepting and drops every open connection.
    fn cut(&self) {
        for task in self.tasks.lock().expect("relay tasks").drain(..) {
            task.abort();
        }
    }
}

/// The first endpoint is dead from the start (skipped at connect), the one in use dies while
/// the indexer runs: it moves on to the next endpoint of the same chain and catches up.
#[tokio::test]
async fn fails_over_to_the_next_rpc_endpoint() {
    let devnet = Devnet::start().await.expect("devnet");
    let pg = Postgres::start().expect("postgres");
    let accounts: Vec<Address> = (0..10).map(|i| devnet.signer(i).address()).collect();
    // Nothing listens on port 9 (discard) here: connection refused at once.
    let dead = "http://127.0.0.1:9".to_string();
    let relay = Relay::start(&devnet.rpc_url()).await;
    let mut indexer = common::indexer(&devnet, &pg, "failover", |c| {
        c.rpc_url = dead.clone();
        c.fallback_rpc_urls = vec![relay.url.clone(), dead.clone(), devnet.rpc_url()];
    })
    .await;
    let metrics = indexer.metrics();
    let pool = indexer.pool().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        indexer
            .run(async {
                let _ = stopped.await;
            })
            .await
    });

    let market = AgentMarketplace::new(devnet.deployments.contracts.agent_marketplace, devnet.dev_provider(3));
    register_agent(&devnet, accounts[6]).await;
    send!(market.purchase(U256::from(1), U256::from(3), U256::from(PRICE)).value(U256::from(PRICE * 3)));
    common::wait_for_cursor(&pool, common::head(&devnet).await, &task).await;
    let failovers = || nexus_status::sample(&metrics.render(), "nexus_indexer_rpc_failovers_total");
    assert_eq!(failovers(), Some(0.0), "still on the relay");

    relay.cut();
    for _ in 0..3 {
        send!(market.purchase(U256::from(1), U256::from(1), U256::from(PRICE)).value(U256::from(PRICE)));
    }
    common::wait_for_cursor(&pool, common::head(&devnet).await, &task).await;
    assert!(!task.is_finished(), "the indexer gave up");
    assert!(failovers().is_some_and(|n| n >= 1.0), "no failover counted");
    let _ = stop.send(());
    task.await.expect("join").expect("indexer failed");
    common::assert_matches_chain(&devnet, &pool, &accounts).await;
}
