//! The gasless flow through real infrastructure: a devnet (anvil + the deploy script), Alto as
//! the bundler, and the API's ERC-7677 sponsorship service on a private PostgreSQL.
//!
//! An account that holds USDC and never any ETH approves and purchases in one batched operation,
//! grants an app key the right to request executions, and the key requests one; the paymaster's
//! deposit pays every operation. Then the key is revoked and can no longer act.

use alloy::primitives::{B256, U256, keccak256};
use alloy::providers::Provider;
use alloy::signers::local::PrivateKeySigner;
use anyhow::Context;
use nexus_accounts::{
    AccountConfig, AccountError, Call, REQUEST_EXECUTION, SmartAccount, Sponsorship, purchased_credit,
    requested_execution,
};
use nexus_bindings::{AgentMarketplace, IEntryPoint};
use nexus_sponsor::SponsorConfig;
use nexus_testkit::bundler::{Alto, mint_usdc, register_usdc_agent};
use nexus_testkit::{Devnet, Postgres};

/// Anvil dev account 3: the deploy script's sponsorship signer (`roles.sponsor`).
const SPONSOR_ACCOUNT: usize = 3;
const USDC_PRICE: u64 = 2_500_000;

#[tokio::test]
async fn usdc_only_account_buys_and_runs_through_a_session_key() -> anyhow::Result<()> {
    let devnet = Devnet::start().await?;
    let alto = Alto::start(&devnet).await?;
    let pg = Postgres::start()?;
    let d = devnet.deployments.clone();
    let (market, usdc) = (d.contracts.agent_marketplace, d.contracts.usdc);
    let entry_point = d.contracts.entry_point.context("EntryPoint")?;
    let paymaster = d.contracts.nexus_paymaster.context("paymaster")?;
    let provider = devnet.dev_provider(0);

    // The API server with its sponsorship service (the deployments' sponsor key).
    let mut api = nexus_graphql::Config::local(pg.create_database("nexus")?);
    api.rpc_url = Some(devnet.rpc_url());
    let sponsor = SponsorConfig::from_deployments(&d, devnet.signer(SPONSOR_ACCOUNT))?;
    let server = nexus_graphql::start(api, std::future::pending()).await?;
    let app = nexus_sponsor::router(&server, Some(sponsor)).merge(nexus_graphql::router(server));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let paymaster_url = format!("http://{}/v1/paymaster", listener.local_addr()?);
    tokio::spawn(nexus_graphql::serve(listener, app, std::future::pending()));

    let agent = register_usdc_agent(&devnet, USDC_PRICE).await?;

    // The user's account, not deployed yet, funded with USDC only.
    let config =
        AccountConfig::from_deployments(&d, alto.url().parse()?, Sponsorship::service(paymaster_url.parse()?))?;
    let owner = PrivateKeySigner::random();
    let account = SmartAccount::new(provider.clone(), owner.clone(), config).await?;
    assert_eq!(account.owner(), owner.address());
    assert!(!account.is_deployed().await?);
    mint_usdc(&devnet, account.address(), 10 * USDC_PRICE).await?;
    let deposit = || async { IEntryPoint::new(entry_point, &provider).balanceOf(paymaster).call().await };
    let deposit_before = deposit().await?;

    // 0. Create the account: an operation that only deploys it (sponsored too); the address is
    // the one the factory predicted.
    let factory = d.contracts.nexus_account_factory.context("factory")?;
    let predicted = SmartAccount::address_of(&provider, factory, owner.address(), U256::ZERO).await?;
    assert_eq!(predicted, account.address());
    let created = account.deploy().await?.context("deployed by this call")?;
    assert!(account.is_deployed().await?);
    assert!(account.deploy().await?.is_none(), "deploying twice is a no-op");

    // 1. Approve + purchase 2 credits in one operation.
    let units = U256::from(2);
    let bought = account
        .execute_batch(vec![
            Call::approve(usdc, market, units * U256::from(USDC_PRICE)),
            Call::purchase(market, agent, units, U256::from(USDC_PRICE)),
        ])
        .await
        .map_err(|e| anyhow::anyhow!("{e}\n{}", alto.log_tail()))?;
    let credit = purchased_credit(&bought).context("Purchased log")?;
    let marketplace = AgentMarketplace::new(market, &provider);
    assert_eq!(marketplace.balanceOf(account.address(), credit).call().await?, units);

    // 2. Grant an app key `requestExecution` on the marketplace, 5 uses, for an hour, each
    // operation costing at most 0.1 ETH of the sponsor's gas.
    let key = PrivateKeySigner::random();
    let now = provider.get_block_by_number(Default::default()).await?.context("block")?.header.timestamp;
    let cap: u128 = 100_000_000_000_000_000;
    let granted = account.grant_session_key(key.address(), &[market], &[REQUEST_EXECUTION], now + 3600, 5, cap).await?;
    let grant = account.session_key_grant(key.address()).await?;
    assert_eq!((grant.maxUses, grant.uses, grant.maxGasCost), (5, 0, cap));
    assert_eq!(account.session_key_paymaster().await?, paymaster, "the factory pinned the deployed paymaster");
    let owner_nonce = account.nonce().await?;

    // 3. The key requests an execution: one credit burnt, the request on-chain.
    let app = account.session_key(key.clone());
    let requested = app.request_execution(market, credit, keccak256(b"{\"text\":\"hi\"}")).await?;
    let request_id = requested_execution(&requested).context("ExecutionRequested log")?;
    assert_eq!(marketplace.balanceOf(account.address(), credit).call().await?, U256::from(1));
    assert!(marketplace.isOpen(request_id).call().await?, "the request is open for the relayer");
    let event = requested.logs.iter().find_map(|l| l.log_decode::<AgentMarketplace::ExecutionRequested>().ok());
    assert_eq!(event.context("ExecutionRequested")?.inner.requester, account.address());
    assert_eq!(account.session_key_grant(key.address()).await?.uses, 1);
    // On the key's own nonce key: the owner's sequence did not move.
    assert_eq!(requested.nonce, U256::from_be_slice(key.address().as_slice()) << 64);
    assert_eq!(account.session_key_nonce(key.address()).await?, requested.nonce + U256::from(1));
    assert_eq!(account.nonce().await?, owner_nonce);

    // Gas: all paid by the paymaster's deposit, never by the account.
    let paid = created.actual_gas_cost + bought.actual_gas_cost + granted.actual_gas_cost + requested.actual_gas_cost;
    assert_eq!(deposit_before - deposit().await?, paid);
    assert_eq!(provider.get_balance(account.address()).await?, U256::ZERO, "the account never held ETH");

    // A session key cannot send value, nor exceed its grant's gas cap (refused before sending:
    // 1 wei is below any operation's cost), and after revocation it cannot act at all.
    let value_call = Call { value: U256::from(1), ..Call::request_execution(market, credit, B256::ZERO) };
    assert!(matches!(app.execute(value_call).await, Err(AccountError::SessionKeyMisuse(_))));
    let tight = PrivateKeySigner::random();
    account.grant_session_key(tight.address(), &[market], &[REQUEST_EXECUTION], now + 3600, 5, 1).await?;
    match account.session_key(tight).request_execution(market, credit, B256::ZERO).await {
        Err(AccountError::SessionKeyMisuse(why)) => assert!(why.contains("gas cap"), "{why}"),
        other => panic!("an operation above the gas cap was not refused: {other:?}"),
    }
    account.revoke_session_key(key.address()).await?;
    match app.request_execution(market, credit, B256::ZERO).await {
        Err(AccountError::Rejected(_)) => {}
        other => panic!("a revoked key still acts: {other:?}"),
    }
    assert_eq!(marketplace.balanceOf(account.address(), credit).call().await?, U256::from(1));
    Ok(())
}
