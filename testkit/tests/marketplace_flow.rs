//! One execution through the generated marketplace bindings on the deployed contracts: buy in
//! USDC, request, check the request's on-chain commitment equals the Rust-side hash of the
//! `Execution` rebuilt from the log (what the relayer relies on), settle, withdraw; then a
//! purchase bounded by a price the developer has since raised is refused with `PriceAboveMax`.

use alloy::primitives::{B256, U256, keccak256};
use alloy::sol_types::SolValue;
use nexus_bindings::agent::Category;
use nexus_bindings::registry::{AgentRegistry, IAgentRegistry};
use nexus_bindings::{AgentMarketplace, TestUSDC};
use nexus_testkit::Devnet;

#[tokio::test]
async fn buy_request_settle_withdraw() {
    let devnet = Devnet::start().await.expect("devnet");
    let d = devnet.deployments.clone();
    let developer = devnet.signer(6);
    let price = 1_000_000u64;

    let registry = AgentRegistry::new(d.contracts.agent_registry, devnet.dev_provider(0));
    let params = IAgentRegistry::AgentParams {
        developer: developer.address(),
        paymentToken: d.contracts.usdc,
        price: alloy::primitives::Uint::from(price),
        maxDuration: 30,
        category: Category::General.into(),
        imageDigest: B256::repeat_byte(7),
        metadataURI: "data:application/json,{}".into(),
    };
    registry.registerAgent(params).send().await.unwrap().get_receipt().await.unwrap();

    let buyer = devnet.dev_provider(4);
    let usdc = TestUSDC::new(d.contracts.usdc, &buyer);
    usdc.mint(devnet.signer(4).address(), U256::from(price)).send().await.unwrap().get_receipt().await.unwrap();
    usdc.approve(d.contracts.agent_marketplace, U256::from(price)).send().await.unwrap().get_receipt().await.unwrap();

    let market = AgentMarketplace::new(d.contracts.agent_marketplace, &buyer);
    let receipt = market
        .purchase(U256::from(1), U256::from(1), U256::from(price))
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let purchased = receipt.decoded_log::<AgentMarketplace::Purchased>().expect("Purchased");
    assert_eq!(market.balanceOf(devnet.signer(4).address(), purchased.creditId).call().await.unwrap(), U256::from(1));

    let input_hash = keccak256(br#"{"text":"hi"}"#);
    let receipt =
        market.requestExecution(purchased.creditId, input_hash).send().await.unwrap().get_receipt().await.unwrap();
    let requested = receipt.decoded_log::<AgentMarketplace::ExecutionRequested>().expect("ExecutionRequested");
    assert_eq!(requested.inputHash, input_hash);
    assert_eq!(requested.developer, developer.address());
    let execution = requested.execution();
    let commitment = market.requestCommitment(requested.requestId).call().await.unwrap();
    assert_eq!(commitment, keccak256(execution.abi_encode()), "Rust and Solidity disagree on the commitment");

    let relayer = AgentMarketplace::new(d.contracts.agent_marketplace, devnet.dev_provider(1));
    let output_hash = keccak256(b"output");
    let receipt = relayer
        .settle(requested.requestId, execution.clone(), true, output_hash)
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let settled = receipt.decoded_log::<AgentMarketplace::ExecutionSettled>().expect("ExecutionSettled");
    assert_eq!(settled.amount + settled.fee, U256::from(price));
    assert_eq!(settled.fee, U256::from(price * 250 / 10_000));
    assert!(!market.isOpen(requested.requestId).call().await.unwrap());

    // A second settlement is refused with the typed error the relayer treats as "already done".
    let err =
        relayer.settle(requested.requestId, execution, true, output_hash).call().await.expect_err("settled twice");
    let decoded =
        err.as_decoded_interface_error::<AgentMarketplace::AgentMarketplaceErrors>().expect("a marketplace error");
    assert!(matches!(decoded, AgentMarketplace::AgentMarketplaceErrors::RequestNotOpen(_)), "{decoded:?}");

    let dev_market = AgentMarketplace::new(d.contracts.agent_marketplace, devnet.provider(developer.clone()));
    dev_market.withdraw(d.contracts.usdc).send().await.unwrap().get_receipt().await.unwrap();
    assert_eq!(usdc.balanceOf(developer.address()).call().await.unwrap(), settled.amount);
    assert_eq!(market.withdrawable(d.contracts.usdc, developer.address()).call().await.unwrap(), U256::ZERO);

    // The developer doubles the price; a purchase bounded by the old one is refused with the
    // typed error the CLI explains (nothing is taken: the allowance is left as it was).
    let dev_registry = AgentRegistry::new(d.contracts.agent_registry, devnet.provider(developer));
    let raised = 2 * price;
    dev_registry
        .updateAgent(U256::from(1), alloy::primitives::Uint::from(raised), 30, B256::repeat_byte(7), "data:,x".into())
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    usdc.mint(devnet.signer(4).address(), U256::from(raised)).send().await.unwrap().get_receipt().await.unwrap();
    usdc.approve(d.contracts.agent_marketplace, U256::from(raised)).send().await.unwrap().get_receipt().await.unwrap();
    let err = market.purchase(U256::from(1), U256::from(1), U256::from(price)).call().await.expect_err("price rose");
    let decoded =
        err.as_decoded_interface_error::<AgentMarketplace::AgentMarketplaceErrors>().expect("a marketplace error");
    assert_eq!(
        decoded,
        AgentMarketplace::AgentMarketplaceErrors::PriceAboveMax(AgentMarketplace::PriceAboveMax {
            unitPrice: alloy::primitives::Uint::from(raised),
            maxUnitPrice: U256::from(price),
        })
    );
    // Bounded by the new price, it goes through.
    let receipt = market.purchase(U256::from(1), U256::from(1), U256::from(raised)).send().await.unwrap();
    assert!(receipt.get_receipt().await.unwrap().status());
}
