// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {Vm} from "forge-std/Vm.sol";

import {IAgentMarketplace} from "../contracts/interfaces/IAgentMarketplace.sol";
import {BaseTest} from "./utils/Fixtures.sol";
import {
    GasBurningPayee,
    RejectingPayee,
    Reenterer,
    ReentrantCreditReceiver,
    ReentrantEthReceiver,
    ReentrantToken
} from "./utils/HostileContracts.sol";

/// @notice Re-entrancy through every external call the marketplace makes (ERC-20 transfers, the
/// ERC-1155 acceptance hook on mint, ETH withdrawals to the caller or to a named recipient) and
/// settlement against hostile payees.
/// @dev Each attacker first gets whatever its replayed call needs to succeed on its own (ETH,
/// credits, a withdrawable balance), and a control test shows those calls do succeed outside a
/// re-entry; so the only thing that can stop them mid-call is the re-entrancy guard.
contract ReentrancyTest is BaseTest {
    uint96 internal constant TOKEN_PRICE = 1e18;

    bytes internal REENTRANT_CALL =
        abi.encodeWithSelector(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector);

    ReentrantToken internal token;
    uint256 internal tokenAgentId;
    uint256 internal tokenCredit;
    uint256 internal ethCredit;

    function setUp() public override {
        super.setUp();
        token = new ReentrantToken(address(marketplace));
        tokenAgentId = _registerAgent(developer, address(token), TOKEN_PRICE);
        tokenCredit = marketplace.creditIdOf(tokenAgentId, TOKEN_PRICE);
        ethCredit = marketplace.creditIdOf(ethAgentId, ETH_PRICE);
    }

    /// @dev Gives an attacker ETH, `credits` ETH-agent credits and `owed` ETH-agent units of
    /// withdrawable ETH (bought then cancelled).
    function _equip(address attacker, uint256 credits, uint256 owed) internal {
        vm.deal(attacker, 1 ether);
        if (credits + owed == 0) return;
        _buy(attacker, ethAgentId, credits + owed);
        if (owed != 0) {
            vm.prank(attacker);
            marketplace.cancel(ethCredit, owed);
        }
    }

    function _assertBlocked(Reenterer attacker) internal view {
        assertEq(attacker.reentries(), 1, "hook did not run");
        assertFalse(attacker.reentrySucceeded(), "re-entry succeeded");
        assertEq(attacker.reentryResult(), REENTRANT_CALL, "re-entry failed for another reason");
        assertFalse(attacker.armed());
    }

    // ================================================================== (1a) malicious ERC-20

    function test_control_attackerCallsSucceedOutsideReentry() public {
        _equip(address(token), 2, 1);
        vm.startPrank(address(token));
        marketplace.purchase{value: ETH_PRICE}(ethAgentId, 1, ETH_PRICE);
        marketplace.requestExecution(ethCredit, INPUT_HASH);
        marketplace.cancel(ethCredit, 1);
        marketplace.withdraw(address(0));
        vm.stopPrank();
        assertEq(marketplace.balanceOf(address(token), ethCredit), 1);
        assertEq(_withdrawable(address(0), address(token)), 0);

        // withdrawTo, to itself and to another account, also works outside a re-entry.
        ReentrantEthReceiver receiver = new ReentrantEthReceiver(address(marketplace));
        _equip(address(receiver), 0, 2);
        vm.prank(address(receiver));
        marketplace.withdrawTo(address(0), payable(address(receiver)));
        _buyAndCancel(address(receiver), ethAgentId, 1);
        vm.prank(address(receiver));
        marketplace.withdrawTo(address(0), payable(stranger));
        assertEq(stranger.balance, ETH_PRICE);
        assertEq(_withdrawable(address(0), address(receiver)), 0);
    }

    function test_erc20_transferFrom_reenteringPurchase_isBlocked() public {
        _equip(address(token), 2, 1);
        uint256 ethHeld = address(marketplace).balance;
        token.arm(abi.encodeCall(marketplace.purchase, (ethAgentId, 1, ETH_PRICE)), ETH_PRICE, false);

        _buy(alice, tokenAgentId, 2);

        _assertBlocked(token);
        assertEq(marketplace.balanceOf(alice, tokenCredit), 2);
        assertEq(token.balanceOf(address(marketplace)), 2 * uint256(TOKEN_PRICE));
        assertEq(token.balanceOf(alice), 0);
        assertEq(marketplace.balanceOf(address(token), ethCredit), 2);
        assertEq(address(marketplace).balance, ethHeld);
    }

    function test_erc20_transferFrom_reenteringRequestExecution_isBlocked() public {
        _equip(address(token), 2, 0);
        token.arm(abi.encodeCall(marketplace.requestExecution, (ethCredit, INPUT_HASH)), 0, false);

        _buy(alice, tokenAgentId, 1);

        _assertBlocked(token);
        assertEq(marketplace.balanceOf(address(token), ethCredit), 2);
        assertEq(marketplace.nextRequestId(), 1);
        assertEq(marketplace.balanceOf(alice, tokenCredit), 1);
    }

    function test_erc20_transferFrom_reenteringCancel_isBlocked() public {
        _equip(address(token), 2, 0);
        token.arm(abi.encodeCall(marketplace.cancel, (ethCredit, 2)), 0, false);

        _buy(alice, tokenAgentId, 1);

        _assertBlocked(token);
        assertEq(marketplace.balanceOf(address(token), ethCredit), 2);
        assertEq(_withdrawable(address(0), address(token)), 0);
    }

    function test_erc20_transfer_reenteringWithdraw_isBlocked() public {
        _equip(address(token), 0, 3);
        _buy(alice, tokenAgentId, 2);
        vm.prank(alice);
        marketplace.cancel(tokenCredit, 2);
        token.arm(abi.encodeCall(marketplace.withdraw, (address(0))), 0, false);

        vm.prank(alice);
        marketplace.withdraw(address(token));

        _assertBlocked(token);
        assertEq(token.balanceOf(alice), 2 * uint256(TOKEN_PRICE));
        assertEq(token.balanceOf(address(marketplace)), 0);
        assertEq(_withdrawable(address(token), alice), 0);
        assertEq(_withdrawable(address(0), address(token)), 3 * uint256(ETH_PRICE));
        assertEq(address(marketplace).balance, 3 * uint256(ETH_PRICE));
    }

    function test_erc20_transfer_reenteringCancel_isBlocked() public {
        _equip(address(token), 2, 0);
        _buy(alice, tokenAgentId, 1);
        vm.prank(alice);
        marketplace.cancel(tokenCredit, 1);
        token.arm(abi.encodeCall(marketplace.cancel, (ethCredit, 1)), 0, false);

        vm.prank(alice);
        marketplace.withdraw(address(token));

        _assertBlocked(token);
        assertEq(token.balanceOf(alice), TOKEN_PRICE);
        assertEq(marketplace.balanceOf(address(token), ethCredit), 2);
    }

    function test_erc20_transfer_reenteringPurchase_isBlocked() public {
        _equip(address(token), 0, 0);
        _buy(alice, tokenAgentId, 1);
        vm.prank(alice);
        marketplace.cancel(tokenCredit, 1);
        token.arm(abi.encodeCall(marketplace.purchase, (ethAgentId, 1, ETH_PRICE)), ETH_PRICE, false);

        vm.prank(alice);
        marketplace.withdraw(address(token));

        _assertBlocked(token);
        assertEq(token.balanceOf(alice), TOKEN_PRICE);
        assertEq(marketplace.balanceOf(address(token), ethCredit), 0);
    }

    function test_erc20_reentryBubbling_revertsPurchase() public {
        _equip(address(token), 0, 0);
        _mintAndApprove(address(token), alice, TOKEN_PRICE);
        token.arm(abi.encodeCall(marketplace.purchase, (ethAgentId, 1, ETH_PRICE)), ETH_PRICE, true);

        vm.prank(alice);
        vm.expectRevert(REENTRANT_CALL);
        marketplace.purchase(tokenAgentId, 1, TOKEN_PRICE);

        assertEq(token.balanceOf(alice), TOKEN_PRICE);
        assertEq(marketplace.balanceOf(alice, tokenCredit), 0);
        assertEq(token.balanceOf(address(marketplace)), 0);
    }

    function test_erc20_reentryBubbling_revertsWithdraw() public {
        _equip(address(token), 0, 1);
        _buy(alice, tokenAgentId, 1);
        vm.prank(alice);
        marketplace.cancel(tokenCredit, 1);
        token.arm(abi.encodeCall(marketplace.withdraw, (address(0))), 0, true);

        vm.prank(alice);
        vm.expectRevert(REENTRANT_CALL);
        marketplace.withdraw(address(token));

        // Nothing moved: alice's balance is still owed and can be withdrawn once the token behaves.
        assertEq(_withdrawable(address(token), alice), TOKEN_PRICE);
        assertEq(token.balanceOf(address(marketplace)), TOKEN_PRICE);
        assertTrue(token.armed()); // the revert rolled the attacker's own state back too
        token.disarm();
        vm.prank(alice);
        marketplace.withdraw(address(token));
        assertEq(token.balanceOf(alice), TOKEN_PRICE);
    }

    function test_erc20_transfer_reenteringWithdrawTo_isBlocked() public {
        // The token is owed ETH; alice's token withdrawal to bob hands it control mid-transfer.
        _equip(address(token), 0, 2);
        _buy(alice, tokenAgentId, 1);
        vm.prank(alice);
        marketplace.cancel(tokenCredit, 1);
        token.arm(abi.encodeCall(marketplace.withdrawTo, (address(0), payable(address(token)))), 0, false);

        vm.expectEmit(true, true, true, true, address(marketplace));
        emit IAgentMarketplace.Withdrawn(alice, address(token), bob, TOKEN_PRICE);
        vm.prank(alice);
        marketplace.withdrawTo(address(token), payable(bob));

        _assertBlocked(token);
        assertEq(token.balanceOf(bob), TOKEN_PRICE);
        assertEq(token.balanceOf(alice), 0);
        assertEq(_withdrawable(address(token), alice), 0);
        assertEq(_withdrawable(address(0), address(token)), 2 * uint256(ETH_PRICE));
        assertEq(address(marketplace).balance, 2 * uint256(ETH_PRICE));
    }

    function test_erc20_transferFrom_reenteringWithdrawTo_isBlocked() public {
        _equip(address(token), 0, 1);
        token.arm(abi.encodeCall(marketplace.withdrawTo, (address(0), payable(stranger))), 0, false);

        _buy(alice, tokenAgentId, 1);

        _assertBlocked(token);
        assertEq(stranger.balance, 0);
        assertEq(_withdrawable(address(0), address(token)), ETH_PRICE);
        assertEq(marketplace.balanceOf(alice, tokenCredit), 1);
    }

    function test_erc20_reentryBubbling_revertsWithdrawTo() public {
        _equip(address(token), 0, 1);
        _buy(alice, tokenAgentId, 1);
        vm.prank(alice);
        marketplace.cancel(tokenCredit, 1);
        token.arm(abi.encodeCall(marketplace.withdrawTo, (address(0), payable(stranger))), 0, true);

        vm.prank(alice);
        vm.expectRevert(REENTRANT_CALL);
        marketplace.withdrawTo(address(token), payable(bob));

        assertEq(_withdrawable(address(token), alice), TOKEN_PRICE);
        assertEq(_withdrawable(address(0), address(token)), ETH_PRICE);
        assertEq(token.balanceOf(bob), 0);
        assertEq(stranger.balance, 0);
    }

    // ================================================================== (1b) malicious ERC-1155 receiver

    function test_erc1155Receiver_reenteringPurchase_isBlocked() public {
        ReentrantCreditReceiver receiver = new ReentrantCreditReceiver(address(marketplace));
        vm.deal(address(receiver), 1 ether);
        receiver.arm(abi.encodeCall(marketplace.purchase, (ethAgentId, 1, ETH_PRICE)), ETH_PRICE, false);

        vm.prank(address(receiver));
        marketplace.purchase{value: 2 * uint256(ETH_PRICE)}(ethAgentId, 2, ETH_PRICE);

        _assertBlocked(receiver);
        assertEq(marketplace.balanceOf(address(receiver), ethCredit), 2);
        assertEq(address(marketplace).balance, 2 * uint256(ETH_PRICE));
        assertEq(address(receiver).balance, 1 ether - 2 * uint256(ETH_PRICE));
    }

    function test_erc1155Receiver_reenteringRequestExecution_isBlocked() public {
        ReentrantCreditReceiver receiver = new ReentrantCreditReceiver(address(marketplace));
        _equip(address(receiver), 1, 0);
        // Even the credit being minted right now is already in the receiver's balance.
        receiver.arm(abi.encodeCall(marketplace.requestExecution, (ethCredit, INPUT_HASH)), 0, false);

        vm.prank(address(receiver));
        marketplace.purchase{value: ETH_PRICE}(ethAgentId, 1, ETH_PRICE);

        _assertBlocked(receiver);
        assertEq(marketplace.balanceOf(address(receiver), ethCredit), 2);
        assertEq(marketplace.nextRequestId(), 1);
        assertFalse(marketplace.isOpen(1));
    }

    function test_erc1155Receiver_reenteringCancel_isBlocked() public {
        ReentrantCreditReceiver receiver = new ReentrantCreditReceiver(address(marketplace));
        vm.deal(address(receiver), 1 ether);
        receiver.arm(abi.encodeCall(marketplace.cancel, (ethCredit, 3)), 0, false);

        vm.prank(address(receiver));
        marketplace.purchase{value: 3 * uint256(ETH_PRICE)}(ethAgentId, 3, ETH_PRICE);

        _assertBlocked(receiver);
        assertEq(marketplace.balanceOf(address(receiver), ethCredit), 3);
        assertEq(_withdrawable(address(0), address(receiver)), 0);
    }

    function test_erc1155Receiver_reenteringWithdraw_isBlocked() public {
        ReentrantCreditReceiver receiver = new ReentrantCreditReceiver(address(marketplace));
        _equip(address(receiver), 0, 2);
        receiver.arm(abi.encodeCall(marketplace.withdraw, (address(0))), 0, false);

        vm.prank(address(receiver));
        marketplace.purchase{value: ETH_PRICE}(ethAgentId, 1, ETH_PRICE);

        _assertBlocked(receiver);
        assertEq(_withdrawable(address(0), address(receiver)), 2 * uint256(ETH_PRICE));
    }

    function test_erc1155Receiver_reenteringWithdrawTo_isBlocked() public {
        ReentrantCreditReceiver receiver = new ReentrantCreditReceiver(address(marketplace));
        _equip(address(receiver), 0, 2);
        receiver.arm(abi.encodeCall(marketplace.withdrawTo, (address(0), payable(stranger))), 0, false);

        vm.prank(address(receiver));
        marketplace.purchase{value: ETH_PRICE}(ethAgentId, 1, ETH_PRICE);

        _assertBlocked(receiver);
        assertEq(stranger.balance, 0);
        assertEq(_withdrawable(address(0), address(receiver)), 2 * uint256(ETH_PRICE));
        assertEq(marketplace.balanceOf(address(receiver), ethCredit), 1);
    }

    function test_erc1155Receiver_reentryBubbling_revertsPurchase() public {
        ReentrantCreditReceiver receiver = new ReentrantCreditReceiver(address(marketplace));
        vm.deal(address(receiver), 1 ether);
        receiver.arm(abi.encodeCall(marketplace.purchase, (ethAgentId, 1, ETH_PRICE)), ETH_PRICE, true);

        vm.prank(address(receiver));
        vm.expectRevert(REENTRANT_CALL);
        marketplace.purchase{value: ETH_PRICE}(ethAgentId, 1, ETH_PRICE);

        assertEq(marketplace.balanceOf(address(receiver), ethCredit), 0);
        assertEq(address(marketplace).balance, 0);
        assertEq(address(receiver).balance, 1 ether);
    }

    function test_erc1155Receiver_reenteringUsdcPurchase_isBlocked() public {
        ReentrantCreditReceiver receiver = new ReentrantCreditReceiver(address(marketplace));
        vm.deal(address(receiver), 1 ether);
        receiver.arm(abi.encodeCall(marketplace.purchase, (ethAgentId, 1, ETH_PRICE)), ETH_PRICE, false);

        uint256 usdcCredit = _buy(address(receiver), usdcAgentId, 1);

        _assertBlocked(receiver);
        assertEq(marketplace.balanceOf(address(receiver), usdcCredit), 1);
        assertEq(marketplace.balanceOf(address(receiver), ethCredit), 0);
        assertEq(usdc.balanceOf(address(marketplace)), USDC_PRICE);
    }

    // ================================================================== (2) malicious ETH receiver

    function test_ethReceiver_reenteringWithdraw_isBlocked() public {
        ReentrantEthReceiver receiver = new ReentrantEthReceiver(address(marketplace));
        _equip(address(receiver), 1, 2);
        uint256 balanceBefore = address(receiver).balance;
        receiver.arm(abi.encodeCall(marketplace.withdraw, (address(0))), 0, false);

        vm.prank(address(receiver));
        marketplace.withdraw(address(0));

        _assertBlocked(receiver);
        // Paid exactly once.
        assertEq(address(receiver).balance, balanceBefore + 2 * uint256(ETH_PRICE));
        assertEq(_withdrawable(address(0), address(receiver)), 0);
        assertEq(address(marketplace).balance, ETH_PRICE); // the one unspent credit
    }

    function test_ethReceiver_reenteringWithdrawOfAnotherToken_isBlocked() public {
        ReentrantEthReceiver receiver = new ReentrantEthReceiver(address(marketplace));
        _equip(address(receiver), 0, 1);
        uint256 usdcCredit = _buy(address(receiver), usdcAgentId, 1);
        vm.prank(address(receiver));
        marketplace.cancel(usdcCredit, 1);
        receiver.arm(abi.encodeCall(marketplace.withdraw, (address(usdc))), 0, false);

        vm.prank(address(receiver));
        marketplace.withdraw(address(0));

        _assertBlocked(receiver);
        assertEq(_withdrawable(address(0), address(receiver)), 0);
        assertEq(_withdrawable(address(usdc), address(receiver)), USDC_PRICE);
        assertEq(usdc.balanceOf(address(receiver)), 0);

        // Outside the re-entry the USDC withdrawal works.
        vm.prank(address(receiver));
        marketplace.withdraw(address(usdc));
        assertEq(usdc.balanceOf(address(receiver)), USDC_PRICE);
    }

    function test_ethReceiver_reenteringCancel_isBlocked() public {
        ReentrantEthReceiver receiver = new ReentrantEthReceiver(address(marketplace));
        _equip(address(receiver), 2, 1);
        receiver.arm(abi.encodeCall(marketplace.cancel, (ethCredit, 2)), 0, false);

        vm.prank(address(receiver));
        marketplace.withdraw(address(0));

        _assertBlocked(receiver);
        assertEq(marketplace.balanceOf(address(receiver), ethCredit), 2);
        assertEq(_withdrawable(address(0), address(receiver)), 0);
    }

    function test_ethReceiver_reentryBubbling_failsWithdrawAndKeepsBalance() public {
        ReentrantEthReceiver receiver = new ReentrantEthReceiver(address(marketplace));
        _equip(address(receiver), 0, 2);
        uint256 amount = 2 * uint256(ETH_PRICE);
        receiver.arm(abi.encodeCall(marketplace.withdraw, (address(0))), 0, true);

        vm.prank(address(receiver));
        vm.expectRevert(
            abi.encodeWithSelector(IAgentMarketplace.EthTransferFailed.selector, address(receiver), amount)
        );
        marketplace.withdraw(address(0));

        assertEq(_withdrawable(address(0), address(receiver)), amount);
        assertEq(address(marketplace).balance, amount);
    }

    function test_ethReceiver_reenteringWithdrawTo_isBlocked() public {
        ReentrantEthReceiver receiver = new ReentrantEthReceiver(address(marketplace));
        _equip(address(receiver), 0, 2);
        uint256 balanceBefore = address(receiver).balance;
        // Withdrawing to itself, it tries to send the same balance on to a second account.
        receiver.arm(abi.encodeCall(marketplace.withdrawTo, (address(0), payable(stranger))), 0, false);

        vm.prank(address(receiver));
        marketplace.withdrawTo(address(0), payable(address(receiver)));

        _assertBlocked(receiver);
        assertEq(address(receiver).balance, balanceBefore + 2 * uint256(ETH_PRICE));
        assertEq(stranger.balance, 0);
        assertEq(_withdrawable(address(0), address(receiver)), 0);
        assertEq(address(marketplace).balance, 0);
    }

    function test_ethReceiver_asWithdrawToRecipient_reenteringIsBlocked() public {
        // A third-party recipient re-enters while alice's ETH is in flight to it: neither its own
        // balance nor alice's can be taken twice.
        ReentrantEthReceiver receiver = new ReentrantEthReceiver(address(marketplace));
        _equip(address(receiver), 0, 1);
        uint256 aliceOwed = _buyAndCancel(alice, ethAgentId, 3);
        uint256 balanceBefore = address(receiver).balance;
        receiver.arm(
            abi.encodeCall(marketplace.withdrawTo, (address(0), payable(address(receiver)))), 0, false
        );

        vm.expectEmit(true, true, true, true, address(marketplace));
        emit IAgentMarketplace.Withdrawn(alice, address(0), address(receiver), aliceOwed);
        vm.prank(alice);
        marketplace.withdrawTo(address(0), payable(address(receiver)));

        _assertBlocked(receiver);
        assertEq(address(receiver).balance, balanceBefore + aliceOwed);
        assertEq(_withdrawable(address(0), alice), 0);
        assertEq(_withdrawable(address(0), address(receiver)), ETH_PRICE);
        assertEq(address(marketplace).balance, ETH_PRICE);

        // Its own balance is still there, once.
        vm.prank(address(receiver));
        marketplace.withdraw(address(0));
        assertEq(address(receiver).balance, balanceBefore + aliceOwed + ETH_PRICE);
        assertEq(address(marketplace).balance, 0);
    }

    function test_ethReceiver_asWithdrawToRecipient_reentryBubbling_keepsSendersBalance() public {
        ReentrantEthReceiver receiver = new ReentrantEthReceiver(address(marketplace));
        _equip(address(receiver), 0, 1);
        uint256 aliceOwed = _buyAndCancel(alice, ethAgentId, 2);
        receiver.arm(abi.encodeCall(marketplace.withdraw, (address(0))), 0, true);

        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(IAgentMarketplace.EthTransferFailed.selector, address(receiver), aliceOwed)
        );
        marketplace.withdrawTo(address(0), payable(address(receiver)));

        assertEq(_withdrawable(address(0), alice), aliceOwed);
        assertEq(_withdrawable(address(0), address(receiver)), ETH_PRICE);
        assertEq(address(marketplace).balance, aliceOwed + ETH_PRICE);
        // Alice names another recipient.
        vm.prank(alice);
        marketplace.withdrawTo(address(0), payable(bob));
        assertEq(bob.balance, aliceOwed);
    }

    function test_ethReceiver_readsBalanceAlreadyDebitedDuringWithdraw() public {
        // Read-only re-entrancy: views are not guarded, so the debit must be written before the ETH
        // leaves. A payee reading its balance from inside `receive` sees it already withdrawn.
        ReentrantEthReceiver receiver = new ReentrantEthReceiver(address(marketplace));
        _equip(address(receiver), 0, 2);
        receiver.arm(abi.encodeCall(marketplace.withdrawable, (address(0), address(receiver))), 0, false);

        vm.prank(address(receiver));
        marketplace.withdraw(address(0));

        assertEq(receiver.reentries(), 1);
        assertTrue(receiver.reentrySucceeded());
        assertEq(receiver.reentryResult(), abi.encode(uint256(0)));
    }

    function test_ethReceiver_readsSendersBalanceAlreadyDebitedDuringWithdrawTo() public {
        ReentrantEthReceiver receiver = new ReentrantEthReceiver(address(marketplace));
        _buyAndCancel(alice, ethAgentId, 2);
        receiver.arm(abi.encodeCall(marketplace.withdrawable, (address(0), alice)), 0, false);

        vm.prank(alice);
        marketplace.withdrawTo(address(0), payable(address(receiver)));

        assertEq(receiver.reentries(), 1);
        assertTrue(receiver.reentrySucceeded());
        assertEq(receiver.reentryResult(), abi.encode(uint256(0)));
        assertEq(address(receiver).balance, 2 * uint256(ETH_PRICE));
    }

    // ================================================================== (3) settling against hostile payees

    function test_settle_succeedsWhenDeveloperRejectsEth() public {
        RejectingPayee payee = new RejectingPayee();
        uint256 agentId = _registerAgent(address(payee), address(0), ETH_PRICE);
        (uint256 id, IAgentMarketplace.Execution memory ex) = _buyAndRequest(alice, agentId);
        uint256 fee = _fee(ETH_PRICE);

        vm.expectEmit(true, true, true, true, address(marketplace));
        emit IAgentMarketplace.ExecutionSettled(
            id, true, OUTPUT_HASH, address(payee), address(0), ETH_PRICE - fee, fee
        );
        _settle(id, ex, true);
        assertFalse(marketplace.isOpen(id));

        // Only the hostile payee's own withdrawal fails...
        vm.prank(address(payee));
        vm.expectRevert(
            abi.encodeWithSelector(
                IAgentMarketplace.EthTransferFailed.selector, address(payee), ETH_PRICE - fee
            )
        );
        marketplace.withdraw(address(0));
        assertEq(_withdrawable(address(0), address(payee)), ETH_PRICE - fee);

        // ...everyone else is paid.
        vm.prank(treasury);
        marketplace.withdraw(address(0));
        assertEq(treasury.balance, fee);
        (uint256 id2, IAgentMarketplace.Execution memory ex2) = _buyAndRequest(alice, agentId);
        _settle(id2, ex2, false);
        vm.prank(alice);
        marketplace.withdraw(address(0));
        assertEq(alice.balance, ETH_PRICE);
    }

    function test_settle_succeedsWhenDeveloperBurnsAllGas() public {
        GasBurningPayee payee = new GasBurningPayee();
        uint256 agentId = _registerAgent(address(payee), address(0), ETH_PRICE);
        (uint256 id, IAgentMarketplace.Execution memory ex) = _buyAndRequest(alice, agentId);
        uint256 payout = ETH_PRICE - _fee(ETH_PRICE);

        _settle(id, ex, true);
        Vm.Gas memory gas = vm.lastCallGas();
        // Settlement never calls the payee: its cost does not depend on what the payee does.
        assertLt(gas.gasTotalUsed, 100_000);
        assertEq(_withdrawable(address(0), address(payee)), payout);

        // The burner's own withdrawal runs out of gas inside its receive() and fails cleanly.
        vm.prank(address(payee));
        vm.expectRevert(
            abi.encodeWithSelector(IAgentMarketplace.EthTransferFailed.selector, address(payee), payout)
        );
        marketplace.withdraw{gas: 2_000_000}(address(0));
        assertEq(_withdrawable(address(0), address(payee)), payout);

        vm.prank(treasury);
        marketplace.withdraw(address(0));
        assertEq(treasury.balance, _fee(ETH_PRICE));

        // The burner can still be paid to an account that takes ETH.
        vm.prank(address(payee));
        marketplace.withdrawTo(address(0), payable(stranger));
        assertEq(stranger.balance, payout);
        assertEq(_withdrawable(address(0), address(payee)), 0);
        assertEq(address(marketplace).balance, 0);
    }

    function test_settleFailure_and_reclaim_succeedWhenRequesterRejectsEth() public {
        RejectingPayee requester = new RejectingPayee();
        (uint256 id1, IAgentMarketplace.Execution memory ex1) = _buyAndRequest(address(requester), ethAgentId);
        (uint256 id2, IAgentMarketplace.Execution memory ex2) = _buyAndRequest(address(requester), ethAgentId);

        _settle(id1, ex1, false);
        vm.warp(uint256(ex2.deadline) + 1);
        vm.prank(address(requester));
        marketplace.reclaim(id2, ex2);

        assertEq(_withdrawable(address(0), address(requester)), 2 * uint256(ETH_PRICE));
        assertFalse(marketplace.isOpen(id1));
        assertFalse(marketplace.isOpen(id2));
        vm.prank(address(requester));
        vm.expectRevert(
            abi.encodeWithSelector(
                IAgentMarketplace.EthTransferFailed.selector, address(requester), 2 * uint256(ETH_PRICE)
            )
        );
        marketplace.withdraw(address(0));

        // Its refunds are not stuck: withdrawTo sends them to an account that takes ETH.
        vm.prank(address(requester));
        marketplace.withdrawTo(address(0), payable(stranger));
        assertEq(stranger.balance, 2 * uint256(ETH_PRICE));
        assertEq(address(marketplace).balance, 0);
    }
}
