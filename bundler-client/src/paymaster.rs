//! NexusPaymaster's sponsored mode: the `paymasterData` layout and the hash its sponsorship
//! signer approves.
//!
//! Why here: whoever holds the sponsor key (the ERC-7677 sponsorship service, tests, a dApp
//! backend) must build byte-exact `paymasterData` and sign exactly what the contract rebuilds in
//! `getHash`; computing it locally avoids an `eth_call` per operation. The devnet test pins
//! [`sponsored_hash`] to the deployed paymaster's `getHash`.
//!
//! Layout after the 52 bytes the packed form already holds (paymaster address and its two gas
//! limits): `mode(1) ‖ validUntil(6) ‖ validAfter(6) ‖ signature(65)`.

use alloy::primitives::{Address, B256, Bytes, U256, keccak256};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolValue;

use crate::types::UserOperation;

/// Mode byte of a sponsored operation (the paymaster's deposit pays, the account pays nothing).
pub const MODE_SPONSORED: u8 = nexus_bindings::paymaster::MODE_SPONSORED;
/// Length of sponsored `paymasterData`: mode, two 6-byte timestamps, a 65-byte signature.
pub const SPONSORED_DATA_LENGTH: usize = 1 + 6 + 6 + 65;

/// A 6-byte big-endian `uint48` timestamp (values above 2^48 are cut to their low 48 bits, which
/// no real timestamp reaches).
fn uint48(value: u64) -> [u8; 6] {
    let bytes = value.to_be_bytes();
    let mut out = [0u8; 6];
    out.copy_from_slice(&bytes[2..]);
    out
}

/// Sponsored `paymasterData` with the given window and sponsor signature.
pub fn sponsored_data(valid_until: u64, valid_after: u64, signature: &[u8; 65]) -> Bytes {
    let mut out = Vec::with_capacity(SPONSORED_DATA_LENGTH);
    out.push(MODE_SPONSORED);
    out.extend_from_slice(&uint48(valid_until));
    out.extend_from_slice(&uint48(valid_after));
    out.extend_from_slice(signature);
    out.into()
}

/// Stub `paymasterData` for gas estimation: the real length, a signature that recovers to nobody
/// (r = s = 1 keeps ecrecover's cost in the estimate; the paymaster reports a signature failure
/// instead of reverting, which estimation tolerates).
pub fn sponsored_stub_data() -> Bytes {
    let mut sig = [0x01u8; 65];
    sig[64] = 27;
    sponsored_data(0, 0, &sig)
}

/// `NexusPaymaster.getHash(op.pack(), validUntil, validAfter)` for the paymaster named in `op`
/// on `chain_id`. The signature fields are not covered; the gas limits, fees and paymaster gas
/// limits are, so set them before computing this.
pub fn sponsored_hash(op: &UserOperation, chain_id: u64, valid_until: u64, valid_after: u64) -> B256 {
    let packed = op.pack();
    let paymaster_gas = crate::types::pack_u128_pair(
        op.paymaster_verification_gas_limit.unwrap_or_default(),
        op.paymaster_post_op_gas_limit.unwrap_or_default(),
    );
    let mut fields = (
        packed.sender,
        packed.nonce,
        keccak256(&packed.initCode),
        keccak256(&packed.callData),
        packed.accountGasLimits,
        paymaster_gas,
        packed.preVerificationGas,
        packed.gasFees,
        U256::from(chain_id),
        op.paymaster.unwrap_or(Address::ZERO),
    )
        .abi_encode();
    fields.extend_from_slice(
        &(U256::from(MODE_SPONSORED), U256::from(valid_until), U256::from(valid_after)).abi_encode(),
    );
    keccak256(fields)
}

/// Sponsors `op` as NexusPaymaster's signer: sets `paymasterData` to the window and the EIP-191
/// signature of [`sponsored_hash`]. `op.paymaster` and all gas fields must be final.
pub fn sponsor(
    op: &mut UserOperation,
    sponsor: &PrivateKeySigner,
    chain_id: u64,
    valid_until: u64,
    valid_after: u64,
) -> Result<(), alloy::signers::Error> {
    let hash = sponsored_hash(op, chain_id, valid_until, valid_after);
    let signature = sponsor.sign_message_sync(hash.as_slice())?;
    op.paymaster_data = Some(sponsored_data(valid_until, valid_after, &signature.as_bytes()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_has_the_contracts_length() {
        assert_eq!(SPONSORED_DATA_LENGTH + 52, nexus_bindings::paymaster::PAYMASTER_AND_DATA_LENGTH);
        let data = sponsored_data(0x0102_0304_0506, 7, &[9; 65]);
        assert_eq!(&data[..7], &[0, 1, 2, 3, 4, 5, 6]);
        assert_eq!(&data[7..13], &[0, 0, 0, 0, 0, 7]);
        assert_eq!(sponsored_stub_data().len(), SPONSORED_DATA_LENGTH);
    }
}
