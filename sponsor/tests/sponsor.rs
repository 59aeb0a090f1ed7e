//! The sponsorship service (`POST /v1/paymaster`), mounted on the API server as `nexus graphql`
//! mounts it, against a real PostgreSQL and, for the operations that must land, a real devnet and
//! a real Alto bundler driven by `nexus-accounts`.

use alloy::primitives::{Address, U256, address};
use alloy::providers::Provider;
use alloy::providers::ext::AnvilApi;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;
use nexus_accounts::{AccountConfig, AccountError, Call, SmartAccount, Sponsorship, purchased_credit};
use nexus_bindings::{AgentMarketplace, IEntryPoint, NexusAccount, NexusAccountFactory, TestUSDC};
use nexus_sponsor::{ERC1967_IMPLEMENTATION_SLOT, Sponsor, SponsorConfig, codes};
use nexus_testkit::bundler::{Alto, mint_usdc, register_usdc_agent};
use nexus_testkit::{Devnet, Postgres};
use serde_json::{Value, json};

/// Anvil dev account 3: the deploy script's sponsorship signer (`roles.sponsor`).
const SPONSOR_ACCOUNT: usize = 3;
const USDC_PRICE: u64 = 2_500_000;

/// An API server with `sponsor` (if any) mounted next to it, as `nexus graphql` serves them, on
/// `database_url`; returns its base URL. Stops with the test process.
async fn serve_api(database_url: &str, rpc_url: Option<String>, sponsor: Option<SponsorConfig>) -> String {
    let mut config = nexus_graphql::Config::local(database_url);
    config.rpc_url = rpc_url;
    config.token_secret = Some(b"sponsor test secret, 16+ bytes".to_vec());
    let server = nexus_graphql::start(config, std::future::pending()).await.expect("start graphql");
    let app = nexus_sponsor::router(&server, sponsor).merge(nexus_graphql::router(server));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(nexus_graphql::serve(listener, app, std::future::pending()));
    format!("http://{addr}")
}

/// A server with `sponsor` on `database_url`; returns its base URL.
async fn serve(database_url: &str, rpc_url: Option<String>, sponsor: SponsorConfig) -> String {
    serve_api(database_url, rpc_url, Some(sponsor)).await
}

/// One JSON-RPC call; returns the whole answer (`result` or `error`).
async fn rpc(base: &str, method: &str, params: Value) -> Value {
    let response = post(base, method, params).await;
    assert_eq!(response.status(), 200);
    response.json().await.expect("json")
}

/// One JSON-RPC request to `/v1/paymaster`, whatever the HTTP status.
async fn post(base: &str, method: &str, params: Value) -> reqwest::Response {
    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
    reqwest::Client::new().post(format!("{base}/v1/paymaster")).json(&body).send().await.expect("post")
}

fn error_message(answer: &Value) -> String {
    answer["error"]["message"].as_str().unwrap_or_else(|| panic!("expected an error, got {answer}")).to_owned()
}

/// A user operation of `sender` at `nonce` calling the marketplace, with gas filled in.
fn market_op(sender: Address, nonce: u64, market: Address) -> Value {
    let call = NexusAccount::executeCall { target: market, value: U256::ZERO, data: vec![1, 2, 3, 4].into() };
    json!({
        "sender": sender, "nonce": format!("{nonce:#x}"), "callData": alloy::primitives::Bytes::from(call.abi_encode()),
        "callGasLimit": "0x10000", "verificationGasLimit": "0x10000", "preVerificationGas": "0x10000",
        "maxFeePerGas": "0x3b9aca00", "maxPriorityFeePerGas": "0x3b9aca00",
        "paymasterVerificationGasLimit": "0x10000", "paymasterPostOpGasLimit": "0x0", "signature": "0x"
    })
}

/// The maximum cost [`market_op`] reserves: 4 × 0x10000 gas at 1 gwei.
fn market_op_cost() -> U256 {
    U256::from(4 * 0x10000u64) * U256::from(1_000_000_000u64)
}

fn fake_config(market: Address) -> SponsorConfig {
    let (paymaster, factory) = (Address::repeat_byte(0xee), Address::repeat_byte(0xff));
    let signer = PrivateKeySigner::random();
    let mut config =
        SponsorConfig::new(signer, 31337, nexus_bindings::entry_point::ADDRESS, paymaster, factory, market);
    config.daily_ops_per_account = 2;
    config.daily_wei_per_account = U256::MAX;
    config.global_budget_wei = U256::MAX;
    config
}

