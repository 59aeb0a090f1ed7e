//! The Python SDK's published signing vectors (`tests/signing_test.py` of
//! hyperliquid-python-sdk): connection id, order signatures with and without a client order
//! id, trigger orders, on mainnet and testnet; and the EIP-712 JSON a wallet is shown hashes to
//! the same digest.

use std::str::FromStr;

use alloy::primitives::{Address, B256, U256, keccak256};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::{Eip712Domain, SolStruct};
use hyperliquid_wire::{
    Agent, Network, OrderAction, OrderType, OrderWire, Trigger, WireSignature, action_hash, recover, signing_hash,
    typed_data,
};

const MAINNET: bool = true;

fn network(mainnet: bool) -> Network {
    if mainnet { Network::Mainnet } else { Network::Testnet }
}

/// The private key of the SDK's signing tests (tests/signing_test.py).
const SDK_KEY: &str = "0x0123456789012345678901234567890123456789012345678901234567890123";

fn order(asset: u32, is_buy: bool, px: &str, sz: &str, tif: &str, cloid: Option<&str>) -> OrderAction {
    let wire = OrderWire::limit(asset, is_buy, px.to_owned(), sz.to_owned(), false, tif);
    OrderAction::single(OrderWire { c: cloid.map(str::to_owned), ..wire })
}

fn sign(signer: &PrivateKeySigner, action: &OrderAction, nonce: u64, mainnet: bool) -> WireSignature {
    let digest = signing_hash(action_hash(action, None, nonce, None).unwrap(), network(mainnet));
    let signature = signer.sign_hash_sync(&digest).unwrap();
    WireSignature {
        r: format!("{:#x}", signature.r()),
        s: format!("{:#x}", signature.s()),
        v: 27 + u8::from(signature.v()),
    }
}

#[test]
fn connection_id_matches_the_sdk_vector() {
    // test_phantom_agent_creation_matches_production
    let action = order(4, true, "1670.1", "0.0147", "Ioc", None);
    let hash = action_hash(&action, None, 1_677_777_606_040, None).unwrap();
    assert_eq!(hash, B256::from_str("0x0fcbeda5ae3c4950a548021552a4fea2226858c4453571bf3f24ba017eac2908").unwrap());
}

#[test]
fn signatures_match_the_sdk_vectors_and_recover_the_signer() {
    let signer = PrivateKeySigner::from_str(SDK_KEY).unwrap();
    // (cloid, mainnet, r, s, v) from test_l1_action_signing_order_matches and
    // test_l1_action_signing_order_with_cloid_matches.
    let vectors = [
        (
            None,
            true,
            "0xd65369825a9df5d80099e513cce430311d7d26ddf477f5b3a33d2806b100d78e",
            "0x2b54116ff64054968aa237c20ca9ff68000f977c93289157748a3162b6ea940e",
            28,
        ),
        (
            None,
            false,
            "0x82b2ba28e76b3d761093aaded1b1cdad4960b3af30212b343fb2e6cdfa4e3d54",
            "0x6b53878fc99d26047f4d7e8c90eb98955a109f44209163f52d8dc4278cbbd9f5",
            27,
        ),
        (
            Some("0x00000000000000000000000000000001"),
            true,
            "0x41ae18e8239a56cacbc5dad94d45d0b747e5da11ad564077fcac71277a946e3",
            "0x3c61f667e747404fe7eea8f90ab0e76cc12ce60270438b2058324681a00116da",
            27,
        ),
        (
            Some("0x00000000000000000000000000000001"),
            false,
            "0xeba0664bed2676fc4e5a743bf89e5c7501aa6d870bdb9446e122c9466c5cd16d",
            "0x7f3e74825c9114bc59086f1eebea2928c190fdfbfde144827cb02b85bbe90988",
            28,
        ),
    ];
    for (cloid, mainnet, r, s, v) in vectors {
        let action = order(1, true, "100", "100", "Gtc", cloid);
        let ours = sign(&signer, &action, 0, mainnet);
        let expected = WireSignature { r: r.to_owned(), s: s.to_owned(), v };
        let parse = |h: &str| alloy::primitives::U256::from_str_radix(h.trim_start_matches("0x"), 16).unwrap();
        assert_eq!((parse(&ours.r), parse(&ours.s), ours.v), (parse(r), parse(s), v), "{cloid:?} mainnet={mainnet}");
        let digest = signing_hash(action_hash(&action, None, 0, None).unwrap(), network(mainnet));
        assert_eq!(recover(&expected, digest).unwrap(), signer.address());
        // The other network's digest recovers someone else: the source letter is signed.
        let other = signing_hash(action_hash(&action, None, 0, None).unwrap(), network(!mainnet));
        assert_ne!(recover(&expected, other).unwrap(), signer.address());
    }
}

