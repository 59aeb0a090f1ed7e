//! `tx` against a real anvil: concurrent sends from one key, nonce clashes retried, and a
//! replaced or stuck transaction ending the wait with its sentence instead of hanging.

use std::time::{Duration, Instant};

use alloy::network::{EthereumWallet, TransactionBuilder};
use alloy::node_bindings::{Anvil, AnvilInstance};
use alloy::primitives::{Address, U256};
use alloy::providers::ext::AnvilApi;
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::TransactionRequest;
use alloy::signers::local::PrivateKeySigner;

use super::*;

fn anvil() -> AnvilInstance {
    Anvil::new().path(nexus_testkit::foundry_tool("anvil").expect("anvil (make setup)")).spawn()
}

/// A provider signing for dev key `index`, as a separate `nexus` process has one.
fn provider(anvil: &AnvilInstance, index: usize) -> DynProvider {
    let signer = PrivateKeySigner::from(anvil.keys()[index].clone());
    ProviderBuilder::new().wallet(EthereumWallet::from(signer)).connect_http(anvil.endpoint_url()).erased()
}

fn transfer(to: u8) -> TransactionRequest {
    TransactionRequest::default().with_to(Address::repeat_byte(to)).with_value(U256::from(1))
}

fn settings(receipt_timeout: Duration) -> TxSettings {
    TxSettings { receipt_timeout, poll_interval: Duration::from_millis(100), max_attempts: 5 }
}

