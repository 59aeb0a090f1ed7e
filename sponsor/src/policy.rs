//! What is sponsored: the calls inside an operation's `callData` (see the crate docs' "Only the
//! marketplace is sponsored"), and what an operation may cost at most. Pure functions of the
//! configuration and the operation, so the policy is unit-tested without a chain or a database.

use alloy::primitives::{Address, U256};
use alloy::sol_types::SolCall;
use nexus_bindings::{NexusAccount, TestUSDC};
use nexus_bundler_client::UserOperation;

use crate::config::SponsorConfig;
use crate::rpc::RpcError;

/// Checks that `call_data` only calls into the marketplace (see the module docs). `deploying`:
/// the operation has factory fields, and then an empty batch (deploy only) is allowed too. Pure,
/// so the policy is unit-tested without a chain.
pub fn check_call_data(
    config: &SponsorConfig,
    sender: Address,
    call_data: &[u8],
    deploying: bool,
) -> Result<(), RpcError> {
    let calls: Vec<(Address, U256, alloy::primitives::Bytes)> =
        if let Ok(call) = NexusAccount::executeCall::abi_decode(call_data) {
            vec![(call.target, call.value, call.data)]
        } else if let Ok(batch) = NexusAccount::executeBatchCall::abi_decode(call_data) {
            batch.calls.into_iter().map(|c| (c.target, c.value, c.data)).collect()
        } else {
            return Err(RpcError::refused("callData is not a NexusAccount execute or executeBatch"));
        };
    if calls.is_empty() && !deploying {
        return Err(RpcError::refused("empty batch (only sponsored to deploy the account)"));
    }
    for (target, value, data) in &calls {
        check_call(config, sender, *target, *value, data)?;
    }
    Ok(())
}

fn check_call(
    config: &SponsorConfig,
    sender: Address,
    target: Address,
    value: U256,
    data: &[u8],
) -> Result<(), RpcError> {
    let market = config.marketplace;
    if target == market {
        return Ok(());
    }
    if !value.is_zero() {
        return Err(RpcError::refused(format!("value sent to {target}: only the marketplace may receive value")));
    }
    if config.tokens.contains(&target) {
        return match TestUSDC::approveCall::abi_decode(data) {
            Ok(approve) if approve.spender == market => Ok(()),
            Ok(approve) => {
                Err(RpcError::refused(format!("approve spender {} is not the marketplace", approve.spender)))
            }
            Err(_) => {
                Err(RpcError::refused(format!("only approve(marketplace, amount) is sponsored on token {target}")))
            }
        };
    }
    if target == sender {
        // The account managing its session keys: needed to run agents through a key, and
        // harmless as long as every permission it grants is on the marketplace.
        if let Ok(grant) = NexusAccount::grantSessionKeyCall::abi_decode(data) {
            return match grant.permissions.iter().find(|p| p.target != market) {
                None => Ok(()),
                Some(p) => {
                    Err(RpcError::refused(format!("session key permission target {} is not the marketplace", p.target)))
                }
            };
        }
        if NexusAccount::revokeSessionKeyCall::abi_decode(data).is_ok()
            || NexusAccount::revokeAllSessionKeysCall::abi_decode(data).is_ok()
        {
            return Ok(());
        }
        return Err(RpcError::refused(format!(
            "call to the account {sender} itself is only sponsored to grant or revoke session keys"
        )));
    }
    Err(RpcError::refused(format!("target {target} is not the marketplace")))
}