#[test]
fn trigger_order_signatures_match_the_sdk_vectors() {
    // test_l1_action_signing_tpsl_order_matches: the trigger wire's keys are hashed in the
    // order isMarket, triggerPx, tpsl.
    let signer = PrivateKeySigner::from_str(SDK_KEY).unwrap();
    let mut action = order(1, true, "100", "100", "Gtc", None);
    action.orders[0].t = OrderType {
        limit: None,
        trigger: Some(Trigger { is_market: true, trigger_px: "103".into(), tpsl: "sl".into() }),
    };
    let vectors = [
        (
            true,
            "0x98343f2b5ae8e26bb2587daad3863bc70d8792b09af1841b6fdd530a2065a3f9",
            "0x6b5bb6bb0633b710aa22b721dd9dee6d083646a5f8e581a20b545be6c1feb405",
            27,
        ),
        (
            false,
            "0x971c554d917c44e0e1b6cc45d8f9404f32172a9d3b3566262347d0302896a2e4",
            "0x206257b104788f80450f8e786c329daa589aa0b32ba96948201ae556d5637eac",
            28,
        ),
    ];
    for (mainnet, r, s, v) in vectors {
        let ours = sign(&signer, &action, 0, mainnet);
        assert_eq!((ours.r.as_str(), ours.s.as_str(), ours.v), (r, s, v), "mainnet={mainnet}");
    }
}

#[test]
fn vault_and_expiry_change_the_hash() {
    let action = order(1, true, "100", "100", "Gtc", None);
    let plain = action_hash(&action, None, 7, None).unwrap();
    let vault = action_hash(&action, Some(Address::repeat_byte(1)), 7, None).unwrap();
    let expiring = action_hash(&action, None, 7, Some(9)).unwrap();
    assert_ne!(plain, vault);
    assert_ne!(plain, expiring);
    assert_ne!(vault, expiring);
}

/// The wallet is shown JSON, not our digest: rebuilding the EIP-712 digest from the JSON's own
/// types, domain and message (alloy's `TypedData` needs a feature the workspace does not build)
/// must give [`signing_hash`].
#[test]
fn typed_data_json_hashes_to_the_signing_digest() {
    let action = order(1, true, "100", "100", "Gtc", None);
    let connection_id = action_hash(&action, None, 0, None).unwrap();
    for mainnet in [MAINNET, !MAINNET] {
        let json = typed_data(connection_id, network(mainnet));
        assert_eq!(json["primaryType"], "Agent");
        let fields: Vec<String> = json["types"]["Agent"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| format!("{} {}", f["type"].as_str().unwrap(), f["name"].as_str().unwrap()))
            .collect();
        assert_eq!(format!("Agent({})", fields.join(",")), Agent::eip712_encode_type());
        let d = &json["domain"];
        let domain = Eip712Domain::new(
            Some(d["name"].as_str().unwrap().to_owned().into()),
            Some(d["version"].as_str().unwrap().to_owned().into()),
            Some(U256::from(d["chainId"].as_u64().unwrap())),
            Some(Address::from_str(d["verifyingContract"].as_str().unwrap()).unwrap()),
            None,
        );
        let m = &json["message"];
        let agent = Agent {
            source: m["source"].as_str().unwrap().to_owned(),
            connectionId: B256::from_str(m["connectionId"].as_str().unwrap()).unwrap(),
        };
        let mut bytes = vec![0x19, 0x01];
        bytes.extend_from_slice(domain.separator().as_slice());
        bytes.extend_from_slice(agent.eip712_hash_struct().as_slice());
        assert_eq!(keccak256(bytes), signing_hash(connection_id, network(mainnet)), "mainnet={mainnet}");
    }
}
