// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {BaseAccount} from "@account-abstraction/contracts/core/BaseAccount.sol";
import {IPaymaster} from "@account-abstraction/contracts/interfaces/IPaymaster.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {Vm} from "forge-std/Vm.sol";

import {NexusPaymaster} from "../../contracts/account/NexusPaymaster.sol";
import {CreditId} from "../../contracts/libraries/CreditId.sol";
import {AccountTest} from "./AccountFixtures.sol";

/// @notice ERC-20 mode: the account prepays the maximum gas cost in USDC during validation, the
/// paymaster pays the gas, and `postOp` keeps the actual cost (with the EntryPoint's penalties)
/// and refunds the rest.
contract NexusPaymasterErc20Test is AccountTest {
    /// 3,000 USDC per ETH, in USDC base units per 1e18 wei.
    uint256 internal constant RATE = 3_000e6;
    uint256 internal constant START_USDC = 100e6;

    function setUp() public override {
        super.setUp();
        usdc.mint(address(account), START_USDC);
        _ownerApprovesPaymaster(type(uint256).max);
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

    /// @dev The owner sets the account's allowance for the paymaster with a direct `execute`.
    function _ownerApprovesPaymaster(uint256 amount) internal {
        vm.prank(owner);
        account.execute(address(usdc), 0, abi.encodeCall(usdc.approve, (address(paymaster), amount)));
    }

    /// @dev The EntryPoint's prefund of `op`: every gas limit plus preVerificationGas, times maxFeePerGas.
    function _maxCost(PackedUserOperation memory op) internal pure returns (uint256) {
        bytes memory pmd = op.paymasterAndData;
        uint256 pmGas;
        uint256 postOpGas;
        assembly ("memory-safe") {
            // paymasterAndData: paymaster (20) ‖ verification gas (16) ‖ postOp gas (16)
            pmGas := shr(128, mload(add(pmd, 52)))
            postOpGas := shr(128, mload(add(pmd, 68)))
        }
        uint256 limits = uint256(op.accountGasLimits >> 128) + uint128(uint256(op.accountGasLimits));
        return (limits + pmGas + postOpGas + op.preVerificationGas) * uint128(uint256(op.gasFees));
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

    function _gasPrepaidInToken(Vm.Log[] memory logs) internal view returns (uint256 amount) {
        for (uint256 i = 0; i < logs.length; ++i) {
            if (
                logs[i].emitter == address(paymaster)
                    && logs[i].topics[0] == NexusPaymaster.GasPrepaidInToken.selector
            ) {
                return abi.decode(logs[i].data, (uint256));
            }
        }
        revert("no GasPrepaidInToken");
    }

    /// Validation pulls the maximum cost; postOp keeps the cost and refunds the rest.
    function test_accountPaysGasInUsdc() public {
        PackedUserOperation memory op = _purchaseOp(false);
        _quoted(op);
        uint256 depositBefore = paymaster.getDeposit();

        vm.recordLogs();
        _handle(op);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        uint256 prefund = _gasPrepaidInToken(logs);
        (uint256 charged, uint256 gasCost) = _gasPaidInToken(logs);

        assertEq(marketplace.balanceOf(address(account), CreditId.encode(usdcAgentId, USDC_PRICE)), 1);
        assertEq(prefund, paymaster.tokenPrefund(_maxCost(op), RATE), "the maximum cost, up front");
        assertGt(charged, 0);
        assertLt(charged, prefund, "the unused part was refunded");
        assertEq(usdc.balanceOf(address(paymaster)), charged);
        assertEq(usdc.balanceOf(address(account)), START_USDC - USDC_PRICE - charged);
        assertEq(address(account).balance, 0, "no ETH anywhere on the account's side");
        uint256 spent = depositBefore - paymaster.getDeposit();
        assertGe(gasCost, spent, "the charge covers what the paymaster spent");
        assertLe(
            gasCost - spent, paymaster.POST_OP_GAS() * MAX_PRIORITY_FEE, "and overcharges less than postOp"
        );
        assertEq(charged, (gasCost * RATE + 1e18 - 1) / 1e18, "rounded up at the quoted rate");
    }

    function test_secondOperationNeedsNoNewApproval() public {
        PackedUserOperation memory first = _purchaseOp(false);
        _quoted(first);
        _handle(first);
        uint256 afterFirst = usdc.balanceOf(address(account));

        PackedUserOperation memory second = _purchaseOp(false);
        _quoted(second);
        _handle(second);
        assertLt(usdc.balanceOf(address(account)), afterFirst - USDC_PRICE);
        assertEq(marketplace.balanceOf(address(account), CreditId.encode(usdcAgentId, USDC_PRICE)), 2);
    }

    /// An approval inside the operation comes after validation: too late, the operation is refused
    /// before anyone pays anything.
    function test_approvalInTheSameOperationComesTooLate() public {
        _ownerApprovesPaymaster(0);
        PackedUserOperation memory op = _purchaseOp(true);
        _quoted(op);
        uint256 depositBefore = paymaster.getDeposit();
        _expectPaymasterRevert(
            abi.encodeWithSelector(
                IERC20Errors.ERC20InsufficientAllowance.selector,
                address(paymaster),
                0,
                paymaster.tokenPrefund(_maxCost(op), RATE)
            )
        );
        _handle(op);
        assertEq(paymaster.getDeposit(), depositBefore);
        assertEq(usdc.balanceOf(address(account)), START_USDC);
    }

    /// Issue 13: the owner takes a quote, then revokes the allowance with a direct `execute`. The
    /// operation no longer validates, so the paymaster never pays its gas.
    function test_revokedAllowanceAfterQuoteCostsThePaymasterNothing() public {
        PackedUserOperation memory op = _purchaseOp(false);
        _quoted(op);
        _ownerApprovesPaymaster(0);
        uint256 depositBefore = paymaster.getDeposit();

        _expectPaymasterRevert(
            abi.encodeWithSelector(
                IERC20Errors.ERC20InsufficientAllowance.selector,
                address(paymaster),
                0,
                paymaster.tokenPrefund(_maxCost(op), RATE)
            )
        );
        _handle(op);
        assertEq(paymaster.getDeposit(), depositBefore, "the paymaster paid nothing");
        assertEq(usdc.balanceOf(address(paymaster)), 0);
    }

    /// The same with the tokens moved away instead of the allowance revoked.
    function test_movedTokensAfterQuoteCostThePaymasterNothing() public {
        PackedUserOperation memory op = _purchaseOp(false);
        _quoted(op);
        vm.prank(owner);
        account.execute(address(usdc), 0, abi.encodeCall(usdc.transfer, (bob, START_USDC)));
        uint256 depositBefore = paymaster.getDeposit();

        _expectPaymasterRevert(
            abi.encodeWithSelector(
                IERC20Errors.ERC20InsufficientBalance.selector,
                address(account),
                0,
                paymaster.tokenPrefund(_maxCost(op), RATE)
            )
        );
        _handle(op);
        assertEq(paymaster.getDeposit(), depositBefore, "the paymaster paid nothing");
    }

    /// A reverted execution is still paid for, and the rest of the prepayment still refunded.
    function test_revertedExecutionPaysAndIsRefunded() public {
        // Requesting a credit the account does not hold reverts.
        PackedUserOperation memory op = _op(
            address(account),
            _execute(
                address(marketplace), 0, abi.encodeCall(marketplace.requestExecution, (12345, INPUT_HASH))
            )
        );
        _quoted(op);
        uint256 depositBefore = paymaster.getDeposit();
        vm.recordLogs();
        _handle(op);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        (uint256 charged, uint256 gasCost) = _gasPaidInToken(logs);
        assertLt(charged, _gasPrepaidInToken(logs));
        assertEq(usdc.balanceOf(address(paymaster)), charged);
        assertEq(usdc.balanceOf(address(account)), START_USDC - charged);
        assertGe(gasCost, depositBefore - paymaster.getDeposit());
    }

    /// EntryPoint v0.8 charges 10% of a large unused postOpGasLimit: the charge includes it.
    function test_chargeCoversPostOpGasPenalty() public {
        PackedUserOperation memory op = _purchaseOp(false);
        _sponsorInToken(op, address(usdc), RATE, uint48(block.timestamp + 1 hours), 0, sponsorKey, 600_000);
        _signOwner(op, ownerKey);
        uint256 depositBefore = paymaster.getDeposit();
        vm.recordLogs();
        _handle(op);
        (, uint256 gasCost) = _gasPaidInToken(vm.getRecordedLogs());
        uint256 spent = depositBefore - paymaster.getDeposit();
        assertGe(gasCost, spent, "the penalty is charged to the account");
        assertLe(gasCost - spent, paymaster.POST_OP_GAS() * MAX_PRIORITY_FEE);
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
        uint256 postOpGas = paymaster.POST_OP_GAS();
        (uint256 amount, uint256 gasCost) = paymaster.tokenCost(1, 0, 1, postOpGas);
        assertEq(gasCost, 1);
        assertEq(amount, 1);
        (amount, gasCost) = paymaster.tokenCost(1e18, 1 gwei, RATE, postOpGas);
        assertEq(gasCost, 1e18 + postOpGas * 1 gwei);
        assertEq(amount, (gasCost * RATE + 1e18 - 1) / 1e18);
        assertEq(paymaster.tokenPrefund(1, 1), 1);
        assertEq(paymaster.tokenPrefund(1e18 + 1, RATE), RATE + 1);
    }

    /// Mirrors EntryPoint._getUnusedGasPenalty with postOp taken to use POST_OP_GAS.
    function test_postOpPenalty() public view {
        uint256 postOpGas = paymaster.POST_OP_GAS();
        assertEq(paymaster.postOpPenalty(postOpGas), 0);
        assertEq(paymaster.postOpPenalty(postOpGas + 40_000), 0);
        assertEq(paymaster.postOpPenalty(postOpGas + 40_001), 4_000);
        assertEq(paymaster.postOpPenalty(postOpGas + 500_000), 50_000);
        (, uint256 gasCost) = paymaster.tokenCost(0, 2, RATE, postOpGas + 500_000);
        assertEq(gasCost, (postOpGas + 50_000) * 2);
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
        bytes memory context = abi.encode(address(account), address(usdc), RATE, 1e6, paymaster.POST_OP_GAS());
        vm.expectRevert("Sender not EntryPoint");
        paymaster.postOp(IPaymaster.PostOpMode.opSucceeded, context, 1e15, 1 gwei);
    }
}
