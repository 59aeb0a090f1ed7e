// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {BaseAccount} from "@account-abstraction/contracts/core/BaseAccount.sol";
import {IEntryPoint} from "@account-abstraction/contracts/interfaces/IEntryPoint.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";
import {CommonBase} from "forge-std/Base.sol";
import {StdCheats} from "forge-std/StdCheats.sol";
import {StdUtils} from "forge-std/StdUtils.sol";
import {Vm} from "forge-std/Vm.sol";

import {NexusAccount} from "../../contracts/account/NexusAccount.sol";
import {NexusPaymaster} from "../../contracts/account/NexusPaymaster.sol";
import {TestUSDC} from "../../contracts/mocks/TestUSDC.sol";

/// @title GasSink
/// @notice What the account's operations call: burns a chosen amount of gas, or reverts.
contract GasSink {
    uint256 public counter;

    error Refused();

    function burn(uint256 rounds) external {
        for (uint256 i = 0; i < rounds; ++i) {
            counter += i;
        }
    }

    function fail() external pure {
        revert Refused();
    }
}

/// @title PaymasterHandler
/// @notice Drives NexusPaymaster through the real EntryPoint's `handleOps`: owner-signed operations
/// of one NexusAccount paid in USDC (ERC-20 mode) or sponsored, with random gas limits, fees and
/// execution (gas burnt, or a revert), and between them the owner's direct `execute`s that revoke
/// or change the paymaster's allowance and move the account's tokens away. Every operation is
/// measured: what the paymaster's deposit paid, what it charged (ERC-20 mode) or what the sponsor
/// signed for (sponsored mode). Operations the EntryPoint refuses (e.g. no allowance left) are
/// counted and must cost the paymaster nothing.
contract PaymasterHandler is CommonBase, StdCheats, StdUtils {
    /// 3,000 USDC per ETH, in USDC base units per 1e18 wei.
    uint256 public constant RATE = 3_000e6;
    uint128 internal constant PM_VERIFICATION_GAS = 150_000;
    uint128 internal constant VERIFICATION_GAS = 200_000;

    IEntryPoint public immutable entryPoint;
    NexusPaymaster public immutable paymaster;
    TestUSDC public immutable usdc;
    NexusAccount public immutable account;
    GasSink public immutable sink;
    address public immutable owner;
    uint256 internal immutable ownerKey;
    uint256 internal immutable sponsorKey;
    address internal immutable bundler;
    address payable internal immutable beneficiary;
    /// Where the owner moves the account's tokens.
    address public immutable coldWallet;

    // ------------------------------------------------------------------ ghosts

    /// USDC minted to the account so far.
    uint256 public minted;
    /// ERC-20 mode: what the deposit paid, the gas cost charged (wei) and the tokens kept.
    uint256 public erc20Spent;
    uint256 public erc20ChargedWei;
    uint256 public erc20ChargedTokens;
    /// ERC-20 mode: Σ POST_OP_GAS × gas price, the most the charge may exceed the spend by.
    uint256 public erc20Margin;
    uint256 public erc20Ops;
    /// ERC-20 mode: the smallest and largest overcharge of one operation, in gas.
    uint256 public minOverchargeGas = type(uint256).max;
    uint256 public maxOverchargeGas;
    /// Sponsored mode: what the deposit paid and what the sponsor's signatures allowed (each
    /// operation's signed gas limits × signed maxFeePerGas).
    uint256 public sponsoredSpent;
    uint256 public sponsoredBudget;
    uint256 public sponsoredOps;
    /// Operations the EntryPoint refused (they must have cost nothing).
    uint256 public refusedOps;
    /// Inline checks that failed (with the first reason).
    uint256 public violations;
    string public firstViolation;

    constructor(
        IEntryPoint entryPoint_,
        NexusPaymaster paymaster_,
        TestUSDC usdc_,
        NexusAccount account_,
        uint256 ownerKey_,
        uint256 sponsorKey_
    ) {
        entryPoint = entryPoint_;
        paymaster = paymaster_;
        usdc = usdc_;
        account = account_;
        ownerKey = ownerKey_;
        owner = vm.addr(ownerKey_);
        sponsorKey = sponsorKey_;
        sink = new GasSink();
        bundler = makeAddr("bundler");
        beneficiary = payable(makeAddr("beneficiary"));
        coldWallet = makeAddr("coldWallet");
    }

    // ------------------------------------------------------------------ actions

    /// An owner-signed operation paid in USDC at the quoted rate.
    function erc20Op(
        uint256 rounds,
        uint256 callGas,
        uint256 postOpGas,
        uint256 preVerificationGas,
        uint256 fee,
        bool fails
    ) external {
        PackedUserOperation memory op = _randomOp(rounds, callGas, preVerificationGas, fee, fails);
        postOpGas = _bound(postOpGas, paymaster.POST_OP_GAS(), 500_000);
        uint48 validUntil = uint48(block.timestamp + 1 hours);
        op.paymasterAndData = abi.encodePacked(
            address(paymaster),
            PM_VERIFICATION_GAS,
            // Bounded to 500,000 above.
            // forge-lint: disable-next-line(unsafe-typecast)
            uint128(postOpGas),
            paymaster.MODE_ERC20(),
            validUntil,
            uint48(0),
            address(usdc),
            RATE
        );
        _signPaymaster(op, paymaster.getTokenHash(op, validUntil, 0, address(usdc), RATE));
        _signOwner(op);

        uint256 depositBefore = paymaster.getDeposit();
        uint256 tokensBefore = usdc.balanceOf(address(paymaster));
        vm.recordLogs();
        if (!_submit(op)) return;
        (uint256 charged, uint256 gasCost) = _gasPaidInToken(vm.getRecordedLogs());
        uint256 spent = depositBefore - paymaster.getDeposit();
        uint256 margin = paymaster.POST_OP_GAS() * _gasPrice(op);

        _check(usdc.balanceOf(address(paymaster)) - tokensBefore == charged, "kept tokens != charge");
        _check(gasCost >= spent, "charge below what the deposit paid");
        _check(gasCost <= spent + margin, "charge above the spend by more than POST_OP_GAS");
        _check(charged == (gasCost * RATE + 1e18 - 1) / 1e18, "charge not the gas cost at the rate");
        if (gasCost >= spent) {
            uint256 overchargeGas = (gasCost - spent) / _gasPrice(op);
            if (overchargeGas < minOverchargeGas) minOverchargeGas = overchargeGas;
            if (overchargeGas > maxOverchargeGas) maxOverchargeGas = overchargeGas;
        }
        erc20Spent += spent;
        erc20ChargedWei += gasCost;
        erc20ChargedTokens += charged;
        erc20Margin += margin;
        ++erc20Ops;
    }

    /// An owner-signed operation the sponsor pays.
    function sponsoredOp(uint256 rounds, uint256 callGas, uint256 preVerificationGas, uint256 fee, bool fails)
        external
    {
        PackedUserOperation memory op = _randomOp(rounds, callGas, preVerificationGas, fee, fails);
        uint48 validUntil = uint48(block.timestamp + 1 hours);
        op.paymasterAndData = abi.encodePacked(
            address(paymaster),
            PM_VERIFICATION_GAS,
            uint128(0),
            paymaster.MODE_SPONSORED(),
            validUntil,
            uint48(0)
        );
        _signPaymaster(op, paymaster.getHash(op, validUntil, 0));
        _signOwner(op);

        uint256 depositBefore = paymaster.getDeposit();
        uint256 tokensBefore = usdc.balanceOf(address(account));
        if (!_submit(op)) return;
        uint256 spent = depositBefore - paymaster.getDeposit();
        uint256 budget = _maxCost(op, 0);
        _check(spent <= budget, "sponsored spend above the signed budget");
        _check(usdc.balanceOf(address(account)) == tokensBefore, "a sponsored operation charged tokens");
        sponsoredSpent += spent;
        sponsoredBudget += budget;
        ++sponsoredOps;
    }

    /// The owner sets the paymaster's allowance directly (0 = revoke), outside any operation.
    function approvePaymaster(uint256 amount, bool unlimited) external {
        amount = unlimited ? type(uint256).max : bound(amount, 0, 1_000e6);
        vm.prank(owner);
        account.execute(address(usdc), 0, abi.encodeCall(usdc.approve, (address(paymaster), amount)));
    }

    /// The owner moves some of the account's USDC away directly.
    function moveTokens(uint256 amount) external {
        amount = _bound(amount, 0, usdc.balanceOf(address(account)));
        vm.prank(owner);
        account.execute(address(usdc), 0, abi.encodeCall(usdc.transfer, (coldWallet, amount)));
    }

    /// The account receives USDC.
    function fund(uint256 amount) external {
        amount = _bound(amount, 0, 500e6);
        usdc.mint(address(account), amount);
        minted += amount;
    }

    // ------------------------------------------------------------------ helpers

    function _randomOp(uint256 rounds, uint256 callGas, uint256 preVerificationGas, uint256 fee, bool fails)
        internal
        view
        returns (PackedUserOperation memory op)
    {
        rounds = _bound(rounds, 0, 200);
        callGas = _bound(callGas, 60_000, 600_000);
        preVerificationGas = _bound(preVerificationGas, 50_000, 300_000);
        fee = _bound(fee, 1 gwei, 20 gwei);
        bytes memory call = fails ? abi.encodeCall(GasSink.fail, ()) : abi.encodeCall(GasSink.burn, (rounds));
        op.sender = address(account);
        op.nonce = entryPoint.getNonce(address(account), 0);
        op.callData = abi.encodeCall(BaseAccount.execute, (address(sink), 0, call));
        op.accountGasLimits = bytes32(uint256(VERIFICATION_GAS) << 128 | callGas);
        op.preVerificationGas = preVerificationGas;
        // The priority fee is at most maxFeePerGas; with the test chain's base fee the gas price
        // lands anywhere between them.
        op.gasFees = bytes32((fee / 2) << 128 | fee);
    }

    function _signPaymaster(PackedUserOperation memory op, bytes32 hash) internal view {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(sponsorKey, MessageHashUtils.toEthSignedMessageHash(hash));
        op.paymasterAndData = bytes.concat(op.paymasterAndData, abi.encodePacked(r, s, v));
    }

    function _signOwner(PackedUserOperation memory op) internal view {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(ownerKey, entryPoint.getUserOpHash(op));
        op.signature = abi.encodePacked(uint8(0x00), r, s, v);
    }

    /// @dev Submits `op` as the bundler; false (and checks nothing was paid) when refused.
    function _submit(PackedUserOperation memory op) internal returns (bool) {
        PackedUserOperation[] memory ops = new PackedUserOperation[](1);
        ops[0] = op;
        uint256 depositBefore = paymaster.getDeposit();
        uint256 tokensBefore = usdc.balanceOf(address(paymaster));
        vm.prank(bundler, bundler);
        try entryPoint.handleOps(ops, beneficiary) {
            return true;
        } catch {
            ++refusedOps;
            _check(paymaster.getDeposit() == depositBefore, "a refused operation cost the deposit");
            _check(usdc.balanceOf(address(paymaster)) == tokensBefore, "a refused operation moved tokens");
            return false;
        }
    }

    /// @dev The EntryPoint's gas price for `op`: min(maxFeePerGas, maxPriorityFeePerGas + basefee).
    function _gasPrice(PackedUserOperation memory op) internal view returns (uint256) {
        uint256 maxFee = uint128(uint256(op.gasFees));
        uint256 priority = uint256(op.gasFees) >> 128;
        uint256 price = priority + block.basefee;
        return price < maxFee ? price : maxFee;
    }

    /// @dev The most `op` can cost: every gas limit times maxFeePerGas (the EntryPoint's prefund).
    function _maxCost(PackedUserOperation memory op, uint256 postOpGas) internal pure returns (uint256) {
        uint256 limits = (uint256(op.accountGasLimits) >> 128) + uint128(uint256(op.accountGasLimits));
        return
            (limits + PM_VERIFICATION_GAS + postOpGas + op.preVerificationGas) * uint128(uint256(op.gasFees));
    }

    function _gasPaidInToken(Vm.Log[] memory logs) internal returns (uint256 amount, uint256 gasCost) {
        for (uint256 i = 0; i < logs.length; ++i) {
            if (
                logs[i].emitter == address(paymaster)
                    && logs[i].topics[0] == NexusPaymaster.GasPaidInToken.selector
            ) {
                return abi.decode(logs[i].data, (uint256, uint256));
            }
        }
        _check(false, "an included ERC-20 operation without GasPaidInToken");
    }

    function _check(bool ok, string memory reason) internal {
        if (ok) return;
        if (violations == 0) firstViolation = reason;
        ++violations;
    }
}
