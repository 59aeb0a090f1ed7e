// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IEntryPoint} from "@account-abstraction/contracts/interfaces/IEntryPoint.sol";
import {StdInvariant} from "forge-std/StdInvariant.sol";
import {Test} from "forge-std/Test.sol";

import {NexusAccount} from "../../contracts/account/NexusAccount.sol";
import {NexusAccountFactory} from "../../contracts/account/NexusAccountFactory.sol";
import {NexusPaymaster} from "../../contracts/account/NexusPaymaster.sol";
import {TestUSDC} from "../../contracts/mocks/TestUSDC.sol";
import {AccountDeployer} from "../../script/DeployAccounts.s.sol";
import {PaymasterHandler} from "./PaymasterHandler.sol";

/// @title PaymasterInvariants
/// @notice Stateful fuzzing of NexusPaymaster through PaymasterHandler, on the real EntryPoint
/// v0.8 (the npm artifact at its canonical address). Whatever the account does between operations
/// (revoke or change the allowance, move its tokens, receive more), after every call:
///  1. ERC-20 mode: what the paymaster's deposit paid equals the gas cost it charged, up to its
///     flat estimate of `postOp`: spent ≤ charged ≤ spent + Σ POST_OP_GAS × gas price (the
///     EntryPoint's penalties, on unused callGasLimit and on unused postOpGasLimit, are in the
///     charge; the account is never charged less than the deposit paid; with TestUSDC the
///     difference is about 27,400 gas per operation, POST_OP_GAS minus postOp's real ~12,600).
///     The tokens it holds are exactly the charges, each `ceil(chargedWei × rate / 1e18)`
///     (rounding: under one base unit per operation, in the paymaster's favour).
///  2. Sponsored mode: what the deposit paid stays within what the sponsor signed for (each
///     operation's signed gas limits × signed maxFeePerGas), and the account pays nothing.
///  3. The deposit is accounted for exactly: initial deposit − ERC-20 spend − sponsored spend;
///     an operation the EntryPoint refuses costs nothing.
///  4. No USDC is created or lost: account + paymaster + cold wallet = minted.
contract PaymasterInvariants is StdInvariant, Test, AccountDeployer {
    uint256 internal constant DEPOSIT = 1_000 ether;
    /// @dev Runtime code of the deterministic CREATE2 deployer (anvil and most chains carry it).
    bytes internal constant CREATE2_DEPLOYER_CODE =
        hex"7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe03601600081602082378035828234f58015156039578182fd5b8082525050506014600cf3";

    NexusPaymaster internal paymaster;
    TestUSDC internal usdc;
    NexusAccount internal account;
    PaymasterHandler internal handler;

    function setUp() public {
        vm.warp(1_750_000_000);
        vm.fee(1 gwei);
        if (CREATE2_FACTORY.code.length == 0) vm.etch(CREATE2_FACTORY, CREATE2_DEPLOYER_CODE);
        IEntryPoint entryPoint = _deployEntryPoint();
        (, uint256 ownerKey) = makeAddrAndKey("owner");
        (address sponsor, uint256 sponsorKey) = makeAddrAndKey("sponsor");
        paymaster = new NexusPaymaster(entryPoint, address(this), sponsor);
        paymaster.deposit{value: DEPOSIT}();
        NexusAccountFactory factory = new NexusAccountFactory(entryPoint, address(paymaster));
        vm.prank(address(entryPoint.senderCreator()));
        account = factory.createAccount(vm.addr(ownerKey), 0);
        usdc = new TestUSDC();

        handler = new PaymasterHandler(entryPoint, paymaster, usdc, account, ownerKey, sponsorKey);
        // Start funded and approved; the handler changes both at random.
        handler.fund(500e6);
        handler.approvePaymaster(0, true);
        targetContract(address(handler));
    }

    function invariant_erc20ChargesMatchTheDepositSpent() public view {
        assertLe(handler.erc20Spent(), handler.erc20ChargedWei(), "charged less than the deposit paid");
        assertLe(
            handler.erc20ChargedWei(),
            handler.erc20Spent() + handler.erc20Margin(),
            "charged more than the spend plus the postOp estimate"
        );
        assertEq(usdc.balanceOf(address(paymaster)), handler.erc20ChargedTokens(), "tokens kept != charges");
    }

    function invariant_sponsoredSpendWithinSignedBudget() public view {
        assertLe(handler.sponsoredSpent(), handler.sponsoredBudget());
    }

    function invariant_depositAccountedFor() public view {
        assertEq(paymaster.getDeposit(), DEPOSIT - handler.erc20Spent() - handler.sponsoredSpent());
    }

    function invariant_tokensConserved() public view {
        assertEq(
            usdc.balanceOf(address(account)) + usdc.balanceOf(address(paymaster))
                + usdc.balanceOf(handler.coldWallet()),
            handler.minted()
        );
    }

    function invariant_inlineChecksHeld() public view {
        assertEq(handler.violations(), 0, handler.firstViolation());
    }

    /// What each run exercised (shown with -vv): operations of both modes, refusals, and the
    /// total overcharge in ERC-20 mode.
    function afterInvariant() public {
        emit log_named_uint("erc20 ops", handler.erc20Ops());
        emit log_named_uint("sponsored ops", handler.sponsoredOps());
        emit log_named_uint("refused ops", handler.refusedOps());
        emit log_named_uint("erc20 overcharge (wei)", handler.erc20ChargedWei() - handler.erc20Spent());
        emit log_named_uint("erc20 min overcharge per op (gas)", handler.minOverchargeGas());
        emit log_named_uint("erc20 max overcharge per op (gas)", handler.maxOverchargeGas());
    }
}
