//! `make gas`: the whole-transaction gas (receipt `gasUsed`, intrinsic cost included) of each
//! marketplace operation, printed as `gas.<operation>=<gas>` lines.
//!
//! Measured the way the issue defines the expensive case: on contracts already in use (a warm-up
//! buyer has purchased, requested and been settled in both tokens, so the treasury and the
//! contract's token balances are non-zero), by a buyer, requester and developer each doing the
//! operation for the first time (their storage slots are zero and cold). Gas is deterministic, so
//! the binary also enforces the bars and exits non-zero when one is exceeded.

use std::process::ExitCode;

use alloy::primitives::{Address, B256, U256, address, keccak256};
use alloy::providers::{DynProvider, ext::AnvilApi};
use alloy::rpc::types::TransactionReceipt;
use anyhow::{Context, Result, bail};
use nexus_bindings::marketplace::{AgentMarketplace, IAgentMarketplace};
use nexus_bindings::registry::{AgentRegistry, IAgentRegistry};
use nexus_bindings::{TestUSDC, agent::Category};
use nexus_testkit::Devnet;

/// (operation, bar): purchases under 100k (the seed's requirement), requests under 80k,
/// settlements under 70k. Reclaim has no bar in the issue; it is reported all the same.
const BARS: &[(&str, Option<u64>)] = &[
    ("purchase_erc20", Some(100_000)),
    ("purchase_eth", Some(100_000)),
    ("request_execution", Some(80_000)),
    ("settle_success", Some(70_000)),
    ("settle_failure", Some(70_000)),
    ("reclaim", None),
];

