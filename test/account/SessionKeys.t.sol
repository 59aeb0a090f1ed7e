// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {BaseAccount} from "@account-abstraction/contracts/core/BaseAccount.sol";
import {IStakeManager} from "@account-abstraction/contracts/interfaces/IStakeManager.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC1155} from "@openzeppelin/contracts/token/ERC1155/IERC1155.sol";
import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";

import {INexusAccount} from "../../contracts/account/INexusAccount.sol";
import {NexusPaymaster} from "../../contracts/account/NexusPaymaster.sol";
import {IAgentMarketplace} from "../../contracts/interfaces/IAgentMarketplace.sol";
import {UnsignedTokenPaymaster} from "../utils/UnsignedTokenPaymaster.sol";
import {AccountTest} from "./AccountFixtures.sol";

/// @notice Session keys: what a granted key can do, and every way it must fail when misused.
contract SessionKeysTest is AccountTest {
    uint256 internal creditId;

    function setUp() public override {
        super.setUp();
        // The account holds 5 credits of the USDC agent.
        creditId = _buy(address(account), usdcAgentId, 5);
    }

    // ------------------------------------------------------------------ the happy path

    function test_sessionKeyRequestsExecutions() public {
        _grantRequestKey(2);
        uint48 grantId = account.sessionKey(sessionKey).grantId;

        vm.expectEmit(address(account));
        emit INexusAccount.SessionKeyUsed(sessionKey, grantId, 1);
        assertTrue(_handleAndReturnSuccess(_sessionOp(_requestCall(creditId))));
        assertEq(marketplace.balanceOf(address(account), creditId), 4);
        assertEq(account.sessionKey(sessionKey).uses, 1);

        assertTrue(_handleAndReturnSuccess(_sessionOp(_requestCall(creditId))));
        assertEq(marketplace.balanceOf(address(account), creditId), 3);
        assertEq(account.sessionKey(sessionKey).uses, 2);
        assertFalse(account.isSessionKeyActive(sessionKey));
    }

    function test_grantRecordsTheGrant() public {
        INexusAccount.Permission[] memory p =
            _permission(address(marketplace), marketplace.requestExecution.selector);
        uint48 from = uint48(block.timestamp + 10);
        uint48 until = uint48(block.timestamp + 1 days);
        vm.expectEmit(address(account));
        emit INexusAccount.SessionKeyGranted(sessionKey, 1, from, until, 3, 0, p);
        vm.prank(owner);
        account.grantSessionKey(sessionKey, from, until, 3, 0, p);

        INexusAccount.SessionKey memory s = account.sessionKey(sessionKey);
        assertEq(s.validAfter, from);
        assertEq(s.validUntil, until);
        assertEq(s.maxUses, 3);
        assertEq(s.uses, 0);
        assertEq(s.grantId, 1);
        assertTrue(account.isSessionKeyActive(sessionKey));
        assertTrue(
            account.isPermitted(sessionKey, address(marketplace), marketplace.requestExecution.selector)
        );
        assertFalse(account.isPermitted(sessionKey, address(marketplace), marketplace.cancel.selector));
        assertFalse(account.isPermitted(sessionKey, address(registry), marketplace.requestExecution.selector));
    }

    /// An op whose call reverts still counts as a use (it was validated and paid for).
    function test_revertingCallStillUsesTheKey() public {
        _grantRequestKey(3);
        uint256 unowned = creditId + 1;
        assertFalse(_handleAndReturnSuccess(_sessionOp(_requestCall(unowned))));
        assertEq(account.sessionKey(sessionKey).uses, 1);
    }

    // ------------------------------------------------------------------ misuse at validation

    function test_wrongSelectorFails() public {
        _grantRequestKey(5);
        bytes memory call =
            _execute(address(marketplace), 0, abi.encodeCall(marketplace.cancel, (creditId, 1)));
        PackedUserOperation memory op = _sessionOp(call);
        _expectAccountRevert(
            abi.encodeWithSelector(
                INexusAccount.SessionKeyCallNotPermitted.selector,
                sessionKey,
                address(marketplace),
                marketplace.cancel.selector
            )
        );
        _handle(op);
    }

    function test_wrongTargetFails() public {
        _grantRequestKey(5);
        // The same function on another contract (a copy of the marketplace) is not permitted.
        address other = address(registry);
        bytes memory call =
            _execute(other, 0, abi.encodeCall(IAgentMarketplace.requestExecution, (creditId, INPUT_HASH)));
        PackedUserOperation memory op = _sessionOp(call);
        _expectAccountRevert(
            abi.encodeWithSelector(
                INexusAccount.SessionKeyCallNotPermitted.selector,
                sessionKey,
                other,
                marketplace.requestExecution.selector
            )
        );
        _handle(op);
    }

    function test_callWithoutSelectorFails() public {
        _grantRequestKey(5);
        PackedUserOperation memory op = _sessionOp(_execute(address(marketplace), 0, ""));
        _expectAccountRevert(
            abi.encodeWithSelector(
                INexusAccount.SessionKeyCallNotPermitted.selector, sessionKey, address(marketplace), bytes4(0)
            )
        );
        _handle(op);
    }

    function test_expiredKeyFails() public {
        _grantRequestKey(5);
        vm.warp(block.timestamp + 1 days + 1);
        PackedUserOperation memory op = _keyOp(sessionKey, _requestCall(creditId));
        _sponsor(op);
        _signSession(op, sessionKey, sessionSecret);
        _expectFailedOp("AA22 expired or not due");
        _handle(op);
    }

    function test_keyNotYetValidFails() public {
        vm.prank(owner);
        account.grantSessionKey(
            sessionKey,
            uint48(block.timestamp + 1 hours),
            uint48(block.timestamp + 1 days),
            5,
            0,
            _permission(address(marketplace), marketplace.requestExecution.selector)
        );
        // Valid strictly after validAfter, as the EntryPoint reads the window.
        PackedUserOperation memory op = _sessionOp(_requestCall(creditId));
        _expectFailedOp("AA22 expired or not due");
        _handle(op);

        vm.warp(block.timestamp + 1 hours);
        op = _sessionOp(_requestCall(creditId));
        _expectFailedOp("AA22 expired or not due");
        _handle(op);
        vm.warp(block.timestamp + 1);
        assertTrue(_handleAndReturnSuccess(_sessionOp(_requestCall(creditId))));
    }

    function test_usedUpKeyFails() public {
        _grantRequestKey(1);
        _handle(_sessionOp(_requestCall(creditId)));
        PackedUserOperation memory op = _sessionOp(_requestCall(creditId));
        _expectAccountRevert(abi.encodeWithSelector(INexusAccount.SessionKeyUsedUp.selector, sessionKey, 1));
        _handle(op);
    }

    function test_revokedKeyFails() public {
        _grantRequestKey(5);
        _handle(_sessionOp(_requestCall(creditId)));

        uint48 grantId = account.sessionKey(sessionKey).grantId;
        vm.expectEmit(address(account));
        emit INexusAccount.SessionKeyRevoked(sessionKey, grantId);
        vm.prank(owner);
        account.revokeSessionKey(sessionKey);
        assertFalse(account.isSessionKeyActive(sessionKey));
        assertFalse(
            account.isPermitted(sessionKey, address(marketplace), marketplace.requestExecution.selector)
        );

        PackedUserOperation memory op = _sessionOp(_requestCall(creditId));

        _expectAccountRevert(abi.encodeWithSelector(INexusAccount.SessionKeyNotActive.selector, sessionKey));

        _handle(op);
    }

    function test_revokeAllVoidsEveryKey() public {
        _grantRequestKey(5);
        vm.expectEmit(address(account));
        emit INexusAccount.AllSessionKeysRevoked(2);
        vm.prank(owner);
        account.revokeAllSessionKeys();
        PackedUserOperation memory op = _sessionOp(_requestCall(creditId));
        _expectAccountRevert(abi.encodeWithSelector(INexusAccount.SessionKeyNotActive.selector, sessionKey));
        _handle(op);

        // A grant made afterwards works.
        _grantRequestKey(5);
        assertTrue(_handleAndReturnSuccess(_sessionOp(_requestCall(creditId))));
    }

    function test_neverGrantedKeyFails() public {
        PackedUserOperation memory op = _sessionOp(_requestCall(creditId));
        _expectAccountRevert(abi.encodeWithSelector(INexusAccount.SessionKeyNotActive.selector, sessionKey));
        _handle(op);
    }

    function test_revokingAnUnknownKeyReverts() public {
        vm.expectRevert(abi.encodeWithSelector(INexusAccount.SessionKeyNotActive.selector, sessionKey));
        vm.prank(owner);
        account.revokeSessionKey(sessionKey);
    }

    function test_regrantDropsOldPermissions() public {
        _grantRequestKey(5);
        vm.prank(owner);
        account.grantSessionKey(
            sessionKey,
            0,
            uint48(block.timestamp + 1 days),
            5,
            0,
            _permission(address(marketplace), marketplace.cancel.selector)
        );
        assertFalse(
            account.isPermitted(sessionKey, address(marketplace), marketplace.requestExecution.selector)
        );
        PackedUserOperation memory op = _sessionOp(_requestCall(creditId));
        _expectAccountRevert(
            abi.encodeWithSelector(
                INexusAccount.SessionKeyCallNotPermitted.selector,
                sessionKey,
                address(marketplace),
                marketplace.requestExecution.selector
            )
        );
        _handle(op);
    }

    function test_signatureByAnotherKeyFails() public {
        _grantRequestKey(5);
        PackedUserOperation memory op = _keyOp(sessionKey, _requestCall(creditId));
        _sponsor(op);
        // Names the granted key but is signed by someone else.
        _signSession(op, sessionKey, strangerKey);
        _expectFailedOp("AA24 signature error");
        _handle(op);
        assertEq(account.sessionKey(sessionKey).uses, 0);
    }

    function test_ownerCannotBeUsedAsSessionModeSigner() public {
        // The owner's key in session mode is refused: it was never granted as a session key.
        PackedUserOperation memory op = _keyOp(sessionKey, _requestCall(creditId));
        _sponsor(op);
        _signSession(op, owner, ownerKey);
        _expectAccountRevert(abi.encodeWithSelector(INexusAccount.SessionKeyNotActive.selector, owner));
        _handle(op);
    }

    function test_tokenTransferFails() public {
        _grantRequestKey(5);
        usdc.mint(address(account), 100e6);
        bytes memory call = _execute(address(usdc), 0, abi.encodeCall(IERC20.transfer, (stranger, 100e6)));
        PackedUserOperation memory op = _sessionOp(call);
        _expectAccountRevert(
            abi.encodeWithSelector(
                INexusAccount.SessionKeySelectorForbidden.selector, IERC20.transfer.selector
            )
        );
        _handle(op);
    }

    function test_tokenApproveFails() public {
        _grantRequestKey(5);
        bytes memory call =
            _execute(address(usdc), 0, abi.encodeCall(IERC20.approve, (stranger, type(uint256).max)));
        PackedUserOperation memory op = _sessionOp(call);
        _expectAccountRevert(
            abi.encodeWithSelector(
                INexusAccount.SessionKeySelectorForbidden.selector, IERC20.approve.selector
            )
        );
        _handle(op);
    }

    function test_creditTransferFails() public {
        _grantRequestKey(5);
        bytes memory call = _execute(
            address(marketplace),
            0,
            abi.encodeCall(IERC1155.safeTransferFrom, (address(account), stranger, creditId, 5, ""))
        );
        PackedUserOperation memory op = _sessionOp(call);
        _expectAccountRevert(
            abi.encodeWithSelector(
                INexusAccount.SessionKeySelectorForbidden.selector, IERC1155.safeTransferFrom.selector
            )
        );
        _handle(op);
    }

    function test_callingTheAccountItselfFails() public {
        _grantRequestKey(5);
        bytes memory call =
            _execute(address(account), 0, abi.encodeCall(INexusAccount.transferOwnership, (stranger)));
        PackedUserOperation memory op = _sessionOp(call);
        _expectAccountRevert(
            abi.encodeWithSelector(INexusAccount.SessionKeyTargetForbidden.selector, address(account))
        );
        _handle(op);
        assertEq(account.owner(), owner);
    }

    function test_callingTheEntryPointFails() public {
        _grantRequestKey(5);
        bytes memory call = _execute(
            address(entryPoint), 0, abi.encodeCall(IStakeManager.withdrawTo, (payable(stranger), 1))
        );
        PackedUserOperation memory op = _sessionOp(call);
        _expectAccountRevert(
            abi.encodeWithSelector(INexusAccount.SessionKeyTargetForbidden.selector, address(entryPoint))
        );
        _handle(op);
    }

    function test_callingTransferOwnershipDirectlyFails() public {
        _grantRequestKey(5);
        bytes memory call = abi.encodeCall(INexusAccount.transferOwnership, (stranger));
        PackedUserOperation memory op = _sessionOp(call);
        _expectAccountRevert(
            abi.encodeWithSelector(
                INexusAccount.SessionKeyOnlyExecute.selector, INexusAccount.transferOwnership.selector
            )
        );
        _handle(op);
    }

    function test_executeBatchFails() public {
        _grantRequestKey(5);
        BaseAccount.Call[] memory calls = new BaseAccount.Call[](1);
        calls[0] = BaseAccount.Call(
            address(marketplace), 0, abi.encodeCall(marketplace.requestExecution, (creditId, INPUT_HASH))
        );
        PackedUserOperation memory op = _sessionOp(_executeBatch(calls));
        _expectAccountRevert(
            abi.encodeWithSelector(
                INexusAccount.SessionKeyOnlyExecute.selector, BaseAccount.executeBatch.selector
            )
        );
        _handle(op);
    }

    function test_sendingEthFails() public {
        _grantRequestKey(5);
        vm.deal(address(account), 1 ether);
        bytes memory call = _execute(
            address(marketplace),
            1 ether,
            abi.encodeCall(marketplace.requestExecution, (creditId, INPUT_HASH))
        );
        PackedUserOperation memory op = _sessionOp(call);
        _expectAccountRevert(
            abi.encodeWithSelector(INexusAccount.SessionKeyValueNotAllowed.selector, 1 ether)
        );
        _handle(op);
    }

    /// Without a paymaster the account's own ETH deposit would pay the gas the key sets: refused.
    function test_unsponsoredOperationFails() public {
        _grantRequestKey(5);
        vm.deal(address(account), 1 ether);
        PackedUserOperation memory op = _keyOp(sessionKey, _requestCall(creditId));
        _signSession(op, sessionKey, sessionSecret);
        _expectAccountRevert(abi.encodeWithSelector(INexusAccount.SessionKeyNeedsPaymaster.selector));
        _handle(op);
    }

    // ------------------------------------------------------------------ gas: never the account's money

    /// 3,000 USDC per ETH, in USDC base units per 1e18 wei.
    uint256 internal constant RATE = 3_000e6;

    /// @dev Submits `op` alone with `to` as the bundler's beneficiary (who collects the gas).
    function _handleFor(PackedUserOperation memory op, address payable to) internal {
        PackedUserOperation[] memory ops = new PackedUserOperation[](1);
        ops[0] = op;
        vm.prank(bundler, bundler);
        entryPoint.handleOps(ops, to);
    }

    /// The attack of issue 13: the account holds 1,000 USDC and has approved a token paymaster
    /// that charges without a signature. A key allowed only `requestExecution` names that
    /// paymaster, inflates preVerificationGas and the fees, and makes itself the beneficiary: the
    /// account's USDC would pay, the key holder would collect the ETH. Refused at validation.
    function test_drainThroughTokenPaymasterRefused() public {
        usdc.mint(address(account), 1_000e6);
        UnsignedTokenPaymaster tokenPaymaster = new UnsignedTokenPaymaster(entryPoint, usdc, RATE);
        tokenPaymaster.deposit{value: 5 ether}();
        vm.prank(owner);
        account.execute(
            address(usdc), 0, abi.encodeCall(IERC20.approve, (address(tokenPaymaster), type(uint256).max))
        );
        _grantRequestKey(5);

        PackedUserOperation memory op = _keyOp(sessionKey, _requestCall(creditId));
        op.preVerificationGas = 3_000_000;
        op.gasFees = bytes32(uint256(100 gwei) << 128 | 100 gwei);
        op.paymasterAndData = abi.encodePacked(address(tokenPaymaster), uint128(50_000), uint128(100_000));
        _signSession(op, sessionKey, sessionSecret);

        _expectAccountRevert(
            abi.encodeWithSelector(
                INexusAccount.SessionKeyPaymasterNotAllowed.selector, address(tokenPaymaster)
            )
        );
        _handleFor(op, payable(sessionKey));
        assertEq(usdc.balanceOf(address(account)), 1_000e6);
        assertEq(sessionKey.balance, 0);
        assertEq(account.sessionKey(sessionKey).uses, 0);
    }

    /// NexusPaymaster's own ERC-20 mode (the account pays in USDC) is refused, even when quoted.
    function test_pinnedPaymasterErc20ModeRefused() public {
        usdc.mint(address(account), 1_000e6);
        vm.prank(owner);
        account.execute(
            address(usdc), 0, abi.encodeCall(IERC20.approve, (address(paymaster), type(uint256).max))
        );
        _grantRequestKey(5);
        PackedUserOperation memory op = _keyOp(sessionKey, _requestCall(creditId));
        _sponsorInToken(op, address(usdc), RATE, uint48(block.timestamp + 1 hours), 0, sponsorKey);
        _signSession(op, sessionKey, sessionSecret);
        _expectAccountRevert(
            abi.encodeWithSelector(
                INexusAccount.SessionKeyPaymasterModeNotAllowed.selector,
                paymaster.MODE_ERC20(),
                paymaster.ERC20_PAYMASTER_AND_DATA_LENGTH()
            )
        );
        _handle(op);
        assertEq(usdc.balanceOf(address(account)), 1_000e6);
    }

    /// The sponsored mode byte with a different length (e.g. trailing bytes) is refused too, and
    /// so is a field that stops before the mode byte.
    function test_pinnedPaymasterMalformedFieldRefused() public {
        _grantRequestKey(5);
        PackedUserOperation memory op = _keyOp(sessionKey, _requestCall(creditId));
        _sponsor(op);
        op.paymasterAndData = bytes.concat(op.paymasterAndData, hex"00");
        _signSession(op, sessionKey, sessionSecret);
        _expectAccountRevert(
            abi.encodeWithSelector(INexusAccount.SessionKeyPaymasterModeNotAllowed.selector, 0, 131)
        );
        _handle(op);

        op.paymasterAndData = abi.encodePacked(address(paymaster), PM_VERIFICATION_GAS, uint128(0));
        _signSession(op, sessionKey, sessionSecret);
        _expectAccountRevert(
            abi.encodeWithSelector(INexusAccount.SessionKeyPaymasterModeNotAllowed.selector, 0xff, 52)
        );
        _handle(op);
    }

    /// Another NexusPaymaster (a valid sponsorship from its own signer) is not the pinned one.
    function test_otherPaymasterRefused() public {
        NexusPaymaster other = new NexusPaymaster(entryPoint, paymasterOwner, sponsor);
        vm.prank(paymasterOwner);
        other.deposit{value: 1 ether}();
        _grantRequestKey(5);
        PackedUserOperation memory op = _keyOp(sessionKey, _requestCall(creditId));
        uint48 until = uint48(block.timestamp + 1 hours);
        op.paymasterAndData =
            abi.encodePacked(address(other), PM_VERIFICATION_GAS, uint128(0), uint8(0), until, uint48(0));
        bytes32 hash = MessageHashUtils.toEthSignedMessageHash(other.getHash(op, until, 0));
        (uint8 v, bytes32 r, bytes32 sig) = vm.sign(sponsorKey, hash);
        op.paymasterAndData = bytes.concat(op.paymasterAndData, abi.encodePacked(r, sig, v));
        _signSession(op, sessionKey, sessionSecret);
        _expectAccountRevert(
            abi.encodeWithSelector(INexusAccount.SessionKeyPaymasterNotAllowed.selector, address(other))
        );
        _handle(op);
    }

    /// The operation's maximum cost is (all gas limits + preVerificationGas) × maxFeePerGas.
    function test_gasCapExceededRefused() public {
        uint256 maxCost =
            (uint256(VERIFICATION_GAS) + CALL_GAS + PM_VERIFICATION_GAS + PRE_VERIFICATION_GAS) * MAX_FEE;
        // maxCost is a few gas limits times a small fee: far below 2^128.
        // forge-lint: disable-next-line(unsafe-typecast)
        _grantRequestKey(5, uint128(maxCost - 1));
        assertEq(account.sessionKey(sessionKey).maxGasCost, maxCost - 1);
        PackedUserOperation memory op = _sessionOp(_requestCall(creditId));
        _expectAccountRevert(
            abi.encodeWithSelector(INexusAccount.SessionKeyGasCostTooHigh.selector, maxCost, maxCost - 1)
        );
        _handle(op);

        // Inflating preVerificationGas alone crosses a cap the honest operation fits.
        // forge-lint: disable-next-line(unsafe-typecast)
        _grantRequestKey(5, uint128(maxCost));
        op = _keyOp(sessionKey, _requestCall(creditId));
        op.preVerificationGas = PRE_VERIFICATION_GAS + 1;
        _sponsor(op);
        _signSession(op, sessionKey, sessionSecret);
        _expectAccountRevert(
            abi.encodeWithSelector(
                INexusAccount.SessionKeyGasCostTooHigh.selector, maxCost + MAX_FEE, maxCost
            )
        );
        _handle(op);

        // At the cap exactly it passes.
        assertTrue(_handleAndReturnSuccess(_sessionOp(_requestCall(creditId))));
    }

    /// A session-key operation on any nonce key but its own is refused, so the key cannot burn the
    /// owner's nonces: an operation the owner signed before stays valid after the key's.
    function test_sessionKeyUsesItsOwnNonceKey() public {
        _grantRequestKey(5);
        PackedUserOperation memory ownerOp = _ownerOp(
            _execute(
                address(marketplace), 0, abi.encodeCall(marketplace.requestExecution, (creditId, INPUT_HASH))
            )
        );
        assertEq(ownerOp.nonce, 0);

        // The key tries the owner's nonce key (0): refused.
        PackedUserOperation memory burn = _op(address(account), _requestCall(creditId));
        _sponsor(burn);
        _signSession(burn, sessionKey, sessionSecret);
        _expectAccountRevert(
            abi.encodeWithSelector(
                INexusAccount.SessionKeyWrongNonceKey.selector, 0, account.sessionKeyNonceKey(sessionKey)
            )
        );
        _handle(burn);

        // Its own nonce key works, twice.
        uint192 keyNonceKey = uint192(uint160(sessionKey));
        assertEq(account.sessionKeyNonceKey(sessionKey), keyNonceKey);
        assertTrue(_handleAndReturnSuccess(_sessionOp(_requestCall(creditId))));
        assertTrue(_handleAndReturnSuccess(_sessionOp(_requestCall(creditId))));
        assertEq(entryPoint.getNonce(address(account), keyNonceKey), uint256(keyNonceKey) << 64 | 2);
        assertEq(entryPoint.getNonce(address(account), 0), 0);

        // The owner's operation, signed before, is still valid.
        assertTrue(_handleAndReturnSuccess(ownerOp));
        assertEq(marketplace.balanceOf(address(account), creditId), 2);
    }

    /// Another key's nonce key is refused too.
    function test_sessionKeyCannotUseAnotherKeysNonceKey() public {
        _grantRequestKey(5);
        address otherKey = makeAddr("otherKey");
        PackedUserOperation memory op = _keyOp(otherKey, _requestCall(creditId));
        _sponsor(op);
        _signSession(op, sessionKey, sessionSecret);
        _expectAccountRevert(
            abi.encodeWithSelector(
                INexusAccount.SessionKeyWrongNonceKey.selector,
                account.sessionKeyNonceKey(otherKey),
                account.sessionKeyNonceKey(sessionKey)
            )
        );
        _handle(op);
    }

    // ------------------------------------------------------------------ misuse at grant time

    function test_grantRefusesForbiddenSelectorsAndTargets() public {
        vm.startPrank(owner);
        vm.expectRevert(
            abi.encodeWithSelector(
                INexusAccount.SessionKeySelectorForbidden.selector, IERC20.transfer.selector
            )
        );
        account.grantSessionKey(
            sessionKey,
            0,
            uint48(block.timestamp + 1),
            1,
            0,
            _permission(address(usdc), IERC20.transfer.selector)
        );
        vm.expectRevert(
            abi.encodeWithSelector(
                INexusAccount.SessionKeySelectorForbidden.selector, IERC20.approve.selector
            )
        );
        account.grantSessionKey(
            sessionKey,
            0,
            uint48(block.timestamp + 1),
            1,
            0,
            _permission(address(usdc), IERC20.approve.selector)
        );
        vm.expectRevert(
            abi.encodeWithSelector(
                INexusAccount.SessionKeySelectorForbidden.selector, marketplace.withdrawTo.selector
            )
        );
        account.grantSessionKey(
            sessionKey,
            0,
            uint48(block.timestamp + 1),
            1,
            0,
            _permission(address(marketplace), marketplace.withdrawTo.selector)
        );
        vm.expectRevert(
            abi.encodeWithSelector(INexusAccount.SessionKeyTargetForbidden.selector, address(account))
        );
        account.grantSessionKey(
            sessionKey,
            0,
            uint48(block.timestamp + 1),
            1,
            0,
            _permission(address(account), INexusAccount.transferOwnership.selector)
        );
        vm.expectRevert(
            abi.encodeWithSelector(INexusAccount.SessionKeyTargetForbidden.selector, address(entryPoint))
        );
        account.grantSessionKey(
            sessionKey,
            0,
            uint48(block.timestamp + 1),
            1,
            0,
            _permission(address(entryPoint), bytes4(0x12345678))
        );
        vm.stopPrank();
    }

    function test_grantRefusesBadParameters() public {
        INexusAccount.Permission[] memory p =
            _permission(address(marketplace), marketplace.requestExecution.selector);
        uint48 nowTs = uint48(block.timestamp);
        vm.startPrank(owner);
        vm.expectRevert(abi.encodeWithSelector(INexusAccount.InvalidSessionKey.selector, address(0)));
        account.grantSessionKey(address(0), 0, nowTs + 1, 1, 0, p);
        vm.expectRevert(abi.encodeWithSelector(INexusAccount.InvalidSessionKey.selector, owner));
        account.grantSessionKey(owner, 0, nowTs + 1, 1, 0, p);
        vm.expectRevert(abi.encodeWithSelector(INexusAccount.InvalidSessionKey.selector, address(account)));
        account.grantSessionKey(address(account), 0, nowTs + 1, 1, 0, p);
        vm.expectRevert(abi.encodeWithSelector(INexusAccount.InvalidSessionWindow.selector, 0, nowTs));
        account.grantSessionKey(sessionKey, 0, nowTs, 1, 0, p);
        vm.expectRevert(
            abi.encodeWithSelector(INexusAccount.InvalidSessionWindow.selector, nowTs + 5, nowTs + 5)
        );
        account.grantSessionKey(sessionKey, nowTs + 5, nowTs + 5, 1, 0, p);
        vm.expectRevert(INexusAccount.EmptySessionGrant.selector);
        account.grantSessionKey(sessionKey, 0, nowTs + 1, 0, 0, p);
        vm.expectRevert(INexusAccount.EmptySessionGrant.selector);
        account.grantSessionKey(sessionKey, 0, nowTs + 1, 1, 0, new INexusAccount.Permission[](0));
        vm.stopPrank();

        vm.expectRevert(abi.encodeWithSelector(INexusAccount.NotOwnerOrSelf.selector, sessionKey));
        vm.prank(sessionKey);
        account.grantSessionKey(sessionKey, 0, nowTs + 1, 1, 0, p);
        vm.expectRevert(abi.encodeWithSelector(INexusAccount.NotOwnerOrSelf.selector, sessionKey));
        vm.prank(sessionKey);
        account.revokeSessionKey(sessionKey);
    }

    /// The owner can grant through an operation (execute on the account itself).
    function test_ownerGrantsThroughAnOperation() public {
        bytes memory grant = abi.encodeCall(
            INexusAccount.grantSessionKey,
            (
                sessionKey,
                uint48(0),
                uint48(block.timestamp + 1 hours),
                1,
                uint128(0),
                _permission(address(marketplace), marketplace.requestExecution.selector)
            )
        );
        assertTrue(_handleAndReturnSuccess(_ownerOp(_execute(address(account), 0, grant))));
        assertTrue(_handleAndReturnSuccess(_sessionOp(_requestCall(creditId))));
    }

    function test_forbiddenSelectorList() public view {
        bytes4[] memory forbidden = new bytes4[](8);
        forbidden[0] = IERC20.transfer.selector;
        forbidden[1] = IERC20.approve.selector;
        forbidden[2] = IERC20.transferFrom.selector;
        forbidden[3] = IERC1155.safeTransferFrom.selector;
        forbidden[4] = IERC1155.safeBatchTransferFrom.selector;
        forbidden[5] = IERC1155.setApprovalForAll.selector;
        forbidden[6] = IAgentMarketplace.withdrawTo.selector;
        forbidden[7] = bytes4(keccak256("permit(address,address,uint256,uint256,uint8,bytes32,bytes32)"));
        for (uint256 i = 0; i < forbidden.length; ++i) {
            assertTrue(account.isForbiddenSelector(forbidden[i]));
        }
        assertFalse(account.isForbiddenSelector(marketplace.requestExecution.selector));
        assertFalse(account.isForbiddenSelector(marketplace.purchase.selector));
        assertFalse(account.isForbiddenSelector(marketplace.withdraw.selector));
    }

    /// Fuzz: a key granted only `requestExecution` can call no other selector on the marketplace.
    /// forge-config: default.fuzz.runs = 32
    /// forge-config: ci.fuzz.runs = 1000
    function testFuzz_onlyPermittedSelectorPasses(bytes4 selector) public {
        vm.assume(selector != marketplace.requestExecution.selector);
        _grantRequestKey(5);
        bytes memory call =
            _execute(address(marketplace), 0, abi.encodePacked(selector, creditId, INPUT_HASH));
        bytes memory reason = account.isForbiddenSelector(selector)
            ? abi.encodeWithSelector(INexusAccount.SessionKeySelectorForbidden.selector, selector)
            : abi.encodeWithSelector(
                INexusAccount.SessionKeyCallNotPermitted.selector, sessionKey, address(marketplace), selector
            );
        PackedUserOperation memory op = _sessionOp(call);
        _expectAccountRevert(reason);
        _handle(op);
    }
}
