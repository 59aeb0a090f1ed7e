//! End-to-end relayer tests over a real stack (anvil, PostgreSQL, the indexer, dockerd, the real
//! agent images): success pays the developer and stores the output, every failure refunds,
//! hostile containers are contained while a normal request finishes, and two relayers on one
//! database never run or settle a request twice.

mod common;

use std::time::{Duration, Instant};

use alloy::primitives::{B256, U256, keccak256};
use common::{PRICE, Stack, summarizer_input};
use nexus_store::LogStream;

const SETTLE_TIMEOUT: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn summarizer_succeeds_failures_refund() {
    let stack = Stack::start("relayer_basic").await;
    let relayer = stack.relayer(|c| c.input_grace = Duration::from_secs(2)).await;
    let summarizer = stack.register("summarizer", 60).await;
    let fail = stack.register("fail", 60).await;
    let credit = stack.buy(summarizer, 3).await;
    let fail_credit = stack.buy(fail, 1).await;

    // Happy path: output stored under its keccak256, developer credited.
    let started = Instant::now();
    let input = stack.upload(&summarizer_input()).await;
    let ok = stack.request(credit, input).await;
    let (status, output) = stack.settled(ok, SETTLE_TIMEOUT).await;
    println!("summarizer request settled in {:?}", started.elapsed());
    assert_eq!(status, "Succeeded");
    let output = output.expect("output hash");
    let bytes: Vec<u8> = sqlx::query_scalar("SELECT bytes FROM blobs WHERE hash = $1")
        .bind(output.to_vec())
        .fetch_one(&stack.pool)
        .await
        .expect("output blob");
    assert_eq!(keccak256(&bytes), output);
    let json: serde_json::Value = serde_json::from_slice(&bytes).expect("output is JSON");
    assert!(json.is_object(), "summarizer output: {json}");
    let developer = stack.signer(common::DEVELOPER).address();
    assert!(stack.withdrawable(developer).await > U256::ZERO, "developer credited");
    let logs: i64 = sqlx::query_scalar("SELECT count(*) FROM execution_logs WHERE request_id = $1::numeric")
        .bind(ok.to_string())
        .fetch_one(&stack.pool)
        .await
        .expect("logs");
    assert!(logs > 0, "stderr lines recorded");

    // A failing agent (exit 3) refunds.
    let before = stack.withdrawable(stack.buyer()).await;
    let input = stack.upload(br#"{"x": 1}"#).await;
    let failed = stack.request(fail_credit, input).await;
    assert_eq!(stack.settled(failed, SETTLE_TIMEOUT).await.0, "Failed");
    assert_eq!(stack.withdrawable(stack.buyer()).await, before + U256::from(PRICE), "refunded");

    // A blob whose bytes do not hash to the requested hash: failure, refund.
    let bogus = B256::repeat_byte(0x42);
    stack.insert_blob(bogus, br#"{"text": "tampered"}"#).await;
    let mismatch = stack.request(credit, bogus).await;
    assert_eq!(stack.settled(mismatch, SETTLE_TIMEOUT).await.0, "Failed");
    assert_eq!(stack.withdrawable(stack.buyer()).await, before + U256::from(2 * PRICE), "refunded twice");

    // An input never uploaded: failure once the grace period (2 s here) is over.
    let missing = stack.request(credit, B256::repeat_byte(0x17)).await;
    assert_eq!(stack.settled(missing, SETTLE_TIMEOUT).await.0, "Failed");
    // An agent whose pinned image is not in the daemon: never pulled, never run; failure.
    let ghost = stack.register_digest(B256::repeat_byte(0x99), 60).await;
    let ghost_credit = stack.buy(ghost, 1).await;
    let unrunnable = stack.request(ghost_credit, stack.upload(br#"{"x": 2}"#).await).await;
    assert_eq!(stack.settled(unrunnable, SETTLE_TIMEOUT).await.0, "Failed");
    assert_eq!(stack.withdrawable(stack.buyer()).await, before + U256::from(4 * PRICE), "refunded four times");

    let metrics = relayer.metrics.render();
    assert!(metrics.contains("nexus_relayer_outcomes_total{outcome=\"failed:input_missing\"} 1"), "{metrics}");
    assert!(metrics.contains("nexus_relayer_container_failures_total{cause=\"image\"} 1"), "{metrics}");
    assert!(metrics.contains("nexus_relayer_outcomes_total{outcome=\"succeeded\"} 1"), "{metrics}");
    assert!(metrics.contains("nexus_relayer_container_failures_total{cause=\"exit_code\"} 1"), "{metrics}");
    relayer.stop().await;
    stack.stop().await;
}

/// Every hostile image of `scripts/agents.sh --hostile` with the max duration it is registered
/// with: short, so the ones only the wall clock can end (infinite loop, stderr flood, fork bomb)
/// keep the test quick; the others are ended by their own limit (OOM, output cap) or exit at
/// once (escape attempts report and exit 1).
const HOSTILE: &[(&str, u32)] = &[
    ("memory-hog", 20),
    ("infinite-loop", 3),
    ("stdout-flood", 20),
    ("fork-bomb", 5),
    ("stderr-flood", 4),
    ("network", 20),
    ("write-root", 20),
    ("privilege", 20),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_agents_are_contained() {
    let stack = Stack::start("relayer_hostile").await;
    // Every hostile request and the normal one at the same time.
    let relayer = stack.relayer(|c| c.concurrency = HOSTILE.len() + 1).await;
    let limits = nexus_relayer::Limits::default();
    let summarizer = stack.register("summarizer", 60).await;
    let input = stack.upload(br#"{"behaviour": "none"}"#).await;
    let mut hostile = Vec::new();
    for (name, max_duration) in HOSTILE {
        let agent = stack.register(name, *max_duration).await;
        let credit = stack.buy(agent, 1).await;
        hostile.push((*name, stack.request(credit, input).await));
    }
    let credit = stack.buy(summarizer, 1).await;
    let normal_input = stack.upload(&summarizer_input()).await;
    let started = Instant::now();
    let normal = stack.request(credit, normal_input).await;
    assert_eq!(stack.settled(normal, SETTLE_TIMEOUT).await.0, "Succeeded", "a normal request next to hostile ones");
    println!("normal request next to hostile ones settled in {:?}", started.elapsed());
    for (name, id) in &hostile {
        let (status, output) = stack.settled(*id, SETTLE_TIMEOUT).await;
        assert_eq!(status, "Failed", "hostile request {name} ({id})");
        assert_eq!(output, Some(B256::ZERO), "{name}: a failed run stores no output");
    }
    println!("every hostile request settled {:?} after the normal one was sent", started.elapsed());
    let refunds = U256::from(PRICE * HOSTILE.len() as u64);
    assert_eq!(stack.withdrawable(stack.buyer()).await, refunds, "every hostile request refunded");
    assert!(relayer.metrics.ready(), "the relayer is still ready after the hostile runs");
    let metrics = relayer.metrics.render();
    println!("{metrics}");
    for cause in ["oom", "timeout", "output_too_large", "exit_code"] {
        assert!(metrics.contains(&format!("cause=\"{cause}\"")), "no {cause} failure: {metrics}");
    }
    assert!(!metrics.contains("cause=\"engine\""), "no hostile run may break the engine calls: {metrics}");

    let logs = |id: U256| {
        let pool = stack.pool.clone();
        async move {
            let rows: Vec<(LogStream, String)> = sqlx::query_as(
                "SELECT stream, line FROM execution_logs WHERE request_id = $1::numeric ORDER BY attempt, seq",
            )
            .bind(id.to_string())
            .fetch_all(&pool)
            .await
            .expect("logs");
            rows
        }
    };
    let id_of = |name: &str| hostile.iter().find(|(n, _)| *n == name).map(|(_, id)| *id).expect("hostile id");
    // The stderr flood: the log cap held (what was kept fits the cap; the rest was dropped and
    // said so), and the run ended by the wall clock.
    let flood = logs(id_of("stderr-flood")).await;
    let kept: usize = flood.iter().filter(|(stream, _)| *stream == LogStream::Stderr).map(|(_, l)| l.len()).sum();
    assert!(kept > 0 && kept <= limits.log_bytes, "{kept} bytes of stderr kept, cap {}", limits.log_bytes);
    assert!(
        flood.iter().any(|(stream, l)| *stream == LogStream::System && l.contains("log cap reached")),
        "the flood's log says the cap was reached"
    );
    // The escape attempts: each ran, reported every attempt refused, and failed (exit 1).
    for name in ["network", "write-root", "privilege"] {
        let lines = logs(id_of(name)).await;
        let attempts: Vec<&String> =
            lines.iter().map(|(_, l)| l).filter(|l| l.contains(": refused (") || l.contains(": SUCCEEDED (")).collect();
        assert!(attempts.len() >= 3, "{name}: escape attempts logged: {lines:?}");
        assert!(attempts.iter().all(|l| l.contains(": refused (")), "{name} escaped: {attempts:?}");
        assert!(lines.iter().any(|(_, l)| l.contains("exit code 1")), "{name} failed by its exit code: {lines:?}");
    }
    // No container left behind (removal runs in the background after a run; give it a moment).
    for (name, _) in HOSTILE {
        let image = &common::images()[*name];
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let out = std::process::Command::new("docker")
                .args(["ps", "-aq", "--filter", &format!("ancestor={image}")])
                .output()
                .expect("docker ps");
            if out.stdout.is_empty() {
                break;
            }
            let left = String::from_utf8_lossy(&out.stdout);
            assert!(Instant::now() < deadline, "{name} containers left: {left}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    relayer.stop().await;
    stack.stop().await;
}

/// An agent's declared output schema is enforced: output that breaks it (or is not JSON at all)
/// settles as failure and refunds; conforming output is paid for.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn output_schema_is_enforced() {
    let stack = Stack::start("relayer_schema").await;
    let relayer = stack.relayer(|_| {}).await;
    // `echo` returns its input: the input decides whether the output conforms.
    let metadata = r#"data:application/json,{"name":"schema-echo","outputSchema":{"type":"object","required":["summary"],"properties":{"summary":{"type":"string"}}}}"#;
    let echo = stack.register_with_metadata("echo", 60, metadata).await;
    let not_json = stack.register("invalid-json", 60).await;
    let credit = stack.buy(echo, 2).await;
    let not_json_credit = stack.buy(not_json, 1).await;

    let good = stack.request(credit, stack.upload(br#"{"summary": "fits"}"#).await).await;
    assert_eq!(stack.settled(good, SETTLE_TIMEOUT).await.0, "Succeeded", "conforming output");
    let bad = stack.request(credit, stack.upload(br#"{"summary": 42}"#).await).await;
    assert_eq!(stack.settled(bad, SETTLE_TIMEOUT).await.0, "Failed", "output breaking the schema");
    let garbage = stack.request(not_json_credit, stack.upload(b"{}").await).await;
    assert_eq!(stack.settled(garbage, SETTLE_TIMEOUT).await.0, "Failed", "output that is not JSON");
    assert_eq!(stack.withdrawable(stack.buyer()).await, U256::from(2 * PRICE), "both failures refunded");

    let lines: Vec<String> = sqlx::query_scalar(
        "SELECT line FROM execution_logs WHERE request_id = $1::numeric AND stream = 'system' ORDER BY seq",
    )
    .bind(bad.to_string())
    .fetch_all(&stack.pool)
    .await
    .expect("logs");
    assert!(
        lines.iter().any(|l| l.contains("output schema") && l.contains("/summary")),
        "the requester's log says which field broke the schema: {lines:?}"
    );
    let metrics = relayer.metrics.render();
    assert!(metrics.contains("nexus_relayer_container_failures_total{cause=\"invalid_output\"} 2"), "{metrics}");
    relayer.stop().await;
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_relayers_never_double_run() {
    const REQUESTS: u64 = 12;
    let stack = Stack::start("relayer_two").await;
    let echo = stack.register("echo", 60).await;
    let credit = stack.buy(echo, REQUESTS).await;
    let a = stack.relayer(|c| c.concurrency = 3).await;
    // Each relayer has its own key (nonces are tracked per process); both hold RELAYER_ROLE.
    let second = stack.signer(6);
    stack.grant_relayer(second.address()).await;
    let b = stack
        .relayer(|c| {
            c.concurrency = 3;
            c.key = second;
        })
        .await;
    let mut ids = Vec::new();
    for i in 0..REQUESTS {
        let input = stack.upload(format!("{{\"n\": {i}}}").as_bytes()).await;
        ids.push(stack.request(credit, input).await);
    }
    for id in &ids {
        assert_eq!(stack.settled(*id, SETTLE_TIMEOUT).await.0, "Succeeded");
    }
    // Graceful stop waits for the jobs to record their end (a job marks its claim done just
    // after the receipt, which the indexer may already have applied).
    let (ma, mb) = (a.metrics.clone(), b.metrics.clone());
    a.stop().await;
    b.stop().await;
    // Each request claimed once, finished by its own settlement (never found already settled),
    // and ran once (log lines of one attempt only).
    let rows: Vec<(String, i32, Option<String>)> =
        sqlx::query_as("SELECT request_id::text, attempts, outcome FROM relayer_claims ORDER BY request_id")
            .fetch_all(&stack.pool)
            .await
            .expect("claims");
    assert_eq!(rows.len() as u64, REQUESTS);
    for (id, attempts, outcome) in &rows {
        assert_eq!(*attempts, 1, "request {id} claimed more than once");
        assert_eq!(outcome.as_deref(), Some("succeeded"), "request {id}");
    }
    // Paid once per request: the developer's balance is exactly REQUESTS payouts.
    let d = &stack.devnet.deployments.contracts;
    let market = nexus_bindings::AgentMarketplace::new(d.agent_marketplace, stack.devnet.dev_provider(0));
    let fee_bps = market.feeBps().call().await.expect("feeBps");
    let payout = PRICE - PRICE * u64::from(fee_bps) / 10_000;
    let developer = stack.signer(common::DEVELOPER).address();
    assert_eq!(stack.withdrawable(developer).await, U256::from(payout * REQUESTS), "one payout per request");
    println!("relayer a:\n{}\nrelayer b:\n{}", ma.render(), mb.render());
    stack.stop().await;
}

/// A settlement the chain does not mine is resent with the same nonce and higher fees; the
/// replacement is what gets mined, the request closes once, and settling it again is a no-op.
/// Anvil with automine off plays the congested chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stuck_settlement_is_replaced_with_bumped_fees() {
    use alloy::providers::Provider;
    use nexus_relayer::{ChainConfig, Settled};

    let stack = Stack::start("relayer_stuck").await;
    let request = stack.echo_requests(1).await.remove(0);
    let id = request.request_id;

    let provider = stack.devnet.dev_provider(0);
    let config = ChainConfig {
        stuck_after: Duration::from_millis(300),
        confirm_timeout: Duration::from_secs(30),
        poll: Duration::from_millis(25),
    };
    let chain = std::sync::Arc::new(stack.chain(config));
    let relayer = chain.address();
    let suggested = provider.estimate_eip1559_fees().await.expect("fees");
    let nonce = provider.get_transaction_count(relayer).await.expect("nonce");

    let _: serde_json::Value = provider.raw_request("evm_setAutomine".into(), (false,)).await.expect("automine off");
    let settling = {
        let chain = chain.clone();
        let request = request.clone();
        tokio::spawn(async move { chain.settle(id, &request.execution, true, B256::repeat_byte(7)).await })
    };
    // Long enough for the first send and at least two replacements.
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert!(!settling.is_finished(), "nothing can be mined yet");
    let _: serde_json::Value = provider.raw_request("evm_mine".into(), ()).await.expect("mine");
    let settled = tokio::time::timeout(Duration::from_secs(10), settling).await.expect("settle returns").expect("task");
    let _: serde_json::Value = provider.raw_request("evm_setAutomine".into(), (true,)).await.expect("automine on");

    let Ok(Settled::Mined { tx, .. }) = settled else { panic!("expected a mined settlement, got {settled:?}") };
    let mined = provider.get_transaction_by_hash(tx).await.expect("tx").expect("mined tx");
    use alloy::consensus::Transaction as _;
    assert_eq!(mined.nonce(), nonce, "the replacement reuses the nonce");
    let floor_tip = suggested.max_priority_fee_per_gas.max(1);
    assert!(
        mined.max_priority_fee_per_gas().expect("1559 tx") > floor_tip,
        "mined tip {:?} is not above the first send's {floor_tip}",
        mined.max_priority_fee_per_gas()
    );
    assert!(mined.max_fee_per_gas() > suggested.max_fee_per_gas, "mined max fee was bumped");
    assert_eq!(provider.get_transaction_count(relayer).await.expect("nonce"), nonce + 1, "one transaction mined");
    assert!(!chain.is_open(id).await.expect("isOpen"), "settled");
    // The already-settled revert is an outcome, not an error.
    assert_eq!(
        chain.settle(id, &request.execution, true, B256::repeat_byte(7)).await.expect("second settle"),
        Settled::AlreadyClosed
    );
    assert_eq!(stack.settled(id, SETTLE_TIMEOUT).await.0, "Succeeded");
    stack.stop().await;
}

/// The relayer's nonce view goes stale when another sender uses its key (a second process, an
/// operator's manual transaction): the node refuses the settlement's nonce as too low, and the
/// relayer reads the nonce again and settles. anvil's own refusal is what the classifier
/// (`nexus_relayer::error::is_nonce_too_low`) must recognise here.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stale_nonce_is_resynchronised() {
    use alloy::network::TransactionBuilder;
    use alloy::providers::Provider;
    use nexus_relayer::{ChainConfig, Settled};

    let stack = Stack::start("relayer_nonce").await;
    let [first, second]: [nexus_relayer::db::Request; 2] =
        stack.echo_requests(2).await.try_into().expect("two requests");
    let chain = stack.chain(ChainConfig::default());
    let relayer = chain.address();
    let settled = chain.settle(first.request_id, &first.execution, true, B256::repeat_byte(7)).await;
    assert!(matches!(settled, Ok(Settled::Mined { .. })), "first settlement: {settled:?}");
    // The relayer now counts the key's nonces itself; another sender takes the next one.
    let other = stack.devnet.dev_provider(1);
    let nonce = other.get_transaction_count(relayer).await.expect("nonce");
    let tx = alloy::rpc::types::TransactionRequest::default().with_to(relayer).with_value(U256::ZERO);
    let receipt = other.send_transaction(tx).await.expect("send").get_receipt().await.expect("receipt");
    assert!(receipt.status(), "the other sender's transaction");

    let settled = chain.settle(second.request_id, &second.execution, true, B256::repeat_byte(7)).await;
    let Ok(Settled::Mined { tx, .. }) = settled else { panic!("expected a mined settlement, got {settled:?}") };
    let mined = stack.devnet.dev_provider(0).get_transaction_by_hash(tx).await.expect("tx").expect("mined tx");
    use alloy::consensus::Transaction as _;
    assert_eq!(mined.nonce(), nonce + 1, "settled with the nonce after the other sender's");
    assert!(!chain.is_open(second.request_id).await.expect("isOpen"), "settled");
    stack.stop().await;
}

/// Graceful shutdown leaves nothing half-done: the request whose container is running finishes
/// and settles before `run` returns; the queued one is left unclaimed for the next relayer,
/// which runs it as its first attempt.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn graceful_stop_finishes_running_requests() {
    let stack = Stack::start("relayer_graceful").await;
    let sleep = stack.register("sleep", 30).await;
    let credit = stack.buy(sleep, 2).await;
    let relayer = stack.relayer(|c| c.concurrency = 1).await;
    let running = stack.request(credit, stack.upload(br#"{"seconds": 3}"#).await).await;
    let queued = stack.request(credit, stack.upload(br#"{"seconds": 0}"#).await).await;

    // Stop while the first request's container is running.
    stack.wait_running(running, SETTLE_TIMEOUT).await;
    relayer.stop().await;

    let d = &stack.devnet.deployments.contracts;
    let market = nexus_bindings::AgentMarketplace::new(d.agent_marketplace, stack.devnet.dev_provider(0));
    assert!(
        !market.isOpen(running).call().await.expect("isOpen"),
        "the running request settled before the stop returned"
    );
    assert!(market.isOpen(queued).call().await.expect("isOpen"), "the queued request was left alone");
    let claims = |id: U256| {
        sqlx::query_as::<_, (Option<String>, i32, Option<String>)>(
            "SELECT owner, attempts, outcome FROM relayer_claims WHERE request_id = $1::numeric",
        )
        .bind(id.to_string())
        .fetch_optional(&stack.pool)
    };
    assert_eq!(claims(running).await.expect("claim"), Some((None, 1, Some("succeeded".into()))));
    if let Some((owner, attempts, outcome)) = claims(queued).await.expect("claim") {
        assert_eq!(
            (owner, attempts, outcome),
            (None, 0, None),
            "a claim taken during shutdown is handed back uncounted"
        );
    }

    let next = stack.relayer(|_| {}).await;
    assert_eq!(stack.settled(queued, SETTLE_TIMEOUT).await.0, "Succeeded");
    next.stop().await;
    assert_eq!(claims(queued).await.expect("claim"), Some((None, 1, Some("succeeded".into()))));
    assert_eq!(stack.settled(running, SETTLE_TIMEOUT).await.0, "Succeeded");
    stack.stop().await;
}

/// A relayer that finds its lease taken over (it stalled past it and another relayer claimed the
/// request) stops the container at its next renewal instead of running on, and records nothing:
/// the request belongs to the new owner.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lost_lease_stops_the_run() {
    let stack = Stack::start("relayer_lease_lost").await;
    let sleep = stack.register("sleep", 60).await;
    let credit = stack.buy(sleep, 1).await;
    let lease = Duration::from_secs(3);
    let relayer = stack.relayer(|c| c.lease = lease).await;
    let id = stack.request(credit, stack.upload(br#"{"seconds": 30}"#).await).await;
    stack.wait_running(id, SETTLE_TIMEOUT).await;

    // Another relayer takes the request over (as after this one's lease expired).
    let taken = sqlx::query(
        "UPDATE relayer_claims SET owner = 'thief', lease_until = now() + interval '1 hour'
         WHERE request_id = $1::numeric",
    )
    .bind(id.to_string())
    .execute(&stack.pool)
    .await
    .expect("take over");
    assert_eq!(taken.rows_affected(), 1);
    let taken_at = Instant::now();
    while !stack.running_containers(id).is_empty() {
        // Renewals come every lease / 3; the container's own run would last 30 s.
        assert!(taken_at.elapsed() < lease + Duration::from_secs(5), "the container kept running");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The container is gone first; the relayer records the outcome right after it (on a loaded
    // machine, a moment later), so wait for the count instead of reading it once.
    let stopped_at = Instant::now();
    loop {
        let metrics = relayer.metrics.render();
        if metrics.contains("outcome=\"lease_lost\"} 1") {
            break;
        }
        assert!(stopped_at.elapsed() < Duration::from_secs(10), "no lease_lost outcome counted:\n{metrics}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    relayer.stop().await;

    let (owner, outcome): (Option<String>, Option<String>) =
        sqlx::query_as("SELECT owner, outcome FROM relayer_claims WHERE request_id = $1::numeric")
            .bind(id.to_string())
            .fetch_one(&stack.pool)
            .await
            .expect("claim");
    assert_eq!((owner.as_deref(), outcome), (Some("thief"), None), "the new owner's claim is untouched");
    let d = &stack.devnet.deployments.contracts;
    let market = nexus_bindings::AgentMarketplace::new(d.agent_marketplace, stack.devnet.dev_provider(0));
    assert!(market.isOpen(id).call().await.expect("isOpen"), "the old owner settled nothing");
    stack.stop().await;
}
