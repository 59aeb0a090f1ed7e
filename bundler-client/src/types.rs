//! User operation types: the unpacked JSON-RPC form bundlers speak and the packed form the
//! EntryPoint hashes and executes.
//!
//! Why two forms: EntryPoint v0.7/v0.8 take `PackedUserOperation` on-chain (gas limits and fees
//! squeezed into `bytes32` pairs, factory and paymaster fields concatenated), while the bundler
//! JSON-RPC (ERC-7769) exchanges every field on its own, with hex quantities. [`UserOperation`]
//! is what callers build and send; [`UserOperation::pack`] produces the on-chain form, which is
//! what the hash and the signatures cover.

use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::rpc::types::{Log, TransactionReceipt};
use serde::{Deserialize, Serialize};

pub use nexus_bindings::entry_point::IEntryPoint::PackedUserOperation;

/// A user operation in the unpacked form of the bundler JSON-RPC (EntryPoint v0.7/v0.8).
///
/// `factory`/`factoryData` are present only for the operation that deploys the account;
/// the `paymaster*` fields only for sponsored operations. Gas limits and fees are `u128` because
/// the packed form stores each in 16 bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserOperation {
    pub sender: Address,
    pub nonce: U256,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factory: Option<Address>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factory_data: Option<Bytes>,
    pub call_data: Bytes,
    #[serde(with = "alloy::serde::quantity")]
    pub call_gas_limit: u128,
    #[serde(with = "alloy::serde::quantity")]
    pub verification_gas_limit: u128,
    #[serde(with = "alloy::serde::quantity")]
    pub pre_verification_gas: u128,
    #[serde(with = "alloy::serde::quantity")]
    pub max_fee_per_gas: u128,
    #[serde(with = "alloy::serde::quantity")]
    pub max_priority_fee_per_gas: u128,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paymaster: Option<Address>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "alloy::serde::quantity::opt")]
    pub paymaster_verification_gas_limit: Option<u128>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "alloy::serde::quantity::opt")]
    pub paymaster_post_op_gas_limit: Option<u128>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paymaster_data: Option<Bytes>,
    pub signature: Bytes,
}

/// Two 128-bit values in one word, high half first: how the packed form stores
/// `(verificationGasLimit, callGasLimit)` and `(maxPriorityFeePerGas, maxFeePerGas)`.
pub fn pack_u128_pair(high: u128, low: u128) -> B256 {
    let mut word = [0u8; 32];
    word[..16].copy_from_slice(&high.to_be_bytes());
    word[16..].copy_from_slice(&low.to_be_bytes());
    B256::from(word)
}

/// Splits a word built by [`pack_u128_pair`].
pub fn unpack_u128_pair(word: B256) -> (u128, u128) {
    let mut high = [0u8; 16];
    let mut low = [0u8; 16];
    high.copy_from_slice(&word[..16]);
    low.copy_from_slice(&word[16..]);
    (u128::from_be_bytes(high), u128::from_be_bytes(low))
}

impl UserOperation {
    /// `initCode` of the packed form: `factory ‖ factoryData`, empty when there is no factory.
    pub fn init_code(&self) -> Bytes {
        match self.factory {
            Some(factory) => {
                let data = self.factory_data.as_ref().map(|d| &d[..]).unwrap_or(&[]);
                let mut out = Vec::with_capacity(20 + data.len());
                out.extend_from_slice(factory.as_slice());
                out.extend_from_slice(data);
                out.into()
            }
            None => Bytes::new(),
        }
    }

    /// `paymasterAndData` of the packed form: `paymaster(20) ‖ paymasterVerificationGasLimit(16)
    /// ‖ paymasterPostOpGasLimit(16) ‖ paymasterData`, empty when there is no paymaster.
    pub fn paymaster_and_data(&self) -> Bytes {
        match self.paymaster {
            Some(paymaster) => {
                let data = self.paymaster_data.as_ref().map(|d| &d[..]).unwrap_or(&[]);
                let mut out = Vec::with_capacity(52 + data.len());
                out.extend_from_slice(paymaster.as_slice());
                out.extend_from_slice(&self.paymaster_verification_gas_limit.unwrap_or_default().to_be_bytes());
                out.extend_from_slice(&self.paymaster_post_op_gas_limit.unwrap_or_default().to_be_bytes());
                out.extend_from_slice(data);
                out.into()
            }
            None => Bytes::new(),
        }
    }