/// Waits until the node's pending count for `from` reaches `count` (our send is in the pool).
async fn until_pending(p: &DynProvider, from: Address, count: u64) {
    for _ in 0..200 {
        if p.get_transaction_count(from).pending().await.expect("count") >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the transaction never reached the mempool");
}

/// Sends `to` with `nonce` and ten times the estimated fees: a replacement anvil accepts.
async fn replace(p: &DynProvider, nonce: u64, to: u8) {
    let fees = p.estimate_eip1559_fees().await.expect("fees");
    let tx = transfer(to)
        .with_nonce(nonce)
        .with_max_fee_per_gas(fees.max_fee_per_gas * 10)
        .with_max_priority_fee_per_gas(fees.max_priority_fee_per_gas * 10 + 1);
    let _replacement = p.send_transaction(tx).await.expect("the replacement is accepted");
}

#[tokio::test]
async fn concurrent_sends_from_one_key_all_land() {
    let anvil = anvil();
    let from = anvil.addresses()[0];
    let settings = TxSettings::default();
    // Four "processes": each its own provider, all reading the same pending nonce at once.
    let providers: Vec<DynProvider> = (0..4).map(|_| provider(&anvil, 0)).collect();
    let sends = providers.iter().enumerate().map(|(i, p)| {
        let sender = Sender { provider: p, from, settings: &settings };
        async move { sender.send(transfer(0x10 + i as u8)).await }
    });
    for result in futures::future::join_all(sends).await {
        let receipt = result.expect("every concurrent send lands");
        assert!(receipt.status());
    }
    let p = &providers[0];
    assert_eq!(p.get_transaction_count(from).await.expect("count"), 4);
    for i in 0..4u8 {
        assert_eq!(p.get_balance(Address::repeat_byte(0x10 + i)).await.expect("balance"), U256::from(1));
    }
}

#[tokio::test]
async fn a_nonce_clash_is_sent_again_with_a_fresh_nonce() {
    let anvil = anvil();
    let from = anvil.addresses()[0];
    let (ours, other) = (provider(&anvil, 0), provider(&anvil, 0));
    let settings = settings(Duration::from_secs(30));
    let sender = Sender { provider: &ours, from, settings: &settings };

    // Nonce 0 mined by another process after we read it: "nonce too low", then nonce 1.
    other.send_transaction(transfer(0x20)).await.expect("send").get_receipt().await.expect("receipt");
    let receipt = sender.send_from_nonce(transfer(0x21), 0).await.expect("lands with the next nonce");
    assert!(receipt.status());
    assert_eq!(ours.get_transaction_count(from).await.expect("count"), 2);

    // Nonce 2 held in the mempool by another process with the same fees: "replacement
    // transaction underpriced", then nonce 3; a block mined later holds both.
    ours.anvil_set_auto_mine(false).await.expect("automine off");
    let _held = other.send_transaction(transfer(0x22).with_nonce(2)).await.expect("send");
    let miner = async {
        loop {
            tokio::time::sleep(Duration::from_millis(300)).await;
            other.evm_mine(None).await.expect("mine");
        }
    };
    let receipt = tokio::select! {
        r = sender.send_from_nonce(transfer(0x23), 2) => r.expect("lands after the clash"),
        () = miner => unreachable!(),
    };
    assert!(receipt.status());
    let tx = ours.get_transaction_by_hash(receipt.transaction_hash).await.expect("tx").expect("known");
    assert_eq!(alloy::consensus::Transaction::nonce(&tx), 3);
    assert_eq!(ours.get_balance(Address::repeat_byte(0x22)).await.expect("balance"), U256::from(1));
}

#[tokio::test]
async fn a_replaced_transaction_ends_the_wait_saying_so() {
    let anvil = anvil();
    let from = anvil.addresses()[0];
    let (ours, other) = (provider(&anvil, 0), provider(&anvil, 0));
    ours.anvil_set_auto_mine(false).await.expect("automine off");

    // Replaced in the mempool, nothing mined: the short bound ends the wait, and the node no
    // longer knowing the transaction says it was replaced (or dropped), nothing paid.
    let short = settings(Duration::from_secs(3));
    let sender = Sender { provider: &ours, from, settings: &short };
    let started = Instant::now();
    let (result, ()) = tokio::join!(sender.send(transfer(0x31)), async {
        until_pending(&other, from, 1).await;
        replace(&other, 0, 0x32).await;
    });
    let waited = started.elapsed();
    let error = result.expect_err("a replaced transaction cannot succeed");
    assert!(matches!(error, TxError::Vanished { nonce: 0, .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("replaced") && message.contains("Nothing was paid"), "{message}");
    assert!(waited >= Duration::from_secs(3) && waited < Duration::from_secs(15), "waited {waited:?}");

    // The replacement mined: the wait ends at once (well inside its bound), as replaced.
    other.evm_mine(None).await.expect("mine");
    let long = settings(Duration::from_secs(60));
    let sender = Sender { provider: &ours, from, settings: &long };
    let started = Instant::now();
    let (result, ()) = tokio::join!(sender.send(transfer(0x33)), async {
        until_pending(&other, from, 2).await;
        replace(&other, 1, 0x34).await;
        other.evm_mine(None).await.expect("mine");
    });
    let error = result.expect_err("a replaced transaction cannot succeed");
    assert!(matches!(error, TxError::Replaced { nonce: 1, .. }), "{error:?}");
    assert!(error.to_string().contains("was replaced") && error.to_string().contains("Nothing was paid"));
    assert!(started.elapsed() < Duration::from_secs(20), "waited {:?}", started.elapsed());
    assert_eq!(ours.get_balance(Address::repeat_byte(0x33)).await.expect("balance"), U256::ZERO);
}

#[tokio::test]
async fn a_transaction_never_mined_ends_the_wait_as_still_pending() {
    let anvil = anvil();
    let from = anvil.addresses()[0];
    let ours = provider(&anvil, 0);
    ours.anvil_set_auto_mine(false).await.expect("automine off");
    let short = settings(Duration::from_secs(1));
    let sender = Sender { provider: &ours, from, settings: &short };
    let started = Instant::now();
    let error = sender.send(transfer(0x41)).await.expect_err("nothing is mined");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(matches!(error, TxError::StillPending { nonce: 0, .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("still pending") && message.contains("nothing has been paid yet"), "{message}");
}

#[test]
fn nonce_clashes_are_told_by_code_then_by_message() {
    use NonceClash::*;
    // anvil (-32003), geth/reth (-32000), Besu's distinct code (-32001).
    assert_eq!(nonce_clash(-32003, "nonce too low"), Some(TooLow));
    assert_eq!(nonce_clash(-32003, "replacement transaction underpriced"), Some(ReplacementUnderpriced));
    assert_eq!(nonce_clash(-32003, "transaction already imported"), Some(AlreadyKnown));
    assert_eq!(nonce_clash(-32000, "nonce too low: next nonce 5, tx nonce 4"), Some(TooLow));
    assert_eq!(nonce_clash(-32000, "already known"), Some(AlreadyKnown));
    assert_eq!(nonce_clash(-32000, "Known transaction"), Some(AlreadyKnown));
    assert_eq!(nonce_clash(-32000, "replacement fee too low"), Some(ReplacementUnderpriced));
    assert_eq!(nonce_clash(-32001, "Nonce too low"), Some(TooLow));
    // Other refusals, and a revert whose reason string merely says so.
    assert_eq!(nonce_clash(-32003, "insufficient funds for gas * price + value"), None);
    assert_eq!(nonce_clash(-32000, "execution reverted"), None);
    assert_eq!(nonce_clash(3, "execution reverted: nonce too low"), None);
    assert_eq!(nonce_clash(-32602, "nonce too low"), None);
}
