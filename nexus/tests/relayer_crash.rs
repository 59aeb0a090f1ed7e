//! Crash safety of `nexus relayer`: 50 requests in flight while the real binary is SIGKILLed at
//! seeded random moments (`CRASH_SEED` replays a run) at least 20 times and restarted. Kills are
//! triggered by progress, not wall time, so they land in the same phases on fast and slow
//! machines: right after start-up, while a claimed request's container starts or runs, and just
//! after a settlement is mined (before the claim is marked done). In the end every request is
//! settled exactly once on-chain (one `ExecutionSettled` log each, no revert but a settle of an
//! already-settled request), the marketplace's balances reconcile to what the buyer paid, and no
//! container of a killed run is left behind.
//!
//! The indexer runs in-process (the shared relayer test stack); only the relayer is the child
//! process being killed.

#[path = "../../relayer/tests/common/mod.rs"]
mod common;

use nexus_testkit::rng::Rng;
use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEvent;
use common::{PRICE, Stack};
use nexus_bindings::AgentMarketplace;
use nexus_bindings::usdc::TestUSDC;

/// Requests in the test, all in flight while the relayer is being killed.
const REQUESTS: u64 = 50;
/// Requested before the first relayer starts; the rest arrive one per round, so some are picked
/// up by NOTIFY from a freshly restarted relayer.
const UPFRONT: u64 = 40;
/// SIGKILLs, and how many must land while requests are still open.
const ROUNDS: u64 = 24;
const MIN_KILLS_IN_FLIGHT: usize = 20;
/// Seconds each request's agent (hostile `sleep`) runs: long enough that kills land mid-run.
const AGENT_SECONDS: u64 = 1;
/// The relayer's lease in the child: short, so a killed relayer's claims are taken over within
/// seconds (the production default is 30 s). Renewed every third of it.
const LEASE_SECS: u64 = 3;
/// Longest wait for a progress trigger; past it the round kills anyway (e.g. every open request
/// is still leased by the previous, killed process).
const TRIGGER_TIMEOUT: Duration = Duration::from_secs(15);

fn spawn(stack: &Stack, deployments: &std::path::Path, config: &std::path::Path) -> Child {
    let key = alloy::hex::encode(stack.signer(1).to_bytes());
    Command::new(env!("CARGO_BIN_EXE_nexus"))
        .arg("relayer")
        .env("NEXUS_CONFIG", config)
        .env("NEXUS_RPC_URL", stack.devnet.rpc_url())
        .env("NEXUS_DATABASE_URL", &stack.url)
        .env("NEXUS_DEPLOYMENTS", deployments)
        .env("NEXUS_RELAYER_KEY", key)
        .env("NEXUS_RELAYER_STATUS_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn nexus relayer")
}

/// Claims ever made (a claim taken over after a crash counts again).
async fn claims(pool: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar("SELECT coalesce(sum(attempts), 0)::bigint FROM relayer_claims")
        .fetch_one(pool)
        .await
        .unwrap_or_default()
}

/// Requests the indexer has seen settled.
async fn settled(pool: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM executions WHERE status <> 'Requested'")
        .fetch_one(pool)
        .await
        .unwrap_or_default()
}

