// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title INexusAccount
/// @notice The AgentNexus ERC-4337 smart account (EntryPoint v0.8): one ECDSA owner, plus session
/// keys the owner grants for a few (target, function) pairs, a time window and a number of uses.
/// @dev `userOp.signature` starts with a mode byte:
///  - `0x00 ‖ ownerSignature` (66 bytes): the owner's 65-byte ECDSA signature (r, s, v) of the
///    EntryPoint's userOpHash (an EIP-712 hash already, so it is signed as is, without a prefix);
///  - `0x01 ‖ key ‖ keySignature` (86 bytes): the session key's 20-byte address, then its 65-byte
///    ECDSA signature of the userOpHash.
/// A session-key operation must be exactly one `execute(target, 0, data)` of a permitted
/// (target, selector) pair, and its gas must be paid by the account's pinned paymaster
/// (`sessionKeyPaymaster`, NexusPaymaster) in its sponsored mode: never by the account's ETH
/// deposit, and never by a token paymaster that would charge the account's tokens (the key holder
/// chooses every gas field and the bundler's beneficiary, so any gas the account pays is gas the
/// key can take). A grant may also cap the operation's maximum gas cost. A session key's
/// operations use its own EntryPoint nonce key, `uint192(uint160(key))`, so they never consume
/// the owner's nonces (key 0) or another key's. Each such operation uses up one of the key's uses
/// during validation; the key's window becomes the operation's validAfter/validUntil.
interface INexusAccount {
    /// @notice A call a session key may make: `target`'s function `selector`.
    struct Permission {
        address target;
        bytes4 selector;
    }

    /// @notice A session key's grant. `grantId` is zero for a key never granted or revoked; a
    /// grant is also void when `grantId` is below the account's `minGrantId`
    /// (see `revokeAllSessionKeys`). `maxGasCost` caps, in wei, what one operation of the key may
    /// cost at most (its gas limits times its `maxFeePerGas`); 0 = no cap.
    struct SessionKey {
        uint48 validAfter;
        uint48 validUntil;
        uint32 maxUses;
        uint32 uses;
        uint48 grantId;
        uint128 maxGasCost;
    }

    /// @notice The account was set up for `owner`.
    event NexusAccountInitialized(address indexed entryPoint, address indexed owner);

    /// @notice The account's owner changed; every session key granted before is void.
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    /// @notice `key` may make `maxUses` calls among `permissions` after `validAfter` and until
    /// `validUntil` (inclusive), each operation costing at most `maxGasCost` wei (0 = no cap).
    /// Replaces any earlier grant to the same key.
    event SessionKeyGranted(
        address indexed key,
        uint256 indexed grantId,
        uint48 validAfter,
        uint48 validUntil,
        uint32 maxUses,
        uint128 maxGasCost,
        Permission[] permissions
    );

    /// @notice The owner revoked `key`'s grant.
    event SessionKeyRevoked(address indexed key, uint256 indexed grantId);

    /// @notice Every grant with an id below `minGrantId` is void.
    event AllSessionKeysRevoked(uint256 minGrantId);

    /// @notice `key` signed a user operation; it has now used `uses` of its grant.
    event SessionKeyUsed(address indexed key, uint256 indexed grantId, uint32 uses);

