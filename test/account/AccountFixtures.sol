// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {BaseAccount} from "@account-abstraction/contracts/core/BaseAccount.sol";
import {IEntryPoint} from "@account-abstraction/contracts/interfaces/IEntryPoint.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";
import {Vm} from "forge-std/Vm.sol";

import {INexusAccount} from "../../contracts/account/INexusAccount.sol";
import {NexusAccount} from "../../contracts/account/NexusAccount.sol";
import {NexusAccountFactory} from "../../contracts/account/NexusAccountFactory.sol";
import {NexusPaymaster} from "../../contracts/account/NexusPaymaster.sol";
import {AccountDeployer} from "../../script/DeployAccounts.s.sol";
import {BaseTest} from "../utils/Fixtures.sol";

/// @title AccountTest
/// @notice Shared fixture for the ERC-4337 suites: the marketplace fixture plus the real
/// EntryPoint v0.8 (the npm artifact, at its canonical address, deployed the way the deploy script
/// does it), the account factory, a funded paymaster and one deployed account. Helpers build,
/// sponsor and sign real `PackedUserOperation`s and submit them through `handleOps`.
abstract contract AccountTest is BaseTest, AccountDeployer {
    // ------------------------------------------------------------------ configuration

    uint256 internal constant START_TIME = 1_750_000_000;
    uint128 internal constant VERIFICATION_GAS = 500_000;
    uint128 internal constant CALL_GAS = 500_000;
    uint128 internal constant PM_VERIFICATION_GAS = 100_000;
    uint256 internal constant PRE_VERIFICATION_GAS = 60_000;
    uint128 internal constant MAX_PRIORITY_FEE = 1 gwei;
    uint128 internal constant MAX_FEE = 2 gwei;
    uint256 internal constant PAYMASTER_DEPOSIT = 10 ether;

    /// @dev Runtime code of the deterministic CREATE2 deployer (anvil and most chains carry it).
    bytes internal constant CREATE2_DEPLOYER_CODE =
        hex"7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe03601600081602082378035828234f58015156039578182fd5b8082525050506014600cf3";

    // ------------------------------------------------------------------ actors

    uint256 internal ownerKey;
    address internal owner;
    uint256 internal sponsorKey;
    address internal sponsor;
    uint256 internal sessionSecret;
    address internal sessionKey;
    uint256 internal strangerKey;
    address internal paymasterOwner = makeAddr("paymasterOwner");
    address internal bundler = makeAddr("bundler");
    address payable internal beneficiary = payable(makeAddr("beneficiary"));

    // ------------------------------------------------------------------ system under test

    IEntryPoint internal entryPoint;
    NexusAccountFactory internal factory;
    NexusPaymaster internal paymaster;
    NexusAccount internal account;

    function setUp() public virtual override {
        super.setUp();
        vm.warp(START_TIME);
        (owner, ownerKey) = makeAddrAndKey("owner");
        (sponsor, sponsorKey) = makeAddrAndKey("sponsor");
        (sessionKey, sessionSecret) = makeAddrAndKey("sessionKey");
        (, strangerKey) = makeAddrAndKey("strangerKey");

        if (CREATE2_FACTORY.code.length == 0) vm.etch(CREATE2_FACTORY, CREATE2_DEPLOYER_CODE);
        entryPoint = _deployEntryPoint();
        paymaster = new NexusPaymaster(entryPoint, paymasterOwner, sponsor);
        factory = new NexusAccountFactory(entryPoint, address(paymaster));
        vm.deal(paymasterOwner, 100 ether);
        vm.prank(paymasterOwner);
        paymaster.deposit{value: PAYMASTER_DEPOSIT}();
        account = _createAccount(owner, 0);

        vm.label(address(entryPoint), "EntryPoint");
        vm.label(address(factory), "NexusAccountFactory");
        vm.label(address(paymaster), "NexusPaymaster");
        vm.label(address(account), "NexusAccount");
    }

    /// @dev Deploys `anOwner`'s account at `salt` as the EntryPoint does it for an initCode: only
    /// the SenderCreator may call `createAccount`.
    function _createAccount(address anOwner, uint256 salt) internal returns (NexusAccount) {
        vm.prank(address(entryPoint.senderCreator()));
        return factory.createAccount(anOwner, salt);
    }

    // ------------------------------------------------------------------ building operations

    /// @dev An unsigned, unsponsored operation of `sender` at its next key-0 nonce.
    function _op(address sender, bytes memory callData)
        internal
        view
        returns (PackedUserOperation memory op)
    {
        op.sender = sender;
        op.nonce = entryPoint.getNonce(sender, 0);
        op.callData = callData;
        op.accountGasLimits = bytes32(uint256(VERIFICATION_GAS) << 128 | CALL_GAS);
        op.preVerificationGas = PRE_VERIFICATION_GAS;
        op.gasFees = bytes32(uint256(MAX_PRIORITY_FEE) << 128 | MAX_FEE);
    }

    function _execute(address target, uint256 value, bytes memory data) internal pure returns (bytes memory) {
        return abi.encodeCall(BaseAccount.execute, (target, value, data));
    }

    function _executeBatch(BaseAccount.Call[] memory calls) internal pure returns (bytes memory) {
        return abi.encodeCall(BaseAccount.executeBatch, (calls));
    }

    /// @dev `paymasterAndData` up to (excluding) the sponsor's signature.
    function _paymasterPrefix(uint48 validUntil, uint48 validAfter) internal view returns (bytes memory) {
        return abi.encodePacked(
            address(paymaster),
            PM_VERIFICATION_GAS,
            uint128(0),
            paymaster.MODE_SPONSORED(),
            validUntil,
            validAfter
        );
    }

    /// @dev Makes `op` sponsored by the paymaster, approved by `signerKey` for the window.
    function _sponsor(PackedUserOperation memory op, uint48 validUntil, uint48 validAfter, uint256 signerKey)
        internal
        view
    {
        op.paymasterAndData = _paymasterPrefix(validUntil, validAfter);
        bytes32 hash = MessageHashUtils.toEthSignedMessageHash(paymaster.getHash(op, validUntil, validAfter));
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(signerKey, hash);
        op.paymasterAndData = bytes.concat(op.paymasterAndData, abi.encodePacked(r, s, v));
    }

    /// @dev Makes `op` paid in `token` at `rate` (ERC-20 mode), quoted by `signerKey` for the
    /// window, with `postOpGasLimit` = `POST_OP_GAS`.
    function _sponsorInToken(
        PackedUserOperation memory op,
        address token,
        uint256 rate,
        uint48 validUntil,
        uint48 validAfter,
        uint256 signerKey
    ) internal view {
        _sponsorInToken(op, token, rate, validUntil, validAfter, signerKey, uint128(paymaster.POST_OP_GAS()));
    }

    /// @dev `_sponsorInToken` with the given `postOpGasLimit`.
    function _sponsorInToken(
        PackedUserOperation memory op,
        address token,
        uint256 rate,
        uint48 validUntil,
        uint48 validAfter,
        uint256 signerKey,
        uint128 postOpGasLimit
    ) internal view {
        op.paymasterAndData = abi.encodePacked(
            address(paymaster),
            PM_VERIFICATION_GAS,
            postOpGasLimit,
            paymaster.MODE_ERC20(),
            validUntil,
            validAfter,
            token,
            rate
        );
        bytes32 hash = MessageHashUtils.toEthSignedMessageHash(
            paymaster.getTokenHash(op, validUntil, validAfter, token, rate)
        );
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(signerKey, hash);
        op.paymasterAndData = bytes.concat(op.paymasterAndData, abi.encodePacked(r, s, v));
    }

    /// @dev Sponsored by the sponsor for the next hour.
    function _sponsor(PackedUserOperation memory op) internal view {
        _sponsor(op, uint48(block.timestamp + 1 hours), 0, sponsorKey);
    }

    function _signOwner(PackedUserOperation memory op, uint256 key) internal view {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, entryPoint.getUserOpHash(op));
        op.signature = abi.encodePacked(uint8(0x00), r, s, v);
    }

    function _signSession(PackedUserOperation memory op, address key, uint256 secret) internal view {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(secret, entryPoint.getUserOpHash(op));
        op.signature = abi.encodePacked(uint8(0x01), key, r, s, v);
    }

    /// @dev A sponsored, owner-signed operation of `account`.
    function _ownerOp(bytes memory callData) internal view returns (PackedUserOperation memory op) {
        op = _op(address(account), callData);
        _sponsor(op);
        _signOwner(op, ownerKey);
    }

    /// @dev An unsigned, unsponsored operation of `account` at the next nonce of `key`'s own nonce
    /// key (the one a session-key operation must use).
    function _keyOp(address key, bytes memory callData)
        internal
        view
        returns (PackedUserOperation memory op)
    {
        op = _op(address(account), callData);
        op.nonce = entryPoint.getNonce(address(account), account.sessionKeyNonceKey(key));
    }

    /// @dev A sponsored, session-key-signed operation of `account`, on the key's nonce key.
    function _sessionOp(bytes memory callData) internal view returns (PackedUserOperation memory op) {
        op = _keyOp(sessionKey, callData);
        _sponsor(op);
        _signSession(op, sessionKey, sessionSecret);
    }

    /// @dev Submits `op` alone, as the bundler.
    function _handle(PackedUserOperation memory op) internal {
        PackedUserOperation[] memory ops = new PackedUserOperation[](1);
        ops[0] = op;
        vm.prank(bundler, bundler);
        entryPoint.handleOps(ops, beneficiary);
    }

    /// @dev Submits `op` and returns whether its execution succeeded (validation must pass).
    function _handleAndReturnSuccess(PackedUserOperation memory op) internal returns (bool success) {
        vm.recordLogs();
        _handle(op);
        bytes32 sig = IEntryPoint.UserOperationEvent.selector;
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i = 0; i < logs.length; ++i) {
            if (logs[i].emitter == address(entryPoint) && logs[i].topics[0] == sig) {
                (, success,,) = abi.decode(logs[i].data, (uint256, bool, uint256, uint256));
                return success;
            }
        }
        revert("no UserOperationEvent");
    }

    // ------------------------------------------------------------------ expected failures

    function _expectFailedOp(string memory reason) internal {
        vm.expectRevert(abi.encodeWithSelector(IEntryPoint.FailedOp.selector, 0, reason));
    }

    function _expectAccountRevert(bytes memory inner) internal {
        vm.expectRevert(
            abi.encodeWithSelector(IEntryPoint.FailedOpWithRevert.selector, 0, "AA23 reverted", inner)
        );
    }

    function _expectPaymasterRevert(bytes memory inner) internal {
        vm.expectRevert(
            abi.encodeWithSelector(IEntryPoint.FailedOpWithRevert.selector, 0, "AA33 reverted", inner)
        );
    }

    // ------------------------------------------------------------------ session keys

    function _permission(address target, bytes4 selector)
        internal
        pure
        returns (INexusAccount.Permission[] memory p)
    {
        p = new INexusAccount.Permission[](1);
        p[0] = INexusAccount.Permission({target: target, selector: selector});
    }

    /// @dev Grants `sessionKey` `requestExecution` on the marketplace for a day, `maxUses` times,
    /// without a gas cap.
    function _grantRequestKey(uint32 maxUses) internal {
        _grantRequestKey(maxUses, 0);
    }

    /// @dev Grants `sessionKey` `requestExecution` on the marketplace for a day, `maxUses` times,
    /// each operation costing at most `maxGasCost` wei (0 = no cap).
    function _grantRequestKey(uint32 maxUses, uint128 maxGasCost) internal {
        vm.prank(owner);
        account.grantSessionKey(
            sessionKey,
            0,
            uint48(block.timestamp + 1 days),
            maxUses,
            maxGasCost,
            _permission(address(marketplace), marketplace.requestExecution.selector)
        );
    }

    function _requestCall(uint256 creditId) internal view returns (bytes memory) {
        return _execute(
            address(marketplace), 0, abi.encodeCall(marketplace.requestExecution, (creditId, INPUT_HASH))
        );
    }
}
