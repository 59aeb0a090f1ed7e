// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {BaseAccount} from "@account-abstraction/contracts/core/BaseAccount.sol";
import {
    SIG_VALIDATION_FAILED,
    SIG_VALIDATION_SUCCESS,
    _packValidationData
} from "@account-abstraction/contracts/core/Helpers.sol";
import {UserOperationLib} from "@account-abstraction/contracts/core/UserOperationLib.sol";
import {IEntryPoint} from "@account-abstraction/contracts/interfaces/IEntryPoint.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {Initializable} from "@openzeppelin/contracts/proxy/utils/Initializable.sol";
import {UUPSUpgradeable} from "@openzeppelin/contracts/proxy/utils/UUPSUpgradeable.sol";
import {ERC1155Holder} from "@openzeppelin/contracts/token/ERC1155/utils/ERC1155Holder.sol";
import {ERC721Holder} from "@openzeppelin/contracts/token/ERC721/utils/ERC721Holder.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";

import {INexusAccount} from "./INexusAccount.sol";
import {NEXUS_PAYMASTER_MODE_SPONSORED, NEXUS_PAYMASTER_SPONSORED_LENGTH} from "./NexusPaymaster.sol";

/// @title NexusAccount
/// @notice ERC-4337 smart account for EntryPoint v0.8 with one ECDSA owner and scoped session
/// keys, so an app can run agents for a user (e.g. `requestExecution` on the marketplace)
/// without asking for a signature each time. A key makes only the calls its grant lists, never
/// calls the account or the EntryPoint (so it cannot take over), never sends ETH, and no grant
/// can include the standard token transfer, approval and permit functions (`isForbiddenSelector`),
/// and never makes the account pay gas: its operations must be sponsored by the pinned
/// NexusPaymaster (`sessionKeyPaymaster`) in sponsored mode, within the grant's gas cap, on the
/// key's own nonce key. A granted function that spends the account's tokens by design (the
/// marketplace's `purchase`) is the owner's choice to grant.
/// @dev Deployed behind an ERC-1967 proxy by `NexusAccountFactory`; upgradeable (UUPS) only by
/// the owner. The EntryPoint and the session-key paymaster are immutables of the implementation
/// (the factory passes both), so every account of one factory trusts the same pair; an owner who
/// wants another paymaster for its keys upgrades to an implementation that pins it. Signature
/// layout: see `INexusAccount`. Storage lives in an ERC-7201 namespace, and every slot validation
/// touches is the account's own (ERC-7562 allows that for the sender), so counting a session
/// key's uses during validation is bundler-safe. Validation never reads the clock: a session
/// key's window is returned to the EntryPoint as validAfter/validUntil.
///
/// Session keys may only sign `execute` (never `executeBatch`): one operation is one permitted
/// call, which keeps the use count meaningful and the validation a fixed, small amount of work.
contract NexusAccount is
    INexusAccount,
    BaseAccount,
    EIP712,
    ERC1155Holder,
    ERC721Holder,
    IERC1271,
    UUPSUpgradeable,
    Initializable
{
    /// @notice Signature mode byte of an owner-signed operation.
    uint8 public constant MODE_OWNER = 0x00;
    /// @notice Signature mode byte of a session-key-signed operation.
    uint8 public constant MODE_SESSION_KEY = 0x01;

    uint256 private constant ECDSA_SIGNATURE_LENGTH = 65;
    uint256 private constant OWNER_SIGNATURE_LENGTH = 1 + ECDSA_SIGNATURE_LENGTH;
    uint256 private constant SESSION_SIGNATURE_LENGTH = 1 + 20 + ECDSA_SIGNATURE_LENGTH;
    bytes32 private constant NEXUS_MESSAGE_TYPEHASH = keccak256("NexusMessage(bytes32 hash)");

    /// @custom:storage-location erc7201:agentnexus.storage.NexusAccount
    struct AccountStorage {
        // One slot: owner, the next grant id and the lowest grant id still honoured.
        address owner;
        uint48 nextGrantId;
        uint48 minGrantId;
        mapping(address key => SessionKey) sessions;
        // keccak256(abi.encode(grantId, target, selector)) => permitted. Keyed by grant id, so
        // revoking (or re-granting) a key drops its old permissions without touching them.
        mapping(bytes32 permission => bool) permitted;
    }

    // keccak256(abi.encode(uint256(keccak256("agentnexus.storage.NexusAccount")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 private constant STORAGE_LOCATION =
        0xab5fe70bfa7b96205efb70beea0a88efe2d26c2085d28b975c8e192dc07bd200;

    IEntryPoint private immutable _entryPoint;
    address private immutable _sessionKeyPaymaster;

    modifier onlyOwnerOrSelf() {
        _checkOwnerOrSelf();
        _;
    }

    /// @param anEntryPoint The EntryPoint v0.8 this account (and every proxy of it) trusts.
    /// @param aSessionKeyPaymaster The NexusPaymaster every session-key operation must use, in its
    /// sponsored mode.
    constructor(IEntryPoint anEntryPoint, address aSessionKeyPaymaster) EIP712("NexusAccount", "1") {
        if (aSessionKeyPaymaster == address(0)) revert InvalidPaymaster(aSessionKeyPaymaster);
        _entryPoint = anEntryPoint;
        _sessionKeyPaymaster = aSessionKeyPaymaster;
        _disableInitializers();
    }

    /// @notice Sets the owner of a freshly deployed proxy. Called once, by the factory.
    /// @param anOwner The owner (ECDSA signer) of this account.
    function initialize(address anOwner) external initializer {
        if (anOwner == address(0)) revert InvalidOwner(anOwner);
        AccountStorage storage $ = _storage();
        $.owner = anOwner;
        $.nextGrantId = 1;
        $.minGrantId = 1;
        emit NexusAccountInitialized(address(_entryPoint), anOwner);
    }

    /// @notice Accepts ETH (to pay for gas or to forward in calls).
    receive() external payable {}

    // ------------------------------------------------------------------ ownership

    /// @inheritdoc BaseAccount
    function entryPoint() public view override returns (IEntryPoint) {
        return _entryPoint;
    }

    /// @inheritdoc INexusAccount
    function owner() public view returns (address) {
        return _storage().owner;
    }

    /// @inheritdoc INexusAccount
    function transferOwnership(address newOwner) external onlyOwnerOrSelf {
        if (newOwner == address(0) || newOwner == address(this)) revert InvalidOwner(newOwner);
        AccountStorage storage $ = _storage();
        address previous = $.owner;
        $.owner = newOwner;
        emit OwnershipTransferred(previous, newOwner);
        _revokeAll($);
    }

    // ------------------------------------------------------------------ session keys

    /// @inheritdoc INexusAccount
    function grantSessionKey(
        address key,
        uint48 validAfter,
        uint48 validUntil,
        uint32 maxUses,
        uint128 maxGasCost,
        Permission[] calldata permissions
    ) external onlyOwnerOrSelf {
        AccountStorage storage $ = _storage();
        if (key == address(0) || key == address(this) || key == $.owner) revert InvalidSessionKey(key);
        // forge-lint: disable-next-line(block-timestamp)
        if (validUntil <= validAfter || validUntil <= block.timestamp) {
            revert InvalidSessionWindow(validAfter, validUntil);
        }
        if (maxUses == 0 || permissions.length == 0) revert EmptySessionGrant();

        uint48 grantId = $.nextGrantId;
        $.nextGrantId = grantId + 1;
        $.sessions[key] = SessionKey({
            validAfter: validAfter,
            validUntil: validUntil,
            maxUses: maxUses,
            uses: 0,
            grantId: grantId,
            maxGasCost: maxGasCost
        });
        for (uint256 i = 0; i < permissions.length; ++i) {
            Permission calldata p = permissions[i];
            _checkCallAllowed(p.target, p.selector);
            $.permitted[_permissionId(grantId, p.target, p.selector)] = true;
        }
        emit SessionKeyGranted(key, grantId, validAfter, validUntil, maxUses, maxGasCost, permissions);
    }

    /// @inheritdoc INexusAccount
    function revokeSessionKey(address key) external onlyOwnerOrSelf {
        AccountStorage storage $ = _storage();
        uint48 grantId = $.sessions[key].grantId;
        if (grantId == 0) revert SessionKeyNotActive(key);
        delete $.sessions[key];
        emit SessionKeyRevoked(key, grantId);
    }

    /// @inheritdoc INexusAccount
    function revokeAllSessionKeys() external onlyOwnerOrSelf {
        _revokeAll(_storage());
    }

    /// @inheritdoc INexusAccount
    function sessionKey(address key) external view returns (SessionKey memory) {
        return _storage().sessions[key];
    }

    /// @inheritdoc INexusAccount
    function sessionKeyPaymaster() external view returns (address) {
        return _sessionKeyPaymaster;
    }

    /// @inheritdoc INexusAccount
    function sessionKeyNonceKey(address key) public pure returns (uint192) {
        return uint192(uint160(key));
    }

    /// @inheritdoc INexusAccount
    function isSessionKeyActive(address key) public view returns (bool) {
        AccountStorage storage $ = _storage();
        SessionKey memory s = $.sessions[key];
        return _isLive($, s) && s.uses < s.maxUses;
    }

    /// @inheritdoc INexusAccount
    function isPermitted(address key, address target, bytes4 selector) external view returns (bool) {
        AccountStorage storage $ = _storage();
        SessionKey memory s = $.sessions[key];
        return _isLive($, s) && $.permitted[_permissionId(s.grantId, target, selector)];
    }

    /// @inheritdoc INexusAccount
    function isForbiddenSelector(bytes4 selector) public pure returns (bool) {
        return
        // ERC-20 (and ERC-721 `approve`/`transferFrom`, which share these selectors)
        selector == bytes4(keccak256("transfer(address,uint256)"))
            || selector == bytes4(keccak256("approve(address,uint256)"))
            || selector == bytes4(keccak256("transferFrom(address,address,uint256)"))
            || selector == bytes4(keccak256("increaseAllowance(address,uint256)"))
            || selector == bytes4(keccak256("decreaseAllowance(address,uint256)"))
            // ERC-2612 and DAI-style permits
            || selector == bytes4(keccak256("permit(address,address,uint256,uint256,uint8,bytes32,bytes32)"))
            || selector
                == bytes4(keccak256("permit(address,address,uint256,uint256,bool,uint8,bytes32,bytes32)"))
            // ERC-721 and ERC-1155
            || selector == bytes4(keccak256("safeTransferFrom(address,address,uint256)"))
            || selector == bytes4(keccak256("safeTransferFrom(address,address,uint256,bytes)"))
            || selector == bytes4(keccak256("setApprovalForAll(address,bool)"))
            || selector == bytes4(keccak256("safeTransferFrom(address,address,uint256,uint256,bytes)"))
            || selector
                == bytes4(keccak256("safeBatchTransferFrom(address,address,uint256[],uint256[],bytes)"))
            // ERC-1363
            || selector == bytes4(keccak256("transferAndCall(address,uint256)"))
            || selector == bytes4(keccak256("transferAndCall(address,uint256,bytes)"))
            || selector == bytes4(keccak256("transferFromAndCall(address,address,uint256)"))
            || selector == bytes4(keccak256("transferFromAndCall(address,address,uint256,bytes)"))
            || selector == bytes4(keccak256("approveAndCall(address,uint256)"))
            || selector == bytes4(keccak256("approveAndCall(address,uint256,bytes)"))
            // Permit2 allowance transfers
            || selector == bytes4(keccak256("approve(address,address,uint160,uint48)"))
            || selector == bytes4(keccak256("transferFrom(address,address,uint160,address)"))
            // AgentMarketplace: paying a balance out to another address
            || selector == bytes4(keccak256("withdrawTo(address,address)"));
    }

    // ------------------------------------------------------------------ ERC-1271

    /// @inheritdoc INexusAccount
    function replaySafeHash(bytes32 hash) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(NEXUS_MESSAGE_TYPEHASH, hash)));
    }

    /// @notice ERC-1271: whether `signature` is the owner's 65-byte ECDSA signature of
    /// `replaySafeHash(hash)`. Session keys never sign for the account this way.
    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(replaySafeHash(hash), signature);
        if (err == ECDSA.RecoverError.NoError && signer == _storage().owner) {
            return IERC1271.isValidSignature.selector;
        }
        return 0xffffffff;
    }

    /// @notice ERC-165: also reports ERC-1271 and the token receiver interfaces.
    function supportsInterface(bytes4 interfaceId) public view override returns (bool) {
        return interfaceId == type(IERC1271).interfaceId || super.supportsInterface(interfaceId);
    }

    // ------------------------------------------------------------------ EntryPoint deposit

    /// @notice The account's deposit in the EntryPoint (what it pays gas from when unsponsored).
    function getDeposit() external view returns (uint256) {
        return _entryPoint.balanceOf(address(this));
    }

    /// @notice Adds `msg.value` to the account's EntryPoint deposit.
    function addDeposit() external payable {
        _entryPoint.depositTo{value: msg.value}(address(this));
    }

    /// @notice Withdraws `amount` of the account's EntryPoint deposit to `to`. Owner or the account itself.
    function withdrawDepositTo(address payable to, uint256 amount) external onlyOwnerOrSelf {
        _entryPoint.withdrawTo(to, amount);
    }

    // ------------------------------------------------------------------ validation

    /// @dev Owner mode returns success or SIG_VALIDATION_FAILED. Session-key mode reverts with a
    /// reason when the operation is outside the grant, returns SIG_VALIDATION_FAILED when the key
    /// did not sign it, and otherwise counts one use and returns the grant's window.
    function _validateSignature(PackedUserOperation calldata userOp, bytes32 userOpHash)
        internal
        override
        returns (uint256 validationData)
    {
        bytes calldata signature = userOp.signature;
        uint8 mode = signature.length == 0 ? type(uint8).max : uint8(signature[0]);
        if (mode == MODE_OWNER && signature.length == OWNER_SIGNATURE_LENGTH) {
            return _isSignedBy(userOpHash, signature[1:], _storage().owner)
                ? SIG_VALIDATION_SUCCESS
                : SIG_VALIDATION_FAILED;
        }
        if (mode == MODE_SESSION_KEY && signature.length == SESSION_SIGNATURE_LENGTH) {
            return
                _validateSessionKeyOp(userOp, userOpHash, address(bytes20(signature[1:21])), signature[21:]);
        }
        revert InvalidSignatureFormat(mode, signature.length);
    }

    function _validateSessionKeyOp(
        PackedUserOperation calldata userOp,
        bytes32 userOpHash,
        address key,
        bytes calldata keySignature
    ) internal returns (uint256) {
        AccountStorage storage $ = _storage();
        SessionKey memory s = $.sessions[key];
        if (!_isLive($, s)) revert SessionKeyNotActive(key);
        if (s.uses >= s.maxUses) revert SessionKeyUsedUp(key, s.maxUses);
        // The top 192 bits of the nonce are the EntryPoint's nonce key.
        uint192 nonceKey = uint192(userOp.nonce >> 64);
        if (nonceKey != sessionKeyNonceKey(key)) {
            revert SessionKeyWrongNonceKey(nonceKey, sessionKeyNonceKey(key));
        }
        _checkSessionGas(userOp, s.maxGasCost);

        _checkSessionCall($, key, s.grantId, userOp.callData);

        if (!_isSignedBy(userOpHash, keySignature, key)) return SIG_VALIDATION_FAILED;

        uint32 uses = s.uses + 1;
        $.sessions[key].uses = uses;
        emit SessionKeyUsed(key, s.grantId, uses);
        return _packValidationData(false, s.validUntil, s.validAfter);
    }

    /// @dev Whoever holds the key sets every gas field and picks the bundler's beneficiary, so
    /// any gas the account itself pays (ETH deposit, or tokens through a token paymaster it has
    /// approved) is money the key can take. Only the pinned paymaster's sponsored mode is
    /// accepted: the sponsor signs every gas field and pays from its own deposit. The mode byte and
    /// the exact sponsored length are checked, so the ERC-20 mode (the account pays in tokens) is
    /// refused. `maxGasCost` (0 = none) bounds the operation's prefund, computed as the
    /// EntryPoint computes it.
    function _checkSessionGas(PackedUserOperation calldata userOp, uint256 maxGasCost) internal view {
        bytes calldata pmd = userOp.paymasterAndData;
        if (pmd.length < UserOperationLib.PAYMASTER_VALIDATION_GAS_OFFSET) revert SessionKeyNeedsPaymaster();
        address paymaster = address(bytes20(pmd[:UserOperationLib.PAYMASTER_VALIDATION_GAS_OFFSET]));
        if (paymaster != _sessionKeyPaymaster) revert SessionKeyPaymasterNotAllowed(paymaster);
        uint256 modeOffset = UserOperationLib.PAYMASTER_DATA_OFFSET;
        uint8 mode = pmd.length > modeOffset ? uint8(pmd[modeOffset]) : type(uint8).max;
        if (mode != NEXUS_PAYMASTER_MODE_SPONSORED || pmd.length != NEXUS_PAYMASTER_SPONSORED_LENGTH) {
            revert SessionKeyPaymasterModeNotAllowed(mode, pmd.length);
        }
        if (maxGasCost == 0) return;
        // The EntryPoint refuses any gas value above 120 bits before validation (AA94), so this
        // cannot overflow.
        uint256 maxCost =
            (UserOperationLib.unpackVerificationGasLimit(userOp)
                    + UserOperationLib.unpackCallGasLimit(userOp)
                    + UserOperationLib.unpackPaymasterVerificationGasLimit(userOp)
                    + UserOperationLib.unpackPostOpGasLimit(userOp)
                    + userOp.preVerificationGas) * UserOperationLib.unpackMaxFeePerGas(userOp);
        if (maxCost > maxGasCost) revert SessionKeyGasCostTooHigh(maxCost, maxGasCost);
    }

    /// @dev `callData` must be one `execute(target, 0, data)` whose (target, selector) the grant
    /// permits, and never one of the calls no session key may make.
    function _checkSessionCall(AccountStorage storage $, address key, uint48 grantId, bytes calldata callData)
        internal
        view
    {
        bytes4 accountSelector = callData.length < 4 ? bytes4(0) : bytes4(callData[:4]);
        if (accountSelector != BaseAccount.execute.selector) revert SessionKeyOnlyExecute(accountSelector);
        // Decoded exactly as `execute` will decode it.
        (address target, uint256 value, bytes memory data) =
            abi.decode(callData[4:], (address, uint256, bytes));
        if (value != 0) revert SessionKeyValueNotAllowed(value);
        // Truncating to the first four bytes is the point: they are the selector.
        // forge-lint: disable-next-line(unsafe-typecast)
        bytes4 selector = data.length < 4 ? bytes4(0) : bytes4(data);
        _checkCallAllowed(target, selector);
        if (data.length < 4 || !$.permitted[_permissionId(grantId, target, selector)]) {
            revert SessionKeyCallNotPermitted(key, target, selector);
        }
    }

    /// @dev Calls the owner or the EntryPoint may make through `execute`/`executeBatch`.
    function _requireForExecute() internal view override {
        if (msg.sender != address(_entryPoint) && msg.sender != _storage().owner) {
            revert NotEntryPointOrOwner(msg.sender);
        }
    }

    function _authorizeUpgrade(address) internal view override onlyOwnerOrSelf {}

    // ------------------------------------------------------------------ internals

    function _checkOwnerOrSelf() internal view {
        if (msg.sender != _storage().owner && msg.sender != address(this)) revert NotOwnerOrSelf(msg.sender);
    }

    /// @dev Rules every session-key call obeys, whatever the grant says.
    function _checkCallAllowed(address target, bytes4 selector) internal view {
        if (target == address(this) || target == address(_entryPoint)) {
            revert SessionKeyTargetForbidden(target);
        }
        if (isForbiddenSelector(selector)) revert SessionKeySelectorForbidden(selector);
    }

    function _revokeAll(AccountStorage storage $) internal {
        uint48 minGrantId = $.nextGrantId;
        $.minGrantId = minGrantId;
        emit AllSessionKeysRevoked(minGrantId);
    }

    function _isLive(AccountStorage storage $, SessionKey memory s) internal view returns (bool) {
        return s.grantId != 0 && s.grantId >= $.minGrantId;
    }

    function _isSignedBy(bytes32 hash, bytes calldata signature, address signer)
        internal
        pure
        returns (bool)
    {
        (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecover(hash, signature);
        return err == ECDSA.RecoverError.NoError && recovered == signer;
    }

    function _permissionId(uint48 grantId, address target, bytes4 selector) internal pure returns (bytes32) {
        return keccak256(abi.encode(grantId, target, selector));
    }

    function _storage() private pure returns (AccountStorage storage $) {
        assembly ("memory-safe") {
            $.slot := STORAGE_LOCATION
        }
    }
}
