//! The EntryPoint v0.8 user operation hash, and signing it in the NexusAccount formats.
//!
//! Why computed locally: the hash is what the owner (or a session key) signs, and asking a node
//! for `getUserOpHash` before every signature would be a round trip per operation and a trust
//! dependency. v0.8 made the hash an EIP-712 typed-data hash (domain `ERC4337` / `1`, the chain id,
//! the EntryPoint as verifying contract) over the packed operation without its signature, which
//! is easy to reproduce; the devnet test pins this code to the deployed EntryPoint's
//! `getUserOpHash`.
//!
//! Not covered: EIP-7702 operations (`initCode` starting with `0x7702`), whose hash substitutes
//! the sender's delegate for the marker; NexusAccount is a regular contract account.

use alloy::primitives::{Address, B256, Bytes, U256, keccak256};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::{Eip712Domain, SolValue};

use crate::types::PackedUserOperation;

/// `keccak256` of the EIP-712 type of the packed operation (UserOperationLib.PACKED_USEROP_TYPEHASH);
/// `signature` is not part of the type, so the hash can be signed.
pub const PACKED_USEROP_TYPEHASH: B256 =
    alloy::primitives::b256!("29a0bca4af4be3421398da00295e58e6d7de38cb492214754cb6a47507dd6f8e");

/// EIP-712 domain name and version of EntryPoint v0.8 (EntryPoint.sol `DOMAIN_NAME`/`DOMAIN_VERSION`).
pub const DOMAIN_NAME: &str = "ERC4337";
/// See [`DOMAIN_NAME`].
pub const DOMAIN_VERSION: &str = "1";

/// Signature mode byte of an owner-signed NexusAccount operation.
pub const MODE_OWNER: u8 = nexus_bindings::account::MODE_OWNER;
/// Signature mode byte of a session-key-signed NexusAccount operation.
pub const MODE_SESSION_KEY: u8 = nexus_bindings::account::MODE_SESSION_KEY;
/// Length of an owner signature: mode byte + 65-byte ECDSA signature.
pub const OWNER_SIGNATURE_LENGTH: usize = 1 + 65;
/// Length of a session-key signature: mode byte + key address + 65-byte ECDSA signature.
pub const SESSION_KEY_SIGNATURE_LENGTH: usize = 1 + 20 + 65;

/// The EIP-712 domain the EntryPoint at `entry_point` uses on `chain_id`.
pub fn domain(entry_point: Address, chain_id: u64) -> Eip712Domain {
    Eip712Domain::new(
        Some(DOMAIN_NAME.into()),
        Some(DOMAIN_VERSION.into()),
        Some(U256::from(chain_id)),
        Some(entry_point),
        None,
    )
}

/// The EIP-712 struct hash of `op` (UserOperationLib.hash); `op.signature` is ignored.
pub fn struct_hash(op: &PackedUserOperation) -> B256 {
    keccak256(
        (
            PACKED_USEROP_TYPEHASH,
            op.sender,
            op.nonce,
            keccak256(&op.initCode),
            keccak256(&op.callData),
            op.accountGasLimits,
            op.preVerificationGas,
            op.gasFees,
            keccak256(&op.paymasterAndData),
        )
            .abi_encode(),
    )
}

/// `EntryPoint.getUserOpHash(op)` for EntryPoint v0.8 at `entry_point` on `chain_id`.
pub fn user_op_hash(op: &PackedUserOperation, entry_point: Address, chain_id: u64) -> B256 {
    let separator = domain(entry_point, chain_id).separator();
    let mut buf = [0u8; 66];
    buf[..2].copy_from_slice(&[0x19, 0x01]);
    buf[2..34].copy_from_slice(separator.as_slice());
    buf[34..].copy_from_slice(struct_hash(op).as_slice());
    keccak256(buf)
}

/// `0x00 ‖ owner signature` over `user_op_hash` (signed as is, no EIP-191 prefix).
pub fn sign_as_owner(owner: &PrivateKeySigner, user_op_hash: B256) -> Result<Bytes, alloy::signers::Error> {
    let signature = owner.sign_hash_sync(&user_op_hash)?;
    let mut out = Vec::with_capacity(OWNER_SIGNATURE_LENGTH);
    out.push(MODE_OWNER);
    out.extend_from_slice(&signature.as_bytes());
    Ok(out.into())
}

/// `0x01 ‖ session key address ‖ key signature` over `user_op_hash` (signed as is).
pub fn sign_as_session_key(key: &PrivateKeySigner, user_op_hash: B256) -> Result<Bytes, alloy::signers::Error> {
    let signature = key.sign_hash_sync(&user_op_hash)?;
    let mut out = Vec::with_capacity(SESSION_KEY_SIGNATURE_LENGTH);
    out.push(MODE_SESSION_KEY);
    out.extend_from_slice(key.address().as_slice());
    out.extend_from_slice(&signature.as_bytes());
    Ok(out.into())
}

/// An owner signature of the right length that recovers to nobody: what bundlers need in
/// `signature` while estimating gas. NexusAccount reports "signature failed" instead of
/// reverting, which estimation tolerates; r = s = 1 (in range, v = 27) makes the account run
/// ecrecover as a real signature would, so the verification gas estimate is not short.
pub fn dummy_owner_signature() -> Bytes {
    let mut out = vec![MODE_OWNER];
    out.extend_from_slice(&[0x01; 64]);
    out.push(27);
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typehash_matches_user_operation_lib() {
        assert_eq!(
            PACKED_USEROP_TYPEHASH,
            keccak256(
                "PackedUserOperation(address sender,uint256 nonce,bytes initCode,bytes callData,bytes32 accountGasLimits,uint256 preVerificationGas,bytes32 gasFees,bytes paymasterAndData)"
            )
        );
    }

    #[test]
    fn signatures_have_the_account_layout() {
        let key = PrivateKeySigner::random();
        let hash = B256::repeat_byte(7);
        let owner = sign_as_owner(&key, hash).unwrap();
        assert_eq!(owner.len(), OWNER_SIGNATURE_LENGTH);
        assert_eq!(owner[0], MODE_OWNER);
        let sig = alloy::primitives::Signature::try_from(&owner[1..]).unwrap();
        assert_eq!(sig.recover_address_from_prehash(&hash).unwrap(), key.address());
        let session = sign_as_session_key(&key, hash).unwrap();
        assert_eq!(session.len(), SESSION_KEY_SIGNATURE_LENGTH);
        assert_eq!(&session[1..21], key.address().as_slice());
        assert_eq!(dummy_owner_signature().len(), OWNER_SIGNATURE_LENGTH);
    }
}