/// Caps live in the database: a second server (or the same after a restart) sees what the first
/// reserved, a retry of the same operation is not counted twice, and the global budget is shared.
#[tokio::test]
async fn caps_are_shared_through_the_database() {
    let pg = Postgres::start().expect("postgres");
    let url = pg.create_database("nexus").expect("createdb");
    let market = address!("00000000000000000000000000000000000000aa");
    let ep = nexus_bindings::entry_point::ADDRESS;
    let a = serve(&url, None, fake_config(market)).await;
    let user = address!("0000000000000000000000000000000000000101");
    let data = |base: String, nonce: u64| async move {
        rpc(&base, "pm_getPaymasterData", json!([market_op(user, nonce, market), ep, "0x7a69", {}])).await
    };

    // Daily operations: 2 per account.
    for nonce in [0, 1, 1] {
        let answer = data(a.clone(), nonce).await;
        assert!(answer["result"]["paymasterData"].is_string(), "nonce {nonce}: {answer}");
    }
    let refused = data(a.clone(), 2).await;
    assert_eq!(refused["error"]["code"], codes::REFUSED);
    assert_eq!(error_message(&refused), format!("daily cap of 2 operations reached for {user}"));
    // The stub refuses as early, without reserving anything.
    let stub = rpc(&a, "pm_getPaymasterStubData", json!([market_op(user, 2, market), ep, "0x7a69", {}])).await;
    assert_eq!(error_message(&stub), format!("daily cap of 2 operations reached for {user}"));

    // Another server on the same database (or this one restarted) counts the same reservations.
    let b = serve(&url, None, fake_config(market)).await;
    assert!(error_message(&data(b.clone(), 3).await).starts_with("daily cap of 2 operations"));
    let other = address!("0000000000000000000000000000000000000202");
    let answer = rpc(&b, "pm_getPaymasterData", json!([market_op(other, 0, market), ep, "0x7a69", {}])).await;
    assert!(answer["result"].is_object(), "{answer}");

    // Reserved so far: 3 operations (the retry replaced its reservation).
    let pool = sqlx::PgPool::connect(&url).await.expect("pool");
    let spent: String =
        sqlx::query_scalar("SELECT spent_wei::text FROM sponsorship_budget").fetch_one(&pool).await.expect("budget");
    assert_eq!(spent, (market_op_cost() * U256::from(3)).to_string());

    // Daily wei per account: less than one operation's maximum cost.
    let mut tight = fake_config(market);
    tight.daily_wei_per_account = market_op_cost() - U256::from(1);
    let c = serve(&url, None, tight).await;
    let fresh = address!("0000000000000000000000000000000000000303");
    let answer = rpc(&c, "pm_getPaymasterData", json!([market_op(fresh, 0, market), ep, "0x7a69", {}])).await;
    assert!(
        error_message(&answer)
            .starts_with(&format!("daily cap of {} wei reached for {fresh}", market_op_cost() - U256::from(1)))
    );

    // Global budget: room for exactly one more operation, whoever sends it.
    let mut budget = fake_config(market);
    budget.global_budget_wei = market_op_cost() * U256::from(4);
    let d = serve(&url, None, budget).await;
    let answer = rpc(&d, "pm_getPaymasterData", json!([market_op(fresh, 0, market), ep, "0x7a69", {}])).await;
    assert!(answer["result"].is_object(), "{answer}");
    let answer = rpc(&d, "pm_getPaymasterData", json!([market_op(fresh, 1, market), ep, "0x7a69", {}])).await;
    assert_eq!(error_message(&answer), "global sponsorship budget exhausted");
    let answer = rpc(&d, "pm_getPaymasterStubData", json!([market_op(other, 1, market), ep, "0x7a69", {}])).await;
    assert_eq!(error_message(&answer), "global sponsorship budget exhausted");

    // One operation may not cost more than the per-operation cap.
    let mut per_op = fake_config(market);
    per_op.max_op_wei = market_op_cost() - U256::from(1);
    let e = serve(&url, None, per_op).await;
    let answer = rpc(&e, "pm_getPaymasterData", json!([market_op(other, 5, market), ep, "0x7a69", {}])).await;
    assert_eq!(
        error_message(&answer),
        format!(
            "operation may cost {} wei, more than the {} wei sponsored per operation",
            market_op_cost(),
            market_op_cost() - U256::from(1)
        )
    );

    // Per client address: a burst, then 429 with JSON-RPC "limit exceeded" until tokens refill.
    let mut limited = fake_config(market);
    (limited.client_burst, limited.client_rate_per_second) = (2.0, 0.001);
    let f = serve(&url, None, limited).await;
    for _ in 0..2 {
        let answer = rpc(&f, "pm_getPaymasterStubData", json!([market_op(other, 6, market), ep, "0x7a69", {}])).await;
        assert!(answer.get("error").is_none_or(|e| e["code"] != codes::LIMITED), "{answer}");
    }
    let response = post(&f, "pm_getPaymasterStubData", json!([])).await;
    assert_eq!(response.status(), 429);
    let answer: Value = response.json().await.expect("json");
    assert_eq!(answer["error"]["code"], codes::LIMITED, "{answer}");

    // Wrong EntryPoint, wrong chain, unknown method, not JSON.
    let wrong = address!("0000000000000000000000000000000000000bad");
    let answer = rpc(&a, "pm_getPaymasterData", json!([market_op(other, 1, market), wrong, "0x7a69", {}])).await;
    assert_eq!(answer["error"]["code"], codes::INVALID_PARAMS);
    assert!(error_message(&answer).contains(&format!("entry point {wrong} is not supported")), "{answer}");
    let answer = rpc(&a, "pm_getPaymasterData", json!([market_op(other, 1, market), ep, "0x1", {}])).await;
    assert!(error_message(&answer).contains("chain 1 is not supported"), "{answer}");
    assert_eq!(rpc(&a, "eth_sendUserOperation", json!([])).await["error"]["code"], codes::METHOD_NOT_FOUND);
    let raw = reqwest::Client::new().post(format!("{a}/v1/paymaster")).body("{nope").send().await.expect("post");
    let raw: Value = raw.json().await.expect("json");
    assert_eq!(raw["error"]["code"], codes::PARSE_ERROR);
    // Nothing of the refused requests was reserved.
    let count: i64 =
        sqlx::query_scalar("SELECT count(*) FROM sponsorship_reservations").fetch_one(&pool).await.expect("count");
    assert_eq!(count, 4);

    // Server a's metrics count what it answered, by method and outcome (client-chosen method
    // names collapse into `other`).
    let metrics = reqwest::get(format!("{a}/metrics")).await.expect("metrics").text().await.expect("text");
    for (method, outcome, n) in [
        ("pm_getPaymasterData", "sponsored", 3),
        ("pm_getPaymasterData", "refused", 1),
        ("pm_getPaymasterStubData", "refused", 1),
        ("pm_getPaymasterData", "invalid", 2),
        ("other", "invalid", 2),
    ] {
        let line = format!("nexus_graphql_paymaster_requests_total{{method=\"{method}\",outcome=\"{outcome}\"}} {n}\n");
        assert!(metrics.contains(&line), "missing {line:?} in\n{metrics}");
    }
}

