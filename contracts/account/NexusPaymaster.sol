// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {BasePaymaster} from "@account-abstraction/contracts/core/BasePaymaster.sol";
import {_packValidationData} from "@account-abstraction/contracts/core/Helpers.sol";
import {UserOperationLib} from "@account-abstraction/contracts/core/UserOperationLib.sol";
import {IEntryPoint} from "@account-abstraction/contracts/interfaces/IEntryPoint.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";

/// @title NexusPaymaster
/// @notice Verifying paymaster: it pays the gas of every user operation its sponsorship signer
/// approved, within the time window the signer gave. The owner manages the EntryPoint deposit and
/// stake (inherited from `BasePaymaster`: `deposit`, `withdrawTo`, `addStake`, `unlockStake`,
/// `withdrawStake`; the EntryPoint emits their events) and rotates the signer.
/// @dev `paymasterAndData` (EntryPoint v0.8):
///   paymaster (20) ‖ paymasterVerificationGasLimit (16) ‖ postOpGasLimit (16)
///   ‖ mode (1, 0x00 = sponsored) ‖ validUntil (6) ‖ validAfter (6) ‖ signature (65).
/// The signer signs, EIP-191 style (`personal_sign` of the 32 bytes), `getHash(userOp, validUntil,
/// validAfter)`: every field of the operation but its signature and this paymaster signature,
/// plus the chain id and this paymaster's address. The hash covers sender and nonce, and the
/// EntryPoint uses each (sender, nonce) once, so one approval sponsors exactly one operation.
/// A wrong signer is reported as a signature failure (AA34), outside the window as AA32.
/// The signer is kept in storage (it can be rotated), so bundlers require this paymaster to be
/// staked (ERC-7562); the deploy script stakes it.
contract NexusPaymaster is BasePaymaster {
    /// @notice The only mode so far: the paymaster's deposit pays, the account pays nothing.
    uint8 public constant MODE_SPONSORED = 0x00;

    uint256 private constant MODE_OFFSET = PAYMASTER_DATA_OFFSET; // 52
    uint256 private constant VALID_UNTIL_OFFSET = MODE_OFFSET + 1; // 53
    uint256 private constant VALID_AFTER_OFFSET = VALID_UNTIL_OFFSET + 6; // 59
    uint256 private constant SIGNATURE_OFFSET = VALID_AFTER_OFFSET + 6; // 65
    /// @notice Exact length of a sponsored operation's `paymasterAndData`.
    uint256 public constant PAYMASTER_AND_DATA_LENGTH = SIGNATURE_OFFSET + 65; // 130

    /// @notice Approves sponsorships.
    address public signer;

    /// @notice The sponsorship signer changed.
    event SignerChanged(address indexed previousSigner, address indexed newSigner);

    /// @notice The signer or owner cannot be the zero address.
    error InvalidAddress();
    /// @notice `paymasterAndData` must be exactly `PAYMASTER_AND_DATA_LENGTH` bytes.
    error InvalidPaymasterDataLength(uint256 length);
    /// @notice The mode byte names no supported mode.
    error UnsupportedMode(uint8 mode);

    /// @param anEntryPoint The EntryPoint v0.8 holding this paymaster's deposit and stake.
    /// @param owner_ Manages deposit, stake and signer.
    /// @param signer_ The first sponsorship signer.
    constructor(IEntryPoint anEntryPoint, address owner_, address signer_) BasePaymaster(anEntryPoint) {
        if (owner_ == address(0)) revert InvalidAddress();
        _transferOwnership(owner_);
        _setSigner(signer_);
    }

    /// @notice Replaces the sponsorship signer; approvals by the old one stop working at once.
    /// Owner only.
    /// @param newSigner The new sponsorship signer.
    function setSigner(address newSigner) external onlyOwner {
        _setSigner(newSigner);
    }

    /// @notice The hash the signer approves (before the EIP-191 prefix) for `userOp` sponsored
    /// between `validAfter` and `validUntil`.
    /// @param userOp The operation; its `signature` and the paymaster signature are not covered.
    /// @param validUntil Last timestamp the sponsorship is valid at (0 = no end).
    /// @param validAfter First timestamp the sponsorship is valid at.
    function getHash(PackedUserOperation calldata userOp, uint48 validUntil, uint48 validAfter)
        public
        view
        returns (bytes32)
    {
        bytes calldata pmd = userOp.paymasterAndData;
        if (pmd.length < MODE_OFFSET) revert InvalidPaymasterDataLength(pmd.length);
        return keccak256(
            abi.encode(
                userOp.sender,
                userOp.nonce,
                keccak256(userOp.initCode),
                keccak256(userOp.callData),
                userOp.accountGasLimits,
                // paymasterVerificationGasLimit ‖ postOpGasLimit
                bytes32(pmd[UserOperationLib.PAYMASTER_VALIDATION_GAS_OFFSET:MODE_OFFSET]),
                userOp.preVerificationGas,
                userOp.gasFees,
                block.chainid,
                address(this),
                MODE_SPONSORED,
                validUntil,
                validAfter
            )
        );
    }

    /// @notice Splits the paymaster-specific part of `paymasterAndData`.
    /// @param paymasterAndData The whole field, as in the user operation.
    function parsePaymasterData(bytes calldata paymasterAndData)
        public
        pure
        returns (uint8 mode, uint48 validUntil, uint48 validAfter, bytes calldata signature)
    {
        if (paymasterAndData.length != PAYMASTER_AND_DATA_LENGTH) {
            revert InvalidPaymasterDataLength(paymasterAndData.length);
        }
        mode = uint8(paymasterAndData[MODE_OFFSET]);
        validUntil = uint48(bytes6(paymasterAndData[VALID_UNTIL_OFFSET:VALID_AFTER_OFFSET]));
        validAfter = uint48(bytes6(paymasterAndData[VALID_AFTER_OFFSET:SIGNATURE_OFFSET]));
        signature = paymasterAndData[SIGNATURE_OFFSET:];
    }

    /// @dev No context, so the EntryPoint never calls `postOp`.
    function _validatePaymasterUserOp(PackedUserOperation calldata userOp, bytes32, uint256)
        internal
        view
        override
        returns (bytes memory context, uint256 validationData)
    {
        (uint8 mode, uint48 validUntil, uint48 validAfter, bytes calldata signature) =
            parsePaymasterData(userOp.paymasterAndData);
        if (mode != MODE_SPONSORED) revert UnsupportedMode(mode);
        bytes32 hash = MessageHashUtils.toEthSignedMessageHash(getHash(userOp, validUntil, validAfter));
        (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecover(hash, signature);
        bool sigFailed = err != ECDSA.RecoverError.NoError || recovered != signer;
        return ("", _packValidationData(sigFailed, validUntil, validAfter));
    }

    function _setSigner(address newSigner) private {
        if (newSigner == address(0)) revert InvalidAddress();
        emit SignerChanged(signer, newSigner);
        signer = newSigner;
    }
}
