//! The client against a real devnet (the deploy script's EntryPoint v0.8, NexusAccountFactory and
//! NexusPaymaster) and a real Alto bundler.
//!
//! One devnet and one Alto serve the whole bundler scenario (a new account's sponsored first
//! operation, then a replayed nonce and a wrong signature on the same account): starting Alto
//! costs seconds, and the later cases need the deployed account anyway.

use std::time::Duration;

use alloy::primitives::aliases::U192;
use alloy::primitives::{Address, Bytes, U256, address};
use alloy::providers::Provider;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;
use nexus_bindings::{IEntryPoint, NexusAccount, NexusPaymaster};
use nexus_bundler_client::{
    BundlerClient, Error, RejectionKind, UserOperation, chain_user_op_hash, counterfactual_account,
    dummy_owner_signature, get_nonce, is_deployed, paymaster, session_key_nonce_key, sign_as_owner,
    sign_as_session_key, user_op_hash,
};
use nexus_testkit::Devnet;
use nexus_testkit::bundler::Alto;

/// Anvil dev account 3: the deploy script's sponsorship signer.
const SPONSOR_ACCOUNT: usize = 3;
/// Generous for a local chain that mines at once and a bundler that bundles every 100 ms–1 s.
const INCLUSION_TIMEOUT: Duration = Duration::from_secs(30);
/// Sponsorships in the tests are valid for an hour.
const SPONSOR_WINDOW_SECS: u64 = 3600;
/// Where the test operations send their (empty, zero-value) call.
const TARGET: Address = address!("000000000000000000000000000000000000dEaD");

fn empty_call() -> Bytes {
    NexusAccount::executeCall { target: TARGET, value: U256::ZERO, data: Bytes::new() }.abi_encode().into()
}

/// The paymaster binding's own copy of the packed struct (each `sol!` module has its own type).
fn paymaster_op(op: &UserOperation) -> nexus_bindings::paymaster::NexusPaymaster::PackedUserOperation {
    let p = op.pack();
    nexus_bindings::paymaster::NexusPaymaster::PackedUserOperation {
        sender: p.sender,
        nonce: p.nonce,
        initCode: p.initCode,
        callData: p.callData,
        accountGasLimits: p.accountGasLimits,
        preVerificationGas: p.preVerificationGas,
        gasFees: p.gasFees,
        paymasterAndData: p.paymasterAndData,
        signature: p.signature,
    }
}

#[tokio::test]
async fn local_hashes_match_the_chain() -> anyhow::Result<()> {
    let devnet = Devnet::start().await?;
    let provider = devnet.dev_provider(0);
    let chain_id = provider.get_chain_id().await?;
    let contracts = &devnet.deployments.contracts;
    let entry_point = contracts.entry_point.expect("entry point deployed");
    let pm = contracts.nexus_paymaster.expect("paymaster deployed");
    let factory = contracts.nexus_account_factory.expect("factory deployed");

    let owner = PrivateKeySigner::random();
    let account = counterfactual_account(&provider, factory, owner.address(), U256::from(42)).await?;
    let mut op = UserOperation {
        nonce: U256::from(5) | (U256::from(9) << 64),
        call_data: empty_call(),
        call_gas_limit: 123_456,
        verification_gas_limit: 654_321,
        pre_verification_gas: 55_555,
        max_fee_per_gas: 3_000_000_007,
        max_priority_fee_per_gas: 1_000_000_003,
        paymaster: Some(pm),
        paymaster_verification_gas_limit: Some(77_777),
        paymaster_post_op_gas_limit: Some(1_234),
        paymaster_data: Some(paymaster::sponsored_stub_data()),
        signature: Bytes::from(vec![0xab; 66]),
        ..Default::default()
    };
    account.apply(&mut op, false);

    // userOpHash: the EIP-712 hash over the packed form, as EntryPoint v0.8 computes it.
    let local = user_op_hash(&op.pack(), entry_point, chain_id);
    assert_eq!(local, chain_user_op_hash(&provider, entry_point, &op).await?);
    // The signature is not covered; every other field is.
    let resigned = UserOperation { signature: Bytes::new(), ..op.clone() };
    assert_eq!(user_op_hash(&resigned.pack(), entry_point, chain_id), local);
    let bumped = UserOperation { call_gas_limit: op.call_gas_limit + 1, ..op.clone() };
    assert_ne!(user_op_hash(&bumped.pack(), entry_point, chain_id), local);
    // The hash binds the chain and the EntryPoint.
    assert_ne!(user_op_hash(&op.pack(), entry_point, chain_id + 1), local);

    // NexusPaymaster's sponsored hash.
    let (until, after) = (1_900_000_000u64, 1_700_000_000u64);
    let on_chain = NexusPaymaster::new(pm, &provider)
        .getHash(
            paymaster_op(&op),
            alloy::primitives::aliases::U48::from(until),
            alloy::primitives::aliases::U48::from(after),
        )
        .call()
        .await?;
    assert_eq!(paymaster::sponsored_hash(&op, chain_id, until, after), on_chain);

    // Keyed nonces: a fresh key starts at 0 with the key in the top 192 bits.
    let key = U192::from(7);
    assert_eq!(get_nonce(&provider, entry_point, account.sender, key).await?, U256::from(7) << 64);
    let code = IEntryPoint::new(entry_point, &provider).getNonce(account.sender, U192::ZERO).call().await?;
    assert_eq!(code, U256::ZERO);
    Ok(())
}