const USDC_PRICE: u64 = 2_500_000; // 2.50 USDC
const ETH_PRICE: u64 = 1_000_000_000_000_000; // 0.001 ETH
const MAX_DURATION: u32 = 60;

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(over_bar) if over_bar.is_empty() => ExitCode::SUCCESS,
        Ok(over_bar) => {
            eprintln!("gas bars exceeded: {}", over_bar.join(", "));
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("gas-report failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Sends and waits, failing on a revert; returns the receipt.
macro_rules! mined {
    ($call:expr, $what:literal) => {{
        let receipt: TransactionReceipt = $call
            .send()
            .await
            .with_context(|| concat!("sending ", $what))?
            .get_receipt()
            .await
            .with_context(|| concat!("waiting for ", $what))?;
        if !receipt.status() {
            bail!(concat!($what, " reverted"));
        }
        receipt
    }};
}

struct Request {
    id: U256,
    execution: IAgentMarketplace::Execution,
}

async fn request(
    market: &AgentMarketplace::AgentMarketplaceInstance<DynProvider>,
    credit: U256,
) -> Result<(Request, u64)> {
    let receipt = mined!(market.requestExecution(credit, keccak256(b"{\"text\":\"hello\"}")), "requestExecution");
    let log = receipt.decoded_log::<AgentMarketplace::ExecutionRequested>().context("ExecutionRequested log")?;
    Ok((Request { id: log.requestId, execution: log.execution() }, receipt.gas_used))
}

async fn run() -> Result<Vec<String>> {
    let devnet = Devnet::start().await.context("starting the devnet")?;
    let d = devnet.deployments.clone();
    let curator = devnet.dev_provider(0);
    let relayer = devnet.dev_provider(1);

    let registry = AgentRegistry::new(d.contracts.agent_registry, curator.clone());
    let usdc_admin = TestUSDC::new(d.contracts.usdc, curator.clone());

    // Two agents per token: a "warm" one used by the warm-up, and one whose developer has never
    // been paid, for the first-time settlement.
    let mut agent_ids = Vec::new();
    for (developer, token, price) in [
        (address!("00000000000000000000000000000000000000a1"), d.contracts.usdc, USDC_PRICE),
        (address!("00000000000000000000000000000000000000a2"), d.contracts.usdc, USDC_PRICE),
        (address!("00000000000000000000000000000000000000a3"), Address::ZERO, ETH_PRICE),
    ] {
        let params = IAgentRegistry::AgentParams {
            developer,
            paymentToken: token,
            price: alloy::primitives::Uint::from(price),
            maxDuration: MAX_DURATION,
            category: Category::General.into(),
            imageDigest: B256::repeat_byte(0x11),
            metadataURI: "data:application/json,{}".to_owned(),
        };
        let receipt = mined!(registry.registerAgent(params), "registerAgent");
        agent_ids.push(receipt.decoded_log::<AgentRegistry::AgentRegistered>().context("AgentRegistered")?.agentId);
    }
    let (warm_usdc_agent, fresh_usdc_agent, eth_agent) = (agent_ids[0], agent_ids[1], agent_ids[2]);

    // Warm-up by account 3: the marketplace holds USDC and ETH, the treasury has fee balances
    // in both tokens, the request counter is past 1.
    let warm = devnet.dev_provider(3);
    let warm_market = AgentMarketplace::new(d.contracts.agent_marketplace, warm.clone());
    let warm_usdc = TestUSDC::new(d.contracts.usdc, warm.clone());
    mined!(usdc_admin.mint(devnet.signer(3).address(), U256::from(100 * USDC_PRICE)), "mint");
    mined!(warm_usdc.approve(d.contracts.agent_marketplace, U256::MAX), "approve");
    let relayer_market = AgentMarketplace::new(d.contracts.agent_marketplace, relayer.clone());
    for (agent, price, value) in
        [(warm_usdc_agent, USDC_PRICE, U256::ZERO), (eth_agent, ETH_PRICE, U256::from(2 * ETH_PRICE))]
    {
        let receipt =
            mined!(warm_market.purchase(agent, U256::from(2), U256::from(price)).value(value), "warm-up purchase");
        let credit = receipt.decoded_log::<AgentMarketplace::Purchased>().context("Purchased")?.creditId;
        let (req, _) = request(&warm_market, credit).await?;
        mined!(relayer_market.settle(req.id, req.execution, true, B256::repeat_byte(1)), "warm-up settle");
    }

    // The measured buyer (account 4) has never touched the marketplace; it approves exactly
    // what it spends, so its allowance slot is written too (the expensive case).
    let buyer = devnet.dev_provider(4);
    let market = AgentMarketplace::new(d.contracts.agent_marketplace, buyer.clone());
    let buyer_usdc = TestUSDC::new(d.contracts.usdc, buyer.clone());
    mined!(usdc_admin.mint(devnet.signer(4).address(), U256::from(10 * USDC_PRICE)), "mint");
    mined!(buyer_usdc.approve(d.contracts.agent_marketplace, U256::from(3 * USDC_PRICE)), "approve");

    let mut gas = Vec::new();
    // Bounded by the price the buyer saw (purchase's third argument, the check costs a few gas).
    let receipt = mined!(market.purchase(fresh_usdc_agent, U256::from(3), U256::from(USDC_PRICE)), "purchase (USDC)");
    gas.push(("purchase_erc20", receipt.gas_used));
    let usdc_credit = receipt.decoded_log::<AgentMarketplace::Purchased>().context("Purchased")?.creditId;

    let receipt = mined!(
        market.purchase(eth_agent, U256::from(2), U256::from(ETH_PRICE)).value(U256::from(2 * ETH_PRICE)),
        "purchase (ETH)"
    );
    gas.push(("purchase_eth", receipt.gas_used));

    // First request ever by this account; 3 credits → 2, so no refund for clearing the slot.
    let (first, request_gas) = request(&market, usdc_credit).await?;
    gas.push(("request_execution", request_gas));
    let receipt =
        mined!(relayer_market.settle(first.id, first.execution, true, B256::repeat_byte(2)), "settle (success)");
    gas.push(("settle_success", receipt.gas_used));

    let (second, _) = request(&market, usdc_credit).await?;
    let receipt = mined!(relayer_market.settle(second.id, second.execution, false, B256::ZERO), "settle (failure)");
    gas.push(("settle_failure", receipt.gas_used));

    // Reclaim by a requester who has never been refunded: account 5 buys and requests, nobody
    // settles, time passes the deadline.
    let reclaimer = devnet.dev_provider(5);
    let reclaim_market = AgentMarketplace::new(d.contracts.agent_marketplace, reclaimer.clone());
    mined!(usdc_admin.mint(devnet.signer(5).address(), U256::from(USDC_PRICE)), "mint");
    mined!(
        TestUSDC::new(d.contracts.usdc, reclaimer.clone())
            .approve(d.contracts.agent_marketplace, U256::from(USDC_PRICE)),
        "approve"
    );
    let receipt = mined!(reclaim_market.purchase(fresh_usdc_agent, U256::from(1), U256::from(USDC_PRICE)), "purchase");
    let credit = receipt.decoded_log::<AgentMarketplace::Purchased>().context("Purchased")?.creditId;
    let (open, _) = request(&reclaim_market, credit).await?;
    let grace = u64::from(reclaim_market.settlementGrace().call().await?);
    reclaimer.anvil_increase_time(u64::from(MAX_DURATION) + grace + 1).await?;
    reclaimer.anvil_mine(Some(1), None).await?;
    let receipt = mined!(reclaim_market.reclaim(open.id, open.execution), "reclaim");
    gas.push(("reclaim", receipt.gas_used));

    let mut over_bar = Vec::new();
    for (name, used) in &gas {
        println!("gas.{name}={used}");
        let bar = BARS.iter().find(|(n, _)| n == name).and_then(|(_, bar)| *bar);
        if let Some(bar) = bar.filter(|bar| used >= bar) {
            over_bar.push(format!("{name} {used} >= {bar}"));
        }
    }
    Ok(over_bar)
}