/// Without a sponsor key the route does not exist.
#[tokio::test]
async fn off_without_a_sponsor_key() {
    let pg = Postgres::start().expect("postgres");
    let url = pg.create_database("nexus").expect("createdb");
    let base = serve_api(&url, None, None).await;
    let response = post(&base, "pm_getPaymasterData", json!([])).await;
    assert_eq!(response.status(), 404);
}

/// The gasless purchase: an account holding USDC and no ETH approves and buys in one batched
/// operation the service sponsors; the paymaster's deposit pays. Transfers elsewhere are refused.
#[tokio::test]
async fn sponsored_purchase_lands_and_other_calls_are_refused() -> anyhow::Result<()> {
    let devnet = Devnet::start().await?;
    let alto = Alto::start(&devnet).await?;
    let pg = Postgres::start()?;
    let url = pg.create_database("nexus")?;
    let d = devnet.deployments.clone();
    let sponsor = SponsorConfig::from_deployments(&d, devnet.signer(SPONSOR_ACCOUNT))?;
    let base = serve(&url, Some(devnet.rpc_url()), sponsor).await;
    let provider = devnet.dev_provider(0);
    let (market, usdc) = (d.contracts.agent_marketplace, d.contracts.usdc);
    let entry_point = d.contracts.entry_point.expect("EntryPoint");
    let paymaster = d.contracts.nexus_paymaster.expect("paymaster");

    let agent = register_usdc_agent(&devnet, USDC_PRICE).await?;

    let sponsorship = Sponsorship::service(format!("{base}/v1/paymaster").parse()?);
    let config = AccountConfig::from_deployments(&d, alto.url().parse()?, sponsorship)?;
    let account = SmartAccount::new(provider.clone(), PrivateKeySigner::random(), config).await?;
    mint_usdc(&devnet, account.address(), 10 * USDC_PRICE).await?;
    assert!(!account.is_deployed().await?);

    let deposit_before = IEntryPoint::new(entry_point, &provider).balanceOf(paymaster).call().await?;
    let cost = U256::from(2 * USDC_PRICE);
    let receipt = account
        .execute_batch(vec![
            Call::approve(usdc, market, cost),
            Call::purchase(market, agent, U256::from(2), U256::from(USDC_PRICE)),
        ])
        .await
        .map_err(|e| anyhow::anyhow!("{e}\n{}", alto.log_tail()))?;
    let first_cost = receipt.actual_gas_cost;
    assert_eq!(receipt.paymaster, Some(paymaster));
    let credit = purchased_credit(&receipt).expect("Purchased");
    assert_eq!(
        AgentMarketplace::new(market, &provider).balanceOf(account.address(), credit).call().await?,
        U256::from(2)
    );
    let deposit_after = IEntryPoint::new(entry_point, &provider).balanceOf(paymaster).call().await?;
    assert_eq!(deposit_before - deposit_after, receipt.actual_gas_cost, "the paymaster's deposit paid the gas");
    assert!(receipt.actual_gas_cost > U256::ZERO);
    assert_eq!(provider.get_balance(account.address()).await?, U256::ZERO, "the account never held ETH");
    assert_eq!(TestUSDC::new(usdc, &provider).balanceOf(account.address()).call().await?, U256::from(8 * USDC_PRICE));

    // The reservation covers what was actually paid.
    let pool = sqlx::PgPool::connect(&url).await?;
    let reserved: String =
        sqlx::query_scalar("SELECT max_cost_wei::text FROM sponsorship_reservations").fetch_one(&pool).await?;
    assert!(U256::from_str_radix(&reserved, 10)? >= receipt.actual_gas_cost);
    let recorded: Vec<u8> =
        sqlx::query_scalar("SELECT user_op_hash FROM sponsorship_reservations").fetch_one(&pool).await?;
    assert_eq!(recorded, receipt.user_op_hash.to_vec(), "the reservation names the operation that landed");

    // A USDC transfer to a stranger, and a call to a stranger: refused with the reason, nothing sent.
    let stranger = address!("000000000000000000000000000000000000dead");
    let nonce = account.nonce().await?;
    let transfer = Call::new(usdc, TestUSDC::transferCall { to: stranger, value: U256::from(1) }.abi_encode());
    match account.execute(transfer).await {
        Err(AccountError::SponsorshipRefused { reason, .. }) => {
            assert_eq!(reason, format!("only approve(marketplace, amount) is sponsored on token {usdc}"))
        }
        other => panic!("transfer was not refused: {other:?}"),
    }
    match account.execute(Call::new(stranger, vec![])).await {
        Err(AccountError::SponsorshipRefused { reason, .. }) => {
            assert_eq!(reason, format!("target {stranger} is not the marketplace"))
        }
        other => panic!("call to a stranger was not refused: {other:?}"),
    }
    assert_eq!(account.nonce().await?, nonce, "nothing was included");

    // Only NexusAccounts: not a contract mimicking `execute`, not another factory's account.
    let op = market_op(stranger, 0, market);
    let answer = rpc(&base, "pm_getPaymasterData", json!([op, entry_point, "0x7a69", {}])).await;
    assert_eq!(error_message(&answer), format!("sender {stranger} is not a NexusAccount"));
    let mut op = market_op(stranger, 0, market);
    op["factory"] = json!(stranger);
    op["factoryData"] = json!("0x");
    let answer = rpc(&base, "pm_getPaymasterData", json!([op, entry_point, "0x7a69", {}])).await;
    assert_eq!(error_message(&answer), format!("factory {stranger} is not the NexusAccountFactory"));
    let op = market_op(account.address(), 1, market);
    let answer = rpc(&base, "pm_getPaymasterStubData", json!([op, entry_point, "0x7a69", {}])).await;
    assert!(answer["result"].is_object(), "the deployed account passes: {answer}");
    // Mimics: a copy of the implementation's code with the proxy's implementation slot filled in
    // (it answers `execute` however it likes), and the factory's proxy code pointing at another
    // implementation (as after an upgrade).
    let implementation = NexusAccountFactory::new(d.contracts.nexus_account_factory.expect("factory"), &provider)
        .accountImplementation()
        .call()
        .await?;
    let slot = U256::from_be_bytes(ERC1967_IMPLEMENTATION_SLOT.0);
    for (mimic, code, points_at) in [
        (address!("000000000000000000000000000000000000a11a"), implementation, implementation),
        (address!("000000000000000000000000000000000000a11b"), account.address(), stranger),
    ] {
        let code = provider.get_code_at(code).await?;
        provider.anvil_set_code(mimic, code).await?;
        provider.anvil_set_storage_at(mimic, slot, points_at.into_word()).await?;
        let answer =
            rpc(&base, "pm_getPaymasterStubData", json!([market_op(mimic, 0, market), entry_point, "0x7a69", {}]))
                .await;
        assert_eq!(error_message(&answer), format!("sender {mimic} is not a NexusAccount"));
    }

    // A sponsorship signed but never sent: reserved now, released once its window closed.
    let unsent = market_op(account.address(), 1000, market);
    let answer = rpc(&base, "pm_getPaymasterData", json!([unsent, entry_point, "0x7a69", {}])).await;
    assert!(answer["result"].is_object(), "{answer}");

    // The chain's clock a day ahead of the wall clock (as after a test advanced it): the
    // sponsorship window follows the chain, so the next purchase still lands.
    provider.raw_request::<_, Value>("evm_increaseTime".into(), [86_400]).await?;
    provider.raw_request::<_, Value>("evm_mine".into(), ()).await?;
    let receipt = account
        .execute_batch(vec![
            Call::approve(usdc, market, U256::from(USDC_PRICE)),
            Call::purchase(market, agent, U256::from(1), U256::from(USDC_PRICE)),
        ])
        .await?;
    assert!(receipt.success);
    assert_eq!(
        AgentMarketplace::new(market, &provider).balanceOf(account.address(), credit).call().await?,
        U256::from(3)
    );

    // Reconciliation: the landed operations are charged what they cost, the unsent one released.
    let sponsor = Sponsor::new(
        SponsorConfig::from_deployments(&d, devnet.signer(SPONSOR_ACCOUNT))?,
        pool.clone(),
        Some(provider.clone()),
    );
    // (The server's own reconciler may have settled some already: the same code, run anywhere.)
    sponsor.reconcile().await?;
    assert_eq!(sponsor.reconcile().await?, 0, "settled once");
    let rows: Vec<(bool, String)> =
        sqlx::query_as("SELECT included, actual_cost_wei::text FROM sponsorship_reservations ORDER BY nonce")
            .fetch_all(&pool)
            .await?;
    let (first, last) = (first_cost, receipt.actual_gas_cost);
    let expected = vec![(true, first.to_string()), (true, last.to_string()), (false, "0".to_owned())];
    assert_eq!(rows, expected);
    let spent: String = sqlx::query_scalar("SELECT spent_wei::text FROM sponsorship_budget").fetch_one(&pool).await?;
    assert_eq!(spent, (first + last).to_string(), "the budget counts what was really paid");

    // Asking for another EntryPoint than the deployed one is refused before any policy check.
    let wrong = address!("0000000000000000000000000000000000000bad");
    let answer =
        rpc(&base, "pm_getPaymasterStubData", json!([market_op(account.address(), 1, market), wrong, "0x7a69", {}]))
            .await;
    assert_eq!(answer["error"]["code"], codes::INVALID_PARAMS);
    assert!(error_message(&answer).contains("is not supported"), "{answer}");
    Ok(())
}