    /// @notice The caller is neither the owner nor the account itself.
    error NotOwnerOrSelf(address caller);
    /// @notice The caller is neither the EntryPoint nor the owner.
    error NotEntryPointOrOwner(address caller);
    /// @notice The owner cannot be the zero address.
    error InvalidOwner(address owner);
    /// @notice The pinned session-key paymaster cannot be the zero address.
    error InvalidPaymaster(address paymaster);
    /// @notice `userOp.signature` is malformed (unknown mode byte or wrong length).
    error InvalidSignatureFormat(uint8 mode, uint256 length);
    /// @notice A session key cannot be the zero address, the account or its owner.
    error InvalidSessionKey(address key);
    /// @notice The window must end in the future, after it starts.
    error InvalidSessionWindow(uint48 validAfter, uint48 validUntil);
    /// @notice A grant needs at least one use and at least one permission.
    error EmptySessionGrant();
    /// @notice `key` has no live grant (never granted, revoked, or voided by an owner change).
    error SessionKeyNotActive(address key);
    /// @notice `key` has used all `maxUses` operations of its grant.
    error SessionKeyUsedUp(address key, uint32 maxUses);
    /// @notice A session-key operation must call `execute`, nothing else (no `executeBatch`).
    error SessionKeyOnlyExecute(bytes4 selector);
    /// @notice A session-key operation must be sponsored by a paymaster.
    error SessionKeyNeedsPaymaster();
    /// @notice A session-key operation names `paymaster`, not the account's `sessionKeyPaymaster`.
    error SessionKeyPaymasterNotAllowed(address paymaster);
    /// @notice A session-key operation must use the pinned paymaster's sponsored mode (mode byte
    /// 0x00, sponsored length); `mode` is 0xff when `paymasterAndData` has no mode byte.
    error SessionKeyPaymasterModeNotAllowed(uint8 mode, uint256 length);
    /// @notice The operation may cost up to `maxCost` wei, above the grant's `maxGasCost`.
    error SessionKeyGasCostTooHigh(uint256 maxCost, uint256 maxGasCost);
    /// @notice A session-key operation must use the key's own nonce key, `uint192(uint160(key))`.
    error SessionKeyWrongNonceKey(uint192 nonceKey, uint192 expected);
    /// @notice A session key can never send ETH.
    error SessionKeyValueNotAllowed(uint256 value);
    /// @notice A session key can never call the account itself or the EntryPoint.
    error SessionKeyTargetForbidden(address target);
    /// @notice A session key can never call a function that moves or approves tokens.
    error SessionKeySelectorForbidden(bytes4 selector);
    /// @notice `key`'s grant does not include `selector` on `target`.
    error SessionKeyCallNotPermitted(address key, address target, bytes4 selector);

    /// @notice The owner, whose signature authorises any operation.
    function owner() external view returns (address);

    /// @notice Hands the account to `newOwner` and voids every session key granted so far.
    /// Owner or the account itself (through `execute`).
    function transferOwnership(address newOwner) external;

    /// @notice Grants (or re-grants, replacing the earlier grant) `key` the right to sign up to
    /// `maxUses` operations, each one `execute` of one call in `permissions` with no ETH, between
    /// `validAfter` and `validUntil`: as the EntryPoint reads a window, operations are valid when
    /// `validAfter < block.timestamp <= validUntil` (0 = from now). Each operation's maximum gas
    /// cost, `(verificationGasLimit + callGasLimit + paymasterVerificationGasLimit +
    /// postOpGasLimit + preVerificationGas) * maxFeePerGas`, must not exceed `maxGasCost` wei
    /// (0 = no cap: the pinned paymaster's sponsor pays, and its signature already bounds every gas
    /// field; a cap limits how much of the sponsor's budget one operation can claim). Owner or the
    /// account itself.
    function grantSessionKey(
        address key,
        uint48 validAfter,
        uint48 validUntil,
        uint32 maxUses,
        uint128 maxGasCost,
        Permission[] calldata permissions
    ) external;

    /// @notice Revokes `key`'s grant. Owner or the account itself.
    function revokeSessionKey(address key) external;

    /// @notice Voids every session key granted so far. Owner or the account itself.
    function revokeAllSessionKeys() external;

    /// @notice `key`'s grant (all zero when it has none).
    function sessionKey(address key) external view returns (SessionKey memory);

    /// @notice The only paymaster a session-key operation may use (in its sponsored mode): the
    /// NexusPaymaster pinned in the account implementation when the factory deployed it.
    function sessionKeyPaymaster() external view returns (address);

    /// @notice The EntryPoint nonce key `key`'s operations must use: `uint192(uint160(key))`.
    function sessionKeyNonceKey(address key) external pure returns (uint192);

    /// @notice Whether `key` holds a live grant (not revoked, not voided, uses left; the time
    /// window is not checked here, the EntryPoint checks it).
    function isSessionKeyActive(address key) external view returns (bool);

    /// @notice Whether `key`'s live grant includes calling `selector` on `target`.
    function isPermitted(address key, address target, bytes4 selector) external view returns (bool);

    /// @notice Whether `selector` is one no session key may ever call: ERC-20/721/1155 transfers
    /// and approvals, `permit`, ERC-1363 and Permit2 transfers, and the marketplace's
    /// `withdrawTo`.
    /// @dev A denylist of the standard ways to move tokens, checked on top of the owner's
    /// allowlist (the grant): a contract's own non-standard transfer function is not on it, so
    /// grant only functions whose effects you accept.
    function isForbiddenSelector(bytes4 selector) external pure returns (bool);

    /// @notice The hash the owner signs for an ERC-1271 signature of `hash`: an EIP-712 hash
    /// (domain "NexusAccount", version "1", this chain, this account) of `NexusMessage(bytes32 hash)`,
    /// so a signature for one account cannot be replayed on another account of the same owner.
    function replaySafeHash(bytes32 hash) external view returns (bytes32);
}