    /// The most the operation can cost: every gas limit plus `preVerificationGas`, times
    /// `maxFeePerGas` (the EntryPoint's required prefund, and what NexusAccount compares with a
    /// session key's gas cap).
    pub fn max_cost(&self) -> U256 {
        let gas = U256::from(self.call_gas_limit)
            + U256::from(self.verification_gas_limit)
            + U256::from(self.pre_verification_gas)
            + U256::from(self.paymaster_verification_gas_limit.unwrap_or_default())
            + U256::from(self.paymaster_post_op_gas_limit.unwrap_or_default());
        gas.saturating_mul(U256::from(self.max_fee_per_gas))
    }

    /// The on-chain form the EntryPoint takes and hashes.
    pub fn pack(&self) -> PackedUserOperation {
        PackedUserOperation {
            sender: self.sender,
            nonce: self.nonce,
            initCode: self.init_code(),
            callData: self.call_data.clone(),
            accountGasLimits: pack_u128_pair(self.verification_gas_limit, self.call_gas_limit),
            preVerificationGas: U256::from(self.pre_verification_gas),
            gasFees: pack_u128_pair(self.max_priority_fee_per_gas, self.max_fee_per_gas),
            paymasterAndData: self.paymaster_and_data(),
            signature: self.signature.clone(),
        }
    }

    /// Sets the gas limits a bundler estimated (paymaster limits only when it returned them).
    pub fn apply_gas_estimate(&mut self, estimate: &GasEstimate) {
        self.call_gas_limit = estimate.call_gas_limit;
        self.verification_gas_limit = estimate.verification_gas_limit;
        self.pre_verification_gas = estimate.pre_verification_gas;
        if let Some(limit) = estimate.paymaster_verification_gas_limit {
            self.paymaster_verification_gas_limit = Some(limit);
        }
        if let Some(limit) = estimate.paymaster_post_op_gas_limit {
            self.paymaster_post_op_gas_limit = Some(limit);
        }
    }

    /// Sets the fees.
    pub fn apply_fees(&mut self, fees: &Fees) {
        self.max_fee_per_gas = fees.max_fee_per_gas;
        self.max_priority_fee_per_gas = fees.max_priority_fee_per_gas;
    }

    /// Sets the paymaster fields from an ERC-7677 answer (stub or final).
    pub fn apply_paymaster(&mut self, pm: &PaymasterData) {
        self.paymaster = Some(pm.paymaster);
        self.paymaster_data = Some(pm.paymaster_data.clone());
        if let Some(limit) = pm.paymaster_verification_gas_limit {
            self.paymaster_verification_gas_limit = Some(limit);
        }
        if let Some(limit) = pm.paymaster_post_op_gas_limit {
            self.paymaster_post_op_gas_limit = Some(limit);
        }
    }
}

/// `eth_estimateUserOperationGas` result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GasEstimate {
    #[serde(with = "alloy::serde::quantity")]
    pub pre_verification_gas: u128,
    #[serde(with = "alloy::serde::quantity")]
    pub verification_gas_limit: u128,
    #[serde(with = "alloy::serde::quantity")]
    pub call_gas_limit: u128,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "alloy::serde::quantity::opt")]
    pub paymaster_verification_gas_limit: Option<u128>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "alloy::serde::quantity::opt")]
    pub paymaster_post_op_gas_limit: Option<u128>,
}

/// EIP-1559 fees for a user operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fees {
    #[serde(with = "alloy::serde::quantity")]
    pub max_fee_per_gas: u128,
    #[serde(with = "alloy::serde::quantity")]
    pub max_priority_fee_per_gas: u128,
}

