//! The deploy script's output, read back through the generated bindings: a curator registers an
//! agent on a freshly deployed registry and every field comes back as written, from both the
//! view functions and the `AgentRegistered` log.

use alloy::primitives::{U256, address, b256};
use alloy::providers::Provider;
use nexus_bindings::agent::{Category, Status};
use nexus_bindings::registry::{AgentRegistry, IAgentRegistry};
use nexus_bindings::{AgentMarketplace, TestUSDC};
use nexus_testkit::Devnet;

#[tokio::test]
async fn reads_an_agent_back_from_the_deployed_registry() {
    let devnet = Devnet::start().await.expect("devnet");
    let d = &devnet.deployments;
    let curator = devnet.dev_provider(0);
    let registry = AgentRegistry::new(d.contracts.agent_registry, &curator);

    let developer = address!("00000000000000000000000000000000000000d1");
    let metadata = r#"data:application/json,{"name":"Summarizer","tags":["text"]}"#;
    let params = IAgentRegistry::AgentParams {
        developer,
        paymentToken: d.contracts.usdc,
        price: alloy::primitives::Uint::from(2_500_000u64),
        maxDuration: 120,
        category: Category::Crypto.into(),
        imageDigest: b256!("1111111111111111111111111111111111111111111111111111111111111111"),
        metadataURI: metadata.to_owned(),
    };
    let receipt =
        registry.registerAgent(params.clone()).send().await.expect("send").get_receipt().await.expect("mined");
    assert!(receipt.status(), "registerAgent reverted");

    let registered = receipt.decoded_log::<AgentRegistry::AgentRegistered>().expect("AgentRegistered log");
    assert_eq!(registered.agentId, U256::from(1));
    assert_eq!(registered.developer, developer);
    assert_eq!(registered.paymentToken, d.contracts.usdc);
    assert_eq!(registered.metadataURI, metadata);
    assert_eq!(Status::try_from(registered.status), Ok(Status::Active));

    let agent = registry.getAgent(U256::from(1)).call().await.expect("getAgent");
    assert_eq!(agent.terms.developer, developer);
    assert_eq!(agent.terms.paymentToken, d.contracts.usdc);
    assert_eq!(agent.terms.price, params.price);
    assert_eq!(agent.terms.maxDuration, 120);
    assert_eq!(Category::try_from(agent.terms.category), Ok(Category::Crypto));
    assert_eq!(Status::try_from(agent.terms.status), Ok(Status::Active));
    assert_eq!(agent.imageDigest, params.imageDigest);
    assert_eq!(agent.metadataURI, metadata);
    assert_eq!(registry.agentCount().call().await.expect("agentCount"), U256::from(1));

    // Pin the Rust names of the Solidity enum values against the contract itself.
    for status in [Status::Paused, Status::Active, Status::Retired] {
        let receipt = registry
            .setStatus(U256::from(1), status.into())
            .send()
            .await
            .expect("send")
            .get_receipt()
            .await
            .expect("mined");
        assert!(receipt.status(), "setStatus({status:?}) reverted");
        let changed = receipt.decoded_log::<AgentRegistry::AgentStatusChanged>().expect("AgentStatusChanged log");
        assert_eq!(Status::try_from(changed.status), Ok(status));
        let terms = registry.terms(U256::from(1)).call().await.expect("terms");
        assert_eq!(Status::try_from(terms.status), Ok(status));
    }

    // The marketplace resolves the credit's ERC-1155 uri through the same registry entry.
    let marketplace = AgentMarketplace::new(d.contracts.agent_marketplace, &curator);
    let credit = marketplace.creditIdOf(U256::from(1), params.price).call().await.expect("creditIdOf");
    assert_eq!(credit, nexus_bindings::credit_id::encode(U256::from(1), U256::from(2_500_000u64)));
    assert_eq!(marketplace.uri(credit).call().await.expect("uri"), metadata);

    // Roles are wired as the deployments file says.
    let relayer_role = marketplace.RELAYER_ROLE().call().await.expect("role");
    assert!(marketplace.hasRole(relayer_role, d.roles.relayer).call().await.expect("hasRole"));
    assert_eq!(d.roles.relayer, devnet.signer(1).address());
    assert_eq!(marketplace.treasury().call().await.expect("treasury"), d.roles.treasury);
    let usdc = TestUSDC::new(d.contracts.usdc, &curator);
    assert_eq!(usdc.decimals().call().await.expect("decimals"), 6);
    assert!(d.deployment_block <= curator.get_block_number().await.expect("block"));
}

#[tokio::test]
async fn unknown_agents_revert_with_a_typed_error() {
    let devnet = Devnet::start().await.expect("devnet");
    let provider = devnet.dev_provider(3);
    let registry = AgentRegistry::new(devnet.deployments.contracts.agent_registry, &provider);
    let err = registry.getAgent(U256::from(42)).call().await.expect_err("unknown agent must revert");
    let decoded =
        err.as_decoded_interface_error::<AgentRegistry::AgentRegistryErrors>().expect("a registry custom error");
    assert_eq!(
        decoded,
        AgentRegistry::AgentRegistryErrors::UnknownAgent(AgentRegistry::UnknownAgent { agentId: U256::from(42) })
    );
}