/// Sets fees, estimates gas (with `op.signature` as the placeholder, an owner-shaped one if
/// empty) and sponsors an operation for `op.sender`; the caller signs it.
async fn prepare(
    bundler: &BundlerClient,
    provider: &impl Provider,
    mut op: UserOperation,
    pm: Address,
    sponsor: &PrivateKeySigner,
    chain_id: u64,
) -> anyhow::Result<UserOperation> {
    op.apply_fees(&bundler.suggest_fees(provider).await?);
    op.paymaster = Some(pm);
    op.paymaster_data = Some(paymaster::sponsored_stub_data());
    if op.signature.is_empty() {
        op.signature = dummy_owner_signature();
    }
    let estimate = bundler.estimate_user_operation_gas(&op).await?;
    op.apply_gas_estimate(&estimate);
    let now = provider.get_block_by_number(Default::default()).await?.map(|b| b.header.timestamp).unwrap_or_default();
    paymaster::sponsor(&mut op, sponsor, chain_id, now + SPONSOR_WINDOW_SECS, 0)?;
    Ok(op)
}

#[tokio::test]
async fn sponsored_operations_through_alto() -> anyhow::Result<()> {
    let devnet = Devnet::start().await?;
    let alto = Alto::start(&devnet).await?;
    let provider = devnet.dev_provider(0);
    let chain_id = provider.get_chain_id().await?;
    let contracts = &devnet.deployments.contracts;
    let entry_point = contracts.entry_point.expect("entry point deployed");
    let pm = contracts.nexus_paymaster.expect("paymaster deployed");
    let factory = contracts.nexus_account_factory.expect("factory deployed");
    let sponsor = devnet.signer(SPONSOR_ACCOUNT);
    assert_eq!(devnet.deployments.roles.sponsor, Some(sponsor.address()));

    let bundler = BundlerClient::new(alto.url().parse()?, entry_point);
    bundler.check_entry_point().await?;
    assert_eq!(bundler.chain_id().await?, chain_id);

    // A new account: counterfactual address, deployed by its first (sponsored) operation.
    let owner = PrivateKeySigner::random();
    let account = counterfactual_account(&provider, factory, owner.address(), U256::ZERO).await?;
    assert!(!is_deployed(&provider, account.sender).await?);
    assert_eq!(provider.get_balance(account.sender).await?, U256::ZERO, "the account holds no ETH");
    let mut op = UserOperation { call_data: empty_call(), ..Default::default() };
    account.apply(&mut op, false);
    op.nonce = get_nonce(&provider, entry_point, account.sender, U192::ZERO).await?;
    let mut op = prepare(&bundler, &provider, op, pm, &sponsor, chain_id).await?;
    let hash = user_op_hash(&op.pack(), entry_point, chain_id);
    op.signature = sign_as_owner(&owner, hash)?;
    let deposit_before = IEntryPoint::new(entry_point, &provider).balanceOf(pm).call().await?;

    let sent = bundler.send_user_operation(&op).await?;
    assert_eq!(sent, hash, "the bundler's userOpHash is ours");
    let receipt = bundler.wait_for_receipt(sent, INCLUSION_TIMEOUT).await?;
    assert!(receipt.success, "operation reverted: {:?}", receipt.reason);
    assert_eq!((receipt.sender, receipt.paymaster, receipt.nonce), (account.sender, Some(pm), op.nonce));
    assert!(receipt.receipt.status());
    assert!(is_deployed(&provider, account.sender).await?);
    assert_eq!(NexusAccount::new(account.sender, &provider).owner().call().await?, owner.address());
    let deposit_after = IEntryPoint::new(entry_point, &provider).balanceOf(pm).call().await?;
    assert_eq!(deposit_before - deposit_after, receipt.actual_gas_cost, "the paymaster paid the gas");
    let found = bundler.get_user_operation_by_hash(sent).await?.expect("bundler knows the operation");
    assert_eq!((found.user_operation.sender, found.user_operation.nonce), (account.sender, op.nonce));
    assert_eq!(found.transaction_hash, Some(receipt.receipt.transaction_hash));

    // The same nonce again (a different, correctly signed operation): the EntryPoint refuses it.
    let mut replay =
        UserOperation { sender: account.sender, nonce: op.nonce, call_data: empty_call(), ..Default::default() };
    replay.call_gas_limit = op.call_gas_limit;
    replay.verification_gas_limit = op.verification_gas_limit;
    replay.pre_verification_gas = op.pre_verification_gas;
    replay.paymaster_verification_gas_limit = op.paymaster_verification_gas_limit;
    replay.paymaster_post_op_gas_limit = op.paymaster_post_op_gas_limit;
    replay.apply_fees(&bundler.suggest_fees(&provider).await?);
    replay.paymaster = Some(pm);
    let now = provider.get_block_by_number(Default::default()).await?.map(|b| b.header.timestamp).unwrap_or_default();
    paymaster::sponsor(&mut replay, &sponsor, chain_id, now + SPONSOR_WINDOW_SECS, 0)?;
    replay.signature = sign_as_owner(&owner, user_op_hash(&replay.pack(), entry_point, chain_id))?;
    match bundler.send_user_operation(&replay).await {
        Err(Error::Rejected(r)) => assert_eq!(r.kind, RejectionKind::InvalidNonce, "{r}"),
        other => panic!("replayed nonce accepted or wrong error: {other:?}\n{}", alto.log_tail()),
    }

    // The next nonce, signed by a key that is not the owner: AA24.
    let mut forged = UserOperation { sender: account.sender, call_data: empty_call(), ..Default::default() };
    forged.nonce = get_nonce(&provider, entry_point, account.sender, U192::ZERO).await?;
    assert_eq!(forged.nonce, op.nonce + U256::from(1));
    let mut forged = prepare(&bundler, &provider, forged, pm, &sponsor, chain_id).await?;
    let forged_hash = user_op_hash(&forged.pack(), entry_point, chain_id);
    forged.signature = sign_as_owner(&PrivateKeySigner::random(), forged_hash)?;
    match bundler.send_user_operation(&forged).await {
        Err(Error::Rejected(r)) => assert_eq!(r.kind, RejectionKind::InvalidSignature, "{r}"),
        other => panic!("forged signature accepted or wrong error: {other:?}\n{}", alto.log_tail()),
    }
    // An unknown session key (no grant) is refused too, before any signature check passes.
    forged.signature = sign_as_session_key(&PrivateKeySigner::random(), forged_hash)?;
    match bundler.send_user_operation(&forged).await {
        Err(Error::Rejected(_)) => {}
        other => panic!("unknown session key accepted: {other:?}"),
    }
    // Nothing was included for the refused operations.
    assert_eq!(get_nonce(&provider, entry_point, account.sender, U192::ZERO).await?, forged.nonce);
    assert!(bundler.get_user_operation_receipt(forged_hash).await?.is_none());

    // The owner grants a session key for one (target, selector); an operation the key signs
    // (`0x01 ‖ key ‖ signature`) is then included.
    let key = PrivateKeySigner::random();
    let selector = alloy::primitives::FixedBytes::<4>::from([0x12, 0x34, 0x56, 0x78]);
    let now = provider.get_block_by_number(Default::default()).await?.map(|b| b.header.timestamp).unwrap_or_default();
    let grant = NexusAccount::grantSessionKeyCall {
        key: key.address(),
        validAfter: alloy::primitives::aliases::U48::ZERO,
        validUntil: alloy::primitives::aliases::U48::from(now + SPONSOR_WINDOW_SECS),
        maxUses: 1,
        maxGasCost: 0,
        permissions: vec![nexus_bindings::account::INexusAccount::Permission { target: TARGET, selector }],
    };
    let call = NexusAccount::executeCall { target: account.sender, value: U256::ZERO, data: grant.abi_encode().into() };
    let mut op = UserOperation { sender: account.sender, call_data: call.abi_encode().into(), ..Default::default() };
    op.nonce = get_nonce(&provider, entry_point, account.sender, U192::ZERO).await?;
    let mut op = prepare(&bundler, &provider, op, pm, &sponsor, chain_id).await?;
    op.signature = sign_as_owner(&owner, user_op_hash(&op.pack(), entry_point, chain_id))?;
    let sent = bundler.send_user_operation(&op).await?;
    assert!(bundler.wait_for_receipt(sent, INCLUSION_TIMEOUT).await?.success, "grant");

    let call = NexusAccount::executeCall { target: TARGET, value: U256::ZERO, data: selector.to_vec().into() };
    let mut op = UserOperation { sender: account.sender, call_data: call.abi_encode().into(), ..Default::default() };
    // The key's own nonce key (the account refuses any other), independent of the owner's.
    let owner_nonce = get_nonce(&provider, entry_point, account.sender, U192::ZERO).await?;
    op.nonce = get_nonce(&provider, entry_point, account.sender, session_key_nonce_key(key.address())).await?;
    assert_eq!(op.nonce, U256::from_be_slice(key.address().as_slice()) << 64);
    // Estimation placeholder: the real key (the grant is checked first), any signature.
    op.signature = sign_as_session_key(&key, alloy::primitives::B256::ZERO)?;
    let mut op = prepare(&bundler, &provider, op, pm, &sponsor, chain_id).await?;
    op.signature = sign_as_session_key(&key, user_op_hash(&op.pack(), entry_point, chain_id))?;
    let sent = bundler.send_user_operation(&op).await?;
    let receipt = bundler.wait_for_receipt(sent, INCLUSION_TIMEOUT).await?;
    assert!(receipt.success, "session-key operation reverted: {:?}", receipt.reason);
    assert_eq!(receipt.paymaster, Some(pm));
    assert_eq!(get_nonce(&provider, entry_point, account.sender, U192::ZERO).await?, owner_nonce, "owner's untouched");
    Ok(())
}
