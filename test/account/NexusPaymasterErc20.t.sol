// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {BaseAccount} from "@account-abstraction/contracts/core/BaseAccount.sol";
import {IPaymaster} from "@account-abstraction/contracts/interfaces/IPaymaster.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Vm} from "forge-std/Vm.sol";

import {NexusPaymaster} from "../../contracts/account/NexusPaymaster.sol";
import {CreditId} from "../../contracts/libraries/CreditId.sol";
import {AccountTest} from "./AccountFixtures.sol";

/// @notice ERC-20 mode: the paymaster pays the gas and the account pays it back in USDC.
contract NexusPaymasterErc20Test is AccountTest {
    /// 3,000 USDC per ETH, in USDC base units per 1e18 wei.
    uint256 internal constant RATE = 3_000e6;
    uint256 internal constant START_USDC = 100e6;

    function setUp() public override {
        super.setUp();
        usdc.mint(address(account), START_USDC);
    }

    /// approve(paymaster) + approve(marketplace) + purchase, paid in USDC.
    function _purchaseOp(bool approvePaymaster) internal view returns (PackedUserOperation memory op) {
        BaseAccount.Call[] memory calls = new BaseAccount.Call[](approvePaymaster ? 3 : 2);
        uint256 i;
        if (approvePaymaster) {
            calls[i++] = BaseAccount.Call(
                address(usdc), 0, abi.encodeCall(usdc.approve, (address(paymaster), type(uint256).max))
            );
        }
        calls[i++] = BaseAccount.Call(
            address(usdc), 0, abi.encodeCall(usdc.approve, (address(marketplace), USDC_PRICE))
        );
        calls[i++] = BaseAccount.Call(
            address(marketplace), 0, abi.encodeCall(marketplace.purchase, (usdcAgentId, 1, USDC_PRICE))
        );
        op = _op(address(account), _executeBatch(calls));
    }

    function _quoted(PackedUserOperation memory op) internal view {
        _sponsorInToken(op, address(usdc), RATE, uint48(block.timestamp + 1 hours), 0, sponsorKey);
        _signOwner(op, ownerKey);
    }

    function _gasPaidInToken(Vm.Log[] memory logs) internal view returns (uint256 amount, uint256 gasCost) {
        for (uint256 i = 0; i < logs.length; ++i) {
            if (
                logs[i].emitter == address(paymaster)
                    && logs[i].topics[0] == NexusPaymaster.GasPaidInToken.selector
            ) {
                return abi.decode(logs[i].data, (uint256, uint256));
            }
        }
        revert("no GasPaidInToken");
    }

    function test_accountPaysGasInUsdc() public {
        PackedUserOperation memory op = _purchaseOp(true);
        _quoted(op);
        uint256 depositBefore = paymaster.getDeposit();

        vm.recordLogs();
        _handle(op);
        (uint256 charged, uint256 gasCost) = _gasPaidInToken(vm.getRecordedLogs());

        assertEq(marketplace.balanceOf(address(account), CreditId.encode(usdcAgentId, USDC_PRICE)), 1);
        assertGt(charged, 0);
        assertEq(usdc.balanceOf(address(paymaster)), charged);
        assertEq(usdc.balanceOf(address(account)), START_USDC - USDC_PRICE - charged);
        assertEq(address(account).balance, 0, "no ETH anywhere on the account's side");
        uint256 spent = depositBefore - paymaster.getDeposit();
        assertGe(gasCost, spent * 9 / 10, "the charge covers what the paymaster spent");
        assertEq(charged, (gasCost * RATE + 1e18 - 1) / 1e18, "rounded up at the quoted rate");
    }

    function test_secondOperationNeedsNoNewApproval() public {
        PackedUserOperation memory first = _purchaseOp(true);
        _quoted(first);
        _handle(first);
        uint256 afterFirst = usdc.balanceOf(address(account));

        PackedUserOperation memory second = _purchaseOp(false);
        _quoted(second);
        _handle(second);
        assertLt(usdc.balanceOf(address(account)), afterFirst - USDC_PRICE);
        assertEq(marketplace.balanceOf(address(account), CreditId.encode(usdcAgentId, USDC_PRICE)), 2);
    }

    /// Without an allowance the charge fails: the EntryPoint undoes the execution and the
    /// paymaster is left paying the gas; the account keeps its USDC and gets nothing.
    function test_unpaidChargeUndoesTheOperation() public {
        PackedUserOperation memory op = _purchaseOp(false);
        _quoted(op);
        uint256 depositBefore = paymaster.getDeposit();

        assertFalse(_handleAndReturnSuccess(op));
        assertEq(marketplace.balanceOf(address(account), CreditId.encode(usdcAgentId, USDC_PRICE)), 0);
        assertEq(usdc.balanceOf(address(account)), START_USDC);
        assertEq(usdc.balanceOf(address(paymaster)), 0);
        assertLt(paymaster.getDeposit(), depositBefore);
    }

    function test_tamperedRateFails() public {
        PackedUserOperation memory op = _purchaseOp(true);
        _sponsorInToken(op, address(usdc), RATE, uint48(block.timestamp + 1 hours), 0, sponsorKey);
        // Lower the quoted rate to 1 without a new quote: bytes 85..117 hold the rate.
        for (uint256 i = 85; i < 116; ++i) {
            op.paymasterAndData[i] = 0;
        }
        op.paymasterAndData[116] = 0x01;
        _signOwner(op, ownerKey);
        _expectFailedOp("AA34 signature error");
        _handle(op);
    }

    function test_sponsoredApprovalDoesNotCoverTokenMode() public {
        PackedUserOperation memory op = _purchaseOp(true);
        // A sponsored-mode signature of the same operation, pasted into an ERC-20-mode field.
        _sponsorInToken(op, address(usdc), RATE, uint48(block.timestamp + 1 hours), 0, sponsorKey);
        bytes memory pmd = op.paymasterAndData;
        _sponsor(op, uint48(block.timestamp + 1 hours), 0, sponsorKey);
        bytes memory sponsoredSig = new bytes(65);
        for (uint256 i = 0; i < 65; ++i) {
            sponsoredSig[i] = op.paymasterAndData[65 + i];
            pmd[117 + i] = sponsoredSig[i];
        }
        op.paymasterAndData = pmd;
        _signOwner(op, ownerKey);
        _expectFailedOp("AA34 signature error");
        _handle(op);
    }

    function test_invalidQuoteReverts() public {
        PackedUserOperation memory op = _purchaseOp(true);
        _sponsorInToken(op, address(usdc), 0, uint48(block.timestamp + 1 hours), 0, sponsorKey);
        _signOwner(op, ownerKey);
        _expectPaymasterRevert(
            abi.encodeWithSelector(NexusPaymaster.InvalidTokenQuote.selector, address(usdc), 0)
        );
        _handle(op);

        _sponsorInToken(op, address(0), RATE, uint48(block.timestamp + 1 hours), 0, sponsorKey);
        _signOwner(op, ownerKey);
        _expectPaymasterRevert(
            abi.encodeWithSelector(NexusPaymaster.InvalidTokenQuote.selector, address(0), RATE)
        );
        _handle(op);
    }

    function test_postOpGasTooLowReverts() public {
        PackedUserOperation memory op = _purchaseOp(true);
        _sponsorInToken(op, address(usdc), RATE, uint48(block.timestamp + 1 hours), 0, sponsorKey);
        // Rewrite postOpGasLimit (bytes 36..52) to 1,000 and re-quote.
        bytes memory pmd = op.paymasterAndData;
        bytes memory head = abi.encodePacked(address(paymaster), PM_VERIFICATION_GAS, uint128(1_000));
        for (uint256 i = 0; i < 52; ++i) {
            pmd[i] = head[i];
        }
        op.paymasterAndData = pmd;
        _signOwner(op, ownerKey);
        _expectPaymasterRevert(abi.encodeWithSelector(NexusPaymaster.PostOpGasTooLow.selector, 1_000));
        _handle(op);
    }

    function test_wrongLengthForModeReverts() public {
        PackedUserOperation memory op = _purchaseOp(true);
        _sponsor(op);
        op.paymasterAndData[52] = bytes1(paymaster.MODE_ERC20());
        _signOwner(op, ownerKey);
        _expectPaymasterRevert(
            abi.encodeWithSelector(NexusPaymaster.InvalidPaymasterDataLength.selector, 130)
        );
        _handle(op);
    }

    function test_parsesTokenQuote() public view {
        PackedUserOperation memory op = _purchaseOp(true);
        _sponsorInToken(op, address(usdc), RATE, 1_800_000_000, 1_700_000_000, sponsorKey);
        assertEq(op.paymasterAndData.length, paymaster.ERC20_PAYMASTER_AND_DATA_LENGTH());
        (
            uint8 mode,
            uint48 validUntil,
            uint48 validAfter,
            address token,
            uint256 rate,
            bytes memory signature
        ) = paymaster.parsePaymasterData(op.paymasterAndData);
        assertEq(mode, 1);
        assertEq(validUntil, 1_800_000_000);
        assertEq(validAfter, 1_700_000_000);
        assertEq(token, address(usdc));
        assertEq(rate, RATE);
        assertEq(signature.length, 65);
    }

    function test_tokenCostRoundsUp() public view {
        (uint256 amount, uint256 gasCost) = paymaster.tokenCost(1, 0, 1);
        assertEq(gasCost, 1);
        assertEq(amount, 1);
        (amount, gasCost) = paymaster.tokenCost(1e18, 1 gwei, RATE);
        assertEq(gasCost, 1e18 + paymaster.POST_OP_GAS() * 1 gwei);
        assertEq(amount, (gasCost * RATE + 1e18 - 1) / 1e18);
    }

    function test_ownerWithdrawsCollectedTokens() public {
        usdc.mint(address(paymaster), 10e6);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, stranger));
        vm.prank(stranger);
        paymaster.withdrawToken(usdc, stranger, 10e6);

        vm.expectRevert(NexusPaymaster.InvalidAddress.selector);
        vm.prank(paymasterOwner);
        paymaster.withdrawToken(usdc, address(0), 10e6);

        vm.expectEmit(address(paymaster));
        emit NexusPaymaster.TokensWithdrawn(address(usdc), bob, 10e6);
        vm.prank(paymasterOwner);
        paymaster.withdrawToken(usdc, bob, 10e6);
        assertEq(usdc.balanceOf(bob), 10e6);
    }

    function test_postOpOnlyFromEntryPoint() public {
        vm.expectRevert("Sender not EntryPoint");
        paymaster.postOp(
            IPaymaster.PostOpMode.opSucceeded, abi.encode(address(account), address(usdc), RATE), 1e15, 1 gwei
        );
    }
}