/// Waits until `probe` reaches `target` or [`TRIGGER_TIMEOUT`] passes; polled every 2 ms so the
/// kill lands close to the event.
async fn wait_for<F: std::future::Future<Output = i64>>(mut probe: impl FnMut() -> F, target: i64) -> bool {
    let deadline = Instant::now() + TRIGGER_TIMEOUT;
    while Instant::now() < deadline {
        if probe().await >= target {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    false
}

/// Containers (any state) of this test's relayers, found by the scope label every relayer of
/// this database puts on its containers: (id, owner) pairs.
fn containers(scope: &str) -> Vec<(String, String)> {
    let d = nexus_relayer::docker::LABEL_OWNER;
    let out = Command::new("docker")
        .args(["ps", "-a", "--filter", &format!("label={}={scope}", nexus_relayer::docker::LABEL_SCOPE)])
        .args(["--format", &format!("{{{{.ID}}}} {{{{.Label \"{d}\"}}}}")])
        .output()
        .expect("docker ps");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(' ').map(|(id, owner)| (id.to_string(), owner.to_string())))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_at_any_moment_settles_each_request_exactly_once() {
    let started = Instant::now();
    let stack = Stack::start("relayer_crash").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let deployments = dir.path().join("deployments.json");
    std::fs::write(&deployments, serde_json::to_vec(&stack.devnet.deployments).expect("json")).expect("write");
    let config = dir.path().join("nexus.toml");
    std::fs::write(&config, format!("[relayer]\nconcurrency = 4\nlease_secs = {LEASE_SECS}\n")).expect("write");

    let agent = stack.register("sleep", 30).await;
    let credit = stack.buy(agent, REQUESTS).await;
    let input = stack.upload(format!("{{\"seconds\": {AGENT_SECONDS}}}").as_bytes()).await;
    let mut ids = Vec::new();
    for _ in 0..UPFRONT {
        ids.push(stack.request(credit, input).await);
    }

    let mut rng = Rng::from_env_or_clock("CRASH_SEED");
    let seed = rng.seed();
    let pool = &stack.pool;
    let mut kills_in_flight = 0;
    for round in 0..ROUNDS {
        if (ids.len() as u64) < REQUESTS {
            ids.push(stack.request(credit, input).await);
        }
        let (claims_before, settled_before) = (claims(pool).await, settled(pool).await);
        let spawned = Instant::now();
        let mut child = spawn(&stack, &deployments, &config);
        // A random moment in one of three phases, chosen by the round.
        let phase = match round % 4 {
            // Start-up: connecting, migrating, the first claim.
            0 => {
                tokio::time::sleep(Duration::from_millis(rng.below(400))).await;
                "start-up"
            }
            // After this process's first claim: anywhere from the image inspect through the
            // container's run to the settle transaction (the agent runs AGENT_SECONDS).
            1 | 2 => {
                wait_for(|| claims(pool), claims_before + 1).await;
                tokio::time::sleep(Duration::from_millis(rng.below(AGENT_SECONDS * 1000 + 600))).await;
                "claimed"
            }
            // Right after a settlement is indexed: often before the claim is marked done, so the
            // next process finds a settled request it still holds or may claim again.
            _ => {
                wait_for(|| settled(pool), settled_before + 1 + rng.below(2) as i64).await;
                tokio::time::sleep(Duration::from_millis(rng.below(30))).await;
                "settled"
            }
        };
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        let open = ids.len() as i64 - settled(pool).await;
        eprintln!(
            "round {round}: killed in {phase} after {:?}; claims {}, settled {}/{}, open {open}",
            spawned.elapsed(),
            claims(pool).await,
            settled(pool).await,
            ids.len()
        );
        if open > 0 {
            kills_in_flight += 1;
        }
    }
    assert!(
        kills_in_flight >= MIN_KILLS_IN_FLIGHT,
        "only {kills_in_flight} kills with requests in flight (seed {seed})"
    );
    while (ids.len() as u64) < REQUESTS {
        ids.push(stack.request(credit, input).await);
    }

    // A last relayer finishes everything, and removes the killed runs' leftover containers.
    let scope = nexus_relayer::docker::scope(&stack.url);
    eprintln!("{} containers of killed runs before the last restart", containers(&scope).len());
    let mut child = spawn(&stack, &deployments, &config);
    let deadline = Instant::now() + Duration::from_secs(90);
    while settled(pool).await < REQUESTS as i64 {
        assert!(Instant::now() < deadline, "requests not all settled after the crashes (seed {seed})");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Killed runs' containers go once their lease expires; killed relayers' pre-started
    // containers once their warm_until (plus grace) passes: well within a minute.
    let last = format!("relayer-{}-", child.id());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left: Vec<_> = containers(&scope).into_iter().filter(|(_, owner)| !owner.starts_with(&last)).collect();
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "containers of killed relayers left behind: {left:?} (seed {seed})");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // The last relayer stops gracefully (Ctrl-C) and removes its own pre-started containers.
    let interrupted = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill -INT");
    assert!(interrupted.success(), "kill -INT");
    child.wait().expect("reap");
    let left = containers(&scope);
    assert!(left.is_empty(), "containers left after a graceful stop: {left:?}");

    // Exactly one ExecutionSettled per request, none reclaimed.
    let d = &stack.devnet.deployments.contracts;
    let provider = stack.devnet.dev_provider(0);
    let head = provider.get_block_number().await.expect("head");
    let logs = provider
        .get_logs(&Filter::new().address(d.agent_marketplace).from_block(0).to_block(head))
        .await
        .expect("logs");
    let mut settlements: BTreeMap<U256, Vec<(u64, AgentMarketplace::ExecutionSettled)>> = BTreeMap::new();
    for log in &logs {
        match log.topic0() {
            Some(t) if *t == AgentMarketplace::ExecutionSettled::SIGNATURE_HASH => {
                let e = log.log_decode::<AgentMarketplace::ExecutionSettled>().expect("decode").inner.data;
                settlements.entry(e.requestId).or_default().push((log.block_number.unwrap_or_default(), e));
            }
            Some(t) if *t == AgentMarketplace::ExecutionReclaimed::SIGNATURE_HASH => {
                panic!("a request was reclaimed: the relayer never settled it")
            }
            _ => {}
        }
    }
    for id in &ids {
        let n = settlements.get(id).map_or(0, Vec::len);
        assert_eq!(n, 1, "request {id} settled {n} times (seed {seed})");
    }
    assert_eq!(settlements.len(), ids.len(), "settlements of unknown requests");

    // The relayer's transactions: a revert is only acceptable for a settle of a request that was
    // already settled in an earlier block (the dry run normally prevents even that).
    let relayer = stack.signer(1).address();
    let mut relayer_txs = 0;
    for number in 0..=head {
        let Some(receipts) = provider.get_block_receipts(number.into()).await.expect("receipts") else { continue };
        for r in receipts.iter().filter(|r| r.from == relayer) {
            relayer_txs += 1;
            if r.status() {
                continue;
            }
            let tx = provider.get_transaction_by_hash(r.transaction_hash).await.expect("tx").expect("known tx");
            let input = alloy::consensus::Transaction::input(&tx);
            let request = U256::from_be_slice(input.get(4..36).expect("settle calldata"));
            let first = settlements.get(&request).and_then(|s| s.first()).map(|(b, _)| *b);
            assert!(
                first.is_some_and(|b| b < number),
                "relayer tx {} reverted for request {request}, not already settled (seed {seed})",
                r.transaction_hash
            );
        }
    }

    // Balances reconcile: what the buyer paid is exactly refunds + developer payouts + fees, as
    // the settlement logs say and as the marketplace's views hold.
    let (mut refunds, mut payouts, mut fees, mut succeeded) = (U256::ZERO, U256::ZERO, U256::ZERO, 0);
    for (_, e) in settlements.values().flatten() {
        if e.success {
            succeeded += 1;
            payouts += e.amount;
            fees += e.fee;
        } else {
            refunds += e.amount;
        }
    }
    let paid = U256::from(PRICE * REQUESTS);
    assert_eq!(refunds + payouts + fees, paid, "settled amounts add up to what was paid");
    let market = AgentMarketplace::new(d.agent_marketplace, provider.clone());
    let treasury: Address = market.treasury().call().await.expect("treasury");
    let developer = stack.signer(common::DEVELOPER).address();
    assert_eq!(stack.withdrawable(stack.buyer()).await, refunds, "buyer refunds");
    assert_eq!(stack.withdrawable(developer).await, payouts, "developer earnings");
    assert_eq!(stack.withdrawable(treasury).await, fees, "platform fees");
    let held = TestUSDC::new(d.usdc, provider.clone()).balanceOf(d.agent_marketplace).call().await.expect("balance");
    assert_eq!(held, paid, "the marketplace holds exactly what was paid, all of it owed");
    for id in &ids {
        assert!(!market.isOpen(*id).call().await.expect("isOpen"), "request {id} still open");
    }

    let outcomes: Vec<(Option<String>, i64)> =
        sqlx::query_as("SELECT outcome, count(*) FROM relayer_claims GROUP BY outcome ORDER BY outcome")
            .fetch_all(pool)
            .await
            .expect("outcomes");
    // A crash never turns into an agent failure: a request either ran to success, or was given
    // up after being claimed by too many dying relayers (refunded), or was found settled; "none"
    // is a claim whose relayer was killed between the settlement and recording its end.
    for (outcome, n) in &outcomes {
        let outcome = outcome.as_deref().unwrap_or("none");
        assert!(
            ["succeeded", "failed:attempts", "already-settled", "none"].contains(&outcome),
            "{n} claims ended as {outcome} (seed {seed})"
        );
    }
    assert!(succeeded > 0, "no request succeeded (seed {seed})");
    eprintln!(
        "{succeeded}/{REQUESTS} succeeded, {} refunded; {relayer_txs} relayer transactions; {kills_in_flight} kills \
         with requests in flight; claim outcomes {outcomes:?}; {:?} in all (seed {seed})",
        REQUESTS - succeeded,
        started.elapsed()
    );
    stack.stop().await;
}