/// Most the operation can cost the paymaster: every gas limit × `maxFeePerGas` (the EntryPoint's
/// required prefund).
pub fn max_cost(op: &UserOperation) -> U256 {
    op.max_cost()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::address;
    use alloy::signers::local::PrivateKeySigner;
    use nexus_bindings::account::{BaseAccount, INexusAccount};

    const MARKET: Address = address!("00000000000000000000000000000000000000aa");
    const USDC: Address = address!("00000000000000000000000000000000000000bb");
    const SENDER: Address = address!("00000000000000000000000000000000000000cc");
    const STRANGER: Address = address!("00000000000000000000000000000000000000dd");

    fn config() -> SponsorConfig {
        let (paymaster, factory) = (Address::repeat_byte(0xee), Address::repeat_byte(0xff));
        let entry_point = nexus_bindings::entry_point::ADDRESS;
        SponsorConfig {
            tokens: vec![USDC],
            ..SponsorConfig::new(PrivateKeySigner::random(), 31337, entry_point, paymaster, factory, MARKET)
        }
    }

    fn execute(target: Address, value: u64, data: Vec<u8>) -> Vec<u8> {
        NexusAccount::executeCall { target, value: U256::from(value), data: data.into() }.abi_encode()
    }

    /// The account granting a session key one permission, on `target`.
    fn grant_on(target: Address) -> Vec<u8> {
        NexusAccount::grantSessionKeyCall {
            key: STRANGER,
            validAfter: Default::default(),
            validUntil: alloy::primitives::aliases::U48::from(10),
            maxUses: 1,
            maxGasCost: 0,
            permissions: vec![INexusAccount::Permission { target, selector: [1, 2, 3, 4].into() }],
        }
        .abi_encode()
    }

    fn approve(spender: Address) -> Vec<u8> {
        TestUSDC::approveCall { spender, value: U256::from(5) }.abi_encode()
    }

    #[test]
    fn marketplace_calls_and_approvals_for_it_pass() {
        let c = config();
        assert_eq!(check_call_data(&c, SENDER, &execute(MARKET, 0, vec![1, 2, 3, 4]), false), Ok(()));
        assert_eq!(check_call_data(&c, SENDER, &execute(USDC, 0, approve(MARKET)), false), Ok(()));
        let batch = NexusAccount::executeBatchCall {
            calls: vec![
                BaseAccount::Call { target: USDC, value: U256::ZERO, data: approve(MARKET).into() },
                BaseAccount::Call { target: MARKET, value: U256::ZERO, data: vec![9; 36].into() },
            ],
        };
        assert_eq!(check_call_data(&c, SENDER, &batch.abi_encode(), false), Ok(()));
        assert_eq!(check_call_data(&c, SENDER, &execute(SENDER, 0, grant_on(MARKET)), false), Ok(()));
    }

    #[test]
    fn everything_else_is_refused_with_a_reason() {
        let c = config();
        let reason = |data: Vec<u8>| check_call_data(&c, SENDER, &data, false).unwrap_err().message;
        assert_eq!(reason(execute(STRANGER, 0, vec![])), format!("target {STRANGER} is not the marketplace"));
        assert_eq!(
            reason(execute(USDC, 0, approve(STRANGER))),
            format!("approve spender {STRANGER} is not the marketplace")
        );
        let transfer = TestUSDC::transferCall { to: STRANGER, value: U256::from(1) }.abi_encode();
        assert!(reason(execute(USDC, 0, transfer)).starts_with("only approve(marketplace, amount)"));
        assert!(reason(execute(STRANGER, 1, vec![])).starts_with("value sent to"));
        assert!(reason(vec![0xde, 0xad, 0xbe, 0xef]).contains("not a NexusAccount execute"));
        let owner = NexusAccount::transferOwnershipCall { newOwner: STRANGER }.abi_encode();
        assert!(reason(execute(SENDER, 0, owner)).contains("only sponsored to grant or revoke"));
        assert!(reason(execute(SENDER, 0, grant_on(USDC))).contains("permission target"));
        let empty = NexusAccount::executeBatchCall { calls: vec![] }.abi_encode();
        assert_eq!(check_call_data(&c, SENDER, &empty, true), Ok(()), "deploy only");
        assert_eq!(reason(empty), "empty batch (only sponsored to deploy the account)");
    }

    #[test]
    fn max_cost_is_every_limit_times_the_max_fee() {
        let op = UserOperation {
            call_gas_limit: 1,
            verification_gas_limit: 2,
            pre_verification_gas: 3,
            paymaster_verification_gas_limit: Some(4),
            paymaster_post_op_gas_limit: Some(5),
            max_fee_per_gas: 10,
            ..Default::default()
        };
        assert_eq!(max_cost(&op), U256::from(150));
    }
}
