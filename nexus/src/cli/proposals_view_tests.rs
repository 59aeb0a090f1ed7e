use alloy::primitives::{Address, U256, address};
use alloy::sol_types::SolCall;
use nexus_bindings::{AgentMarketplace, ContractAddresses, Deployments, RoleHolders};
use nexus_proposals::Proposal;
use serde_json::json;

use super::*;

const MARKET: Address = address!("0x00000000000000000000000000000000000000a1");
const USDC: Address = address!("0x00000000000000000000000000000000000000a2");
const OTHER: Address = address!("0x00000000000000000000000000000000000000ff");

fn decoder() -> Decoder {
    let who = Address::repeat_byte(1);
    Decoder::new(&Deployments {
        chain_id: 31337,
        deployment_block: 0,
        contracts: ContractAddresses {
            agent_registry: address!("0x00000000000000000000000000000000000000a0"),
            agent_marketplace: MARKET,
            usdc: USDC,
            entry_point: None,
            nexus_account_factory: None,
            nexus_paymaster: None,
        },
        roles: RoleHolders { admin: who, curator: who, relayer: who, treasury: who, sponsor: None },
    })
    .expect("bundled ABIs parse")
}

fn call(chain_id: u64, to: Address, value: u64, data: Vec<u8>) -> Proposal {
    Proposal::Call { chain_id, to, value: U256::from(value), data: data.into(), summary: "do it".into() }
}

fn view(proposal: &Proposal) -> ProposalView {
    ProposalView::new(&decoder(), 0, proposal).expect("view")
}

fn purchase() -> Vec<u8> {
    AgentMarketplace::purchaseCall { agentId: U256::from(7), units: U256::from(2), maxUnitPrice: U256::from(1000) }
        .abi_encode()
}

#[test]
fn a_deployment_contract_is_decoded_with_its_abi() {
    let d = decoder();
    let CallData::Decoded { contract, function, signature, args } = d.decode(MARKET, &purchase()) else {
        panic!("not decoded");
    };
    assert_eq!((contract.as_str(), function.as_str()), ("AgentMarketplace", "purchase"));
    assert_eq!(signature, "purchase(uint256,uint256,uint256)");
    let shown: Vec<(&str, &str)> = args.iter().map(|a| (a.name.as_str(), a.value.as_str())).collect();
    assert_eq!(shown, [("agentId", "7"), ("units", "2"), ("maxUnitPrice", "1000")]);
    let text = view(&call(31337, MARKET, 2_500_000_000_000_000_000, purchase())).render();
    assert!(text.contains("AgentMarketplace purchase(agentId: 7, units: 2, maxUnitPrice: 1000)"), "{text}");
    assert!(text.contains("2.5 ETH (2500000000000000000 wei)"), "{text}");
    assert!(text.contains("(AgentMarketplace)"), "{text}");
}

#[test]
fn a_selector_alone_on_an_unknown_contract_is_not_trusted() {
    assert_eq!(
        decoder().decode(OTHER, &purchase()),
        CallData::Unknown { selector: Some(alloy::hex::encode_prefixed(AgentMarketplace::purchaseCall::SELECTOR)) }
    );
    assert_eq!(decoder().decode(OTHER, &[]), CallData::Empty);
    assert_eq!(decoder().decode(OTHER, &[1, 2]), CallData::Unknown { selector: None });
    // A known function whose arguments are cut short.
    let cut = &purchase()[..40];
    assert!(matches!(decoder().decode(MARKET, cut), CallData::Undecodable { function, .. } if function == "purchase"));
}

#[test]
fn erc20_transfers_are_decoded_for_any_token() {
    let approve = IERC20::approveCall { spender: OTHER, amount: U256::from(10_500_000u64) }.abi_encode();
    let text = view(&call(31337, USDC, 0, approve.clone())).render();
    assert!(text.contains(&format!("ERC-20 approve(spender: {}", OTHER.to_checksum(None))), "{text}");
    assert!(text.contains("amount: 10.5 USDC (10500000 base units)"), "{text}");
    let unknown_token = address!("0x00000000000000000000000000000000000000b0");
    let text = view(&call(31337, unknown_token, 0, approve)).render();
    assert!(text.contains("ERC-20 approve(") && text.contains("amount: 10500000 base units"), "{text}");
    let from = IERC20::transferFromCall { from: MARKET, to: OTHER, amount: U256::from(1) }.abi_encode();
    let CallData::Decoded { function, args, .. } = decoder().decode(unknown_token, &from) else { panic!() };
    assert_eq!((function.as_str(), args.len()), ("transferFrom", 3));
}

#[test]
fn another_chain_is_flagged() {
    let v = view(&call(1, OTHER, 0, vec![]));
    assert!(matches!(&v, ProposalView::Call(c) if !c.chain_matches));
    assert!(v.render().contains("NOT the chain this CLI is connected to"));
    let v = view(&call(31337, OTHER, 0, vec![]));
    assert!(!v.render().contains("NOT the chain"), "{}", v.render());
}

fn typed(summary: &str, contents: &str) -> Proposal {
    Proposal::TypedData {
        typed_data: json!({
            "types": {"EIP712Domain": [{"name": "name", "type": "string"}, {"name": "chainId", "type": "uint256"}],
                      "Note": [{"name": "text", "type": "string"}, {"name": "n", "type": "uint64"}]},
            "primaryType": "Note", "domain": {"name": "Exchange", "chainId": 1337},
            "message": {"text": contents, "n": 5}
        }),
        submit_to: "https://api.hyperliquid.xyz/exchange".into(),
        submit_body: json!({"action": {"type": "order", "note": contents}, "nonce": 1}),
        summary: summary.into(),
    }
}

#[test]
fn typed_data_shows_the_recipient_domain_and_message_neutralised() {
    // Built directly, skipping validation: rendering must neutralise on its own.
    let hostile = "\u{1b}]52;c;cm0gLXJmIH4=\u{7}\u{202e}fdp.exe";
    let v = view(&typed(hostile, hostile));
    let text = v.render();
    assert!(text.starts_with("#0 typed data: your signature goes to >>> api.hyperliquid.xyz <<<"), "{text}");
    assert!(text.contains("domain:       name=\"Exchange\", chainId=1337"), "{text}");
    assert!(text.contains("primary type: Note"), "{text}");
    assert!(text.contains("    n: 5"), "{text}");
    assert!(!text.chars().any(crate::cli::terminal::is_unsafe), "{text}");
    assert!(text.contains("\\u{202e}"), "{text}");
    let ProposalView::TypedData(t) = &v else { panic!("typed data") };
    assert_eq!(t.signing_hash, nexus_proposals::eip712::signing_hash(&t.typed_data).expect("hash"));
}

#[test]
fn json_form_is_tagged_and_complete() {
    let approve = IERC20::approveCall { spender: OTHER, amount: U256::from(1) }.abi_encode();
    let value = serde_json::to_value(view(&call(31337, USDC, 0, approve))).expect("json");
    assert_eq!(value["kind"], "call");
    assert_eq!(value["toName"], "USDC");
    assert_eq!(value["decoded"]["status"], "decoded");
    assert_eq!(value["decoded"]["signature"], "approve(address,uint256)");
    let value = serde_json::to_value(view(&typed("s", "x"))).expect("json");
    assert_eq!(
        (value["kind"].as_str(), value["submitHost"].as_str()),
        (Some("typedData"), Some("api.hyperliquid.xyz"))
    );
    assert_eq!(value["submitBody"]["nonce"], 1);
}