/// `eth_getUserOperationReceipt` result: what the EntryPoint's `UserOperationEvent` said, plus
/// the bundle transaction's receipt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserOperationReceipt {
    pub user_op_hash: B256,
    pub entry_point: Address,
    pub sender: Address,
    pub nonce: U256,
    #[serde(default)]
    pub paymaster: Option<Address>,
    /// Wei the sender (or paymaster) paid.
    pub actual_gas_cost: U256,
    /// Gas the bundler charged for this operation.
    pub actual_gas_used: U256,
    /// Whether the operation's call succeeded (`false`: it reverted, gas was still charged).
    pub success: bool,
    /// Revert data of the call when `success` is false.
    #[serde(default)]
    pub reason: Option<Bytes>,
    #[serde(default)]
    pub logs: Vec<Log>,
    pub receipt: TransactionReceipt,
}

/// `eth_getUserOperationByHash` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserOperationByHash {
    pub user_operation: UserOperation,
    pub entry_point: Address,
    #[serde(default)]
    pub block_number: Option<U256>,
    #[serde(default)]
    pub block_hash: Option<B256>,
    #[serde(default)]
    pub transaction_hash: Option<B256>,
}

/// ERC-7677 `pm_getPaymasterStubData` / `pm_getPaymasterData` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymasterData {
    pub paymaster: Address,
    pub paymaster_data: Bytes,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "alloy::serde::quantity::opt")]
    pub paymaster_verification_gas_limit: Option<u128>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "alloy::serde::quantity::opt")]
    pub paymaster_post_op_gas_limit: Option<u128>,
    /// Stub only: who sponsors, for wallets to show.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sponsor: Option<Sponsor>,
    /// Stub only: the stub is already the final data (no `pm_getPaymasterData` needed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_final: Option<bool>,
}

/// ERC-7677 sponsor information.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sponsor {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::{address, bytes};

    fn op() -> UserOperation {
        UserOperation {
            sender: address!("1111111111111111111111111111111111111111"),
            nonce: U256::from(7),
            factory: Some(address!("2222222222222222222222222222222222222222")),
            factory_data: Some(bytes!("abcd")),
            call_data: bytes!("1234"),
            call_gas_limit: 100_000,
            verification_gas_limit: 200_000,
            pre_verification_gas: 50_000,
            max_fee_per_gas: 3_000_000_000,
            max_priority_fee_per_gas: 1_000_000_000,
            paymaster: Some(address!("3333333333333333333333333333333333333333")),
            paymaster_verification_gas_limit: Some(60_000),
            paymaster_post_op_gas_limit: Some(1),
            paymaster_data: Some(bytes!("ff")),
            signature: bytes!("00"),
        }
    }

    #[test]
    fn packs_like_the_entry_point() {
        let packed = op().pack();
        assert_eq!(packed.initCode, bytes!("2222222222222222222222222222222222222222abcd"));
        assert_eq!(unpack_u128_pair(packed.accountGasLimits), (200_000, 100_000));
        assert_eq!(unpack_u128_pair(packed.gasFees), (1_000_000_000, 3_000_000_000));
        assert_eq!(packed.paymasterAndData.len(), 20 + 16 + 16 + 1);
        assert_eq!(&packed.paymasterAndData[..20], address!("3333333333333333333333333333333333333333").as_slice());
        assert_eq!(&packed.paymasterAndData[34..36], &[0xea, 0x60]); // 60_000
        assert_eq!(packed.paymasterAndData[51], 1);
        let bare = UserOperation { factory: None, paymaster: None, ..op() };
        assert!(bare.pack().initCode.is_empty() && bare.pack().paymasterAndData.is_empty());
    }

    #[test]
    fn json_uses_hex_quantities_and_skips_absent_fields() {
        let json = serde_json::to_value(UserOperation { factory: None, factory_data: None, ..op() }).unwrap();
        assert_eq!(json["nonce"], "0x7");
        assert_eq!(json["callGasLimit"], "0x186a0");
        assert_eq!(json["paymasterPostOpGasLimit"], "0x1");
        assert!(json.get("factory").is_none());
        let back: UserOperation = serde_json::from_value(json).unwrap();
        assert_eq!(back.call_gas_limit, 100_000);
    }
}
