// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Vm} from "forge-std/Vm.sol";

import {IAgentMarketplace} from "../../contracts/interfaces/IAgentMarketplace.sol";
import {RejectingPayee} from "../utils/HostileContracts.sol";
import {MarketplaceTestBase} from "./MarketplaceTestBase.sol";

/// @dev AgentMarketplace: withdraw and withdrawTo over the running-total balances.
contract MarketplaceWithdrawTest is MarketplaceTestBase {
    // ================================================================== withdraw

    function test_withdraw_eth() public {
        _buy(alice, ethAgentId, 3);
        vm.prank(alice);
        marketplace.cancel(ethCredit, 3);
        uint256 amount = uint256(ETH_PRICE) * 3;

        vm.expectEmit(true, true, true, true, address(marketplace));
        emit IAgentMarketplace.Withdrawn(alice, address(0), alice, amount);
        vm.prank(alice);
        marketplace.withdraw(address(0));

        assertEq(alice.balance, amount);
        assertEq(_withdrawable(address(0), alice), 0);
        assertEq(address(marketplace).balance, 0);
    }

    function test_withdraw_usdc() public {
        _buy(bob, usdcAgentId, 2);
        vm.prank(bob);
        marketplace.cancel(usdcCredit, 1);

        vm.expectEmit(true, true, true, true, address(marketplace));
        emit IAgentMarketplace.Withdrawn(bob, address(usdc), bob, USDC_PRICE);
        vm.prank(bob);
        marketplace.withdraw(address(usdc));

        assertEq(usdc.balanceOf(bob), USDC_PRICE);
        assertEq(_withdrawable(address(usdc), bob), 0);
        assertEq(usdc.balanceOf(address(marketplace)), USDC_PRICE);
    }

    function test_withdraw_developerAndTreasuryAfterSettlement() public {
        (uint256 id, IAgentMarketplace.Execution memory ex) = _buyAndRequest(alice, ethAgentId);
        _settle(id, ex, true);
        uint256 fee = _fee(ETH_PRICE);
        vm.prank(developer);
        marketplace.withdraw(address(0));
        vm.prank(treasury);
        marketplace.withdraw(address(0));
        assertEq(developer.balance, ETH_PRICE - fee);
        assertEq(treasury.balance, fee);
        assertEq(address(marketplace).balance, 0);
    }

    function test_withdraw_revertsWhen_nothingToWithdraw() public {
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(IAgentMarketplace.NothingToWithdraw.selector, alice, address(0))
        );
        marketplace.withdraw(address(0));
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(IAgentMarketplace.NothingToWithdraw.selector, alice, address(usdc))
        );
        marketplace.withdraw(address(usdc));
    }

    function test_withdraw_revertsWhen_withdrawnTwice() public {
        _buy(alice, ethAgentId, 1);
        vm.startPrank(alice);
        marketplace.cancel(ethCredit, 1);
        marketplace.withdraw(address(0));
        vm.expectRevert(
            abi.encodeWithSelector(IAgentMarketplace.NothingToWithdraw.selector, alice, address(0))
        );
        marketplace.withdraw(address(0));
        vm.stopPrank();
        assertEq(alice.balance, ETH_PRICE);
    }

    function test_withdraw_balancesAreSeparatePerToken() public {
        _buy(alice, ethAgentId, 1);
        vm.prank(alice);
        marketplace.cancel(ethCredit, 1);
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(IAgentMarketplace.NothingToWithdraw.selector, alice, address(usdc))
        );
        marketplace.withdraw(address(usdc));
        assertEq(_withdrawable(address(0), alice), ETH_PRICE);
    }

    function test_withdraw_revertsWhen_receiverRejectsEth() public {
        RejectingPayee payee = new RejectingPayee();
        _buy(address(payee), ethAgentId, 2);
        vm.prank(address(payee));
        marketplace.cancel(ethCredit, 2);
        uint256 amount = uint256(ETH_PRICE) * 2;

        vm.prank(address(payee));
        vm.expectRevert(
            abi.encodeWithSelector(IAgentMarketplace.EthTransferFailed.selector, address(payee), amount)
        );
        marketplace.withdraw(address(0));
        // Nothing was lost: the balance is still there for a later attempt.
        assertEq(_withdrawable(address(0), address(payee)), amount);
        assertEq(address(marketplace).balance, amount);
    }

    function test_withdrawn_eventLayout() public {
        uint256 amount = _buyAndCancel(alice, usdcAgentId, 2);
        assertEq(
            IAgentMarketplace.Withdrawn.selector, keccak256("Withdrawn(address,address,address,uint256)")
        );

        vm.recordLogs();
        vm.prank(alice);
        marketplace.withdrawTo(address(usdc), payable(bob));
        Vm.Log[] memory logs = vm.getRecordedLogs();

        // Withdrawn, then the token's Transfer.
        assertEq(logs.length, 2);
        assertEq(logs[0].emitter, address(marketplace));
        assertEq(logs[0].topics.length, 3);
        assertEq(logs[0].topics[0], IAgentMarketplace.Withdrawn.selector);
        assertEq(logs[0].topics[1], bytes32(uint256(uint160(alice))));
        assertEq(logs[0].topics[2], bytes32(uint256(uint160(address(usdc)))));
        assertEq(logs[0].data, abi.encode(bob, amount));
        assertEq(logs[1].emitter, address(usdc));
    }

    // ================================================================== running totals

    function test_withdraw_thenSettleAgain_creditsOnRunningTotals() public {
        uint256 fee = _fee(ETH_PRICE);
        uint256 payout = ETH_PRICE - fee;
        (uint256 id, IAgentMarketplace.Execution memory ex) = _buyAndRequest(alice, ethAgentId);
        _settle(id, ex, true);
        vm.prank(developer);
        marketplace.withdraw(address(0));
        vm.prank(treasury);
        marketplace.withdraw(address(0));
        assertEq(_withdrawable(address(0), developer), 0);
        assertEq(_withdrawable(address(0), treasury), 0);

        // A settlement after the withdrawal owes exactly the new amounts: nothing twice, nothing lost.
        (id, ex) = _buyAndRequest(alice, ethAgentId);
        _settle(id, ex, true);
        assertEq(_withdrawable(address(0), developer), payout);
        assertEq(_withdrawable(address(0), treasury), fee);

        // And accumulates with a third one before the next withdrawal.
        (id, ex) = _buyAndRequest(alice, ethAgentId);
        _settle(id, ex, true);
        assertEq(_withdrawable(address(0), developer), 2 * payout);
        assertEq(_withdrawable(address(0), treasury), 2 * fee);

        vm.expectEmit(true, true, true, true, address(marketplace));
        emit IAgentMarketplace.Withdrawn(developer, address(0), developer, 2 * payout);
        vm.prank(developer);
        marketplace.withdraw(address(0));
        vm.prank(treasury);
        marketplace.withdraw(address(0));

        assertEq(developer.balance, 3 * payout);
        assertEq(treasury.balance, 3 * fee);
        assertEq(address(marketplace).balance, 0);
        vm.prank(developer);
        vm.expectRevert(
            abi.encodeWithSelector(IAgentMarketplace.NothingToWithdraw.selector, developer, address(0))
        );
        marketplace.withdraw(address(0));
    }

    function test_withdraw_thenRefundAndCancel_creditRequester() public {
        uint256 first = _buyAndCancel(bob, usdcAgentId, 2);
        vm.prank(bob);
        marketplace.withdraw(address(usdc));

        (uint256 id, IAgentMarketplace.Execution memory ex) = _buyAndRequest(bob, usdcAgentId);
        _settle(id, ex, false);
        assertEq(_withdrawable(address(usdc), bob), USDC_PRICE);
        uint256 third = _buyAndCancel(bob, usdcAgentId, 3);
        assertEq(_withdrawable(address(usdc), bob), USDC_PRICE + third);

        vm.prank(bob);
        marketplace.withdrawTo(address(usdc), payable(alice));
        assertEq(usdc.balanceOf(bob), first);
        assertEq(usdc.balanceOf(alice), USDC_PRICE + third);
        assertEq(usdc.balanceOf(address(marketplace)), 0);
    }

    /// @dev The balance slot packs credited (low 128 bits) and withdrawn (high 128 bits); a withdrawal
    /// sets withdrawn to credited instead of clearing the slot, so it never returns to zero.
    function test_withdraw_keepsBalanceSlotAsRunningTotals() public {
        uint256 payout = ETH_PRICE - _fee(ETH_PRICE);
        (uint256 id, IAgentMarketplace.Execution memory ex) = _buyAndRequest(alice, ethAgentId);
        _settle(id, ex, true);

        vm.record();
        vm.prank(developer);
        marketplace.withdraw(address(0));
        bytes32 slot = _onlyWrittenSlot();
        _assertTotals(slot, payout, payout);

        (id, ex) = _buyAndRequest(alice, ethAgentId);
        _settle(id, ex, true);
        _assertTotals(slot, 2 * payout, payout);
        assertEq(_withdrawable(address(0), developer), payout);

        vm.prank(developer);
        marketplace.withdraw(address(0));
        _assertTotals(slot, 2 * payout, 2 * payout);
    }

    /// @dev The one storage slot of the marketplace written since `vm.record()`.
    function _onlyWrittenSlot() internal returns (bytes32 slot) {
        (, bytes32[] memory writes) = vm.accesses(address(marketplace));
        assertGt(writes.length, 0);
        slot = writes[0];
        for (uint256 i = 1; i < writes.length; ++i) {
            assertEq(writes[i], slot, "withdraw wrote more than one slot");
        }
    }

    function _assertTotals(bytes32 slot, uint256 credited, uint256 withdrawn) internal view {
        uint256 word = uint256(vm.load(address(marketplace), slot));
        assertEq(word & type(uint128).max, credited, "credited");
        assertEq(word >> 128, withdrawn, "withdrawn");
    }

    /// @dev Any interleaving of credits and withdrawals: withdrawable is always credited - withdrawn,
    /// and the account is paid exactly what it was credited.
    function testFuzz_withdraw_runningTotals(
        uint8[6] memory units,
        bool[6] memory withdrawAfter,
        bool useWithdrawTo
    ) public {
        uint256 credited;
        uint256 paid;
        for (uint256 i; i < units.length; ++i) {
            uint256 n = bound(units[i], 0, 20);
            if (n != 0) credited += _buyAndCancel(alice, usdcAgentId, n);
            assertEq(_withdrawable(address(usdc), alice), credited - paid);
            if (withdrawAfter[i]) {
                vm.prank(alice);
                if (credited == paid) {
                    vm.expectRevert(
                        abi.encodeWithSelector(
                            IAgentMarketplace.NothingToWithdraw.selector, alice, address(usdc)
                        )
                    );
                }
                if (useWithdrawTo) marketplace.withdrawTo(address(usdc), payable(bob));
                else marketplace.withdraw(address(usdc));
                paid = credited;
            }
            assertEq(_withdrawable(address(usdc), alice), credited - paid);
        }
        assertEq(usdc.balanceOf(useWithdrawTo ? bob : alice), paid);
        assertEq(usdc.balanceOf(address(marketplace)), credited - paid);
    }

    // ================================================================== withdrawTo

    function test_withdrawTo_eth() public {
        uint256 amount = _buyAndCancel(alice, ethAgentId, 3);
        address payable recipient = payable(makeAddr("coldWallet"));

        vm.expectEmit(true, true, true, true, address(marketplace));
        emit IAgentMarketplace.Withdrawn(alice, address(0), recipient, amount);
        vm.prank(alice);
        marketplace.withdrawTo(address(0), recipient);

        assertEq(recipient.balance, amount);
        assertEq(alice.balance, 0);
        assertEq(_withdrawable(address(0), alice), 0);
        assertEq(_withdrawable(address(0), recipient), 0);
        assertEq(address(marketplace).balance, 0);

        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(IAgentMarketplace.NothingToWithdraw.selector, alice, address(0))
        );
        marketplace.withdrawTo(address(0), recipient);
    }

    function test_withdrawTo_usdc() public {
        (uint256 id, IAgentMarketplace.Execution memory ex) = _buyAndRequest(bob, usdcAgentId);
        _settle(id, ex, true);
        uint256 payout = USDC_PRICE - _fee(USDC_PRICE);
        address payable recipient = payable(makeAddr("coldWallet"));

        vm.expectEmit(true, true, true, true, address(marketplace));
        emit IAgentMarketplace.Withdrawn(developer, address(usdc), recipient, payout);
        vm.expectEmit(true, true, true, true, address(usdc));
        emit IERC20.Transfer(address(marketplace), recipient, payout);
        vm.prank(developer);
        marketplace.withdrawTo(address(usdc), recipient);

        assertEq(usdc.balanceOf(recipient), payout);
        assertEq(usdc.balanceOf(developer), 0);
        assertEq(_withdrawable(address(usdc), developer), 0);
        assertEq(usdc.balanceOf(address(marketplace)), _fee(USDC_PRICE));
    }

    function test_withdrawTo_selfIsWithdraw() public {
        uint256 amount = _buyAndCancel(alice, ethAgentId, 1);
        vm.expectEmit(true, true, true, true, address(marketplace));
        emit IAgentMarketplace.Withdrawn(alice, address(0), alice, amount);
        vm.prank(alice);
        marketplace.withdrawTo(address(0), payable(alice));
        assertEq(alice.balance, amount);
    }

    function test_withdrawTo_paysOnlyTheCallersBalance() public {
        uint256 aliceOwed = _buyAndCancel(alice, ethAgentId, 1);
        uint256 bobOwed = _buyAndCancel(bob, ethAgentId, 4);

        vm.prank(alice);
        marketplace.withdrawTo(address(0), payable(bob));
        assertEq(bob.balance, aliceOwed);
        assertEq(_withdrawable(address(0), alice), 0);
        assertEq(_withdrawable(address(0), bob), bobOwed);

        vm.prank(bob);
        marketplace.withdraw(address(0));
        assertEq(bob.balance, aliceOwed + bobOwed);
        assertEq(address(marketplace).balance, 0);
    }

    function test_withdrawTo_revertsWhen_zeroRecipient() public {
        vm.prank(alice);
        vm.expectRevert(IAgentMarketplace.InvalidRecipient.selector);
        marketplace.withdrawTo(address(0), payable(address(0)));

        uint256 ethOwed = _buyAndCancel(alice, ethAgentId, 2);
        uint256 usdcOwed = _buyAndCancel(alice, usdcAgentId, 2);
        vm.startPrank(alice);
        vm.expectRevert(IAgentMarketplace.InvalidRecipient.selector);
        marketplace.withdrawTo(address(0), payable(address(0)));
        vm.expectRevert(IAgentMarketplace.InvalidRecipient.selector);
        marketplace.withdrawTo(address(usdc), payable(address(0)));
        vm.stopPrank();

        assertEq(_withdrawable(address(0), alice), ethOwed);
        assertEq(_withdrawable(address(usdc), alice), usdcOwed);
        assertEq(address(0).balance, 0);
        assertEq(usdc.balanceOf(address(0)), 0);
    }

    function test_withdrawTo_revertsWhen_recipientIsMarketplace() public {
        // Paid to the marketplace, the funds would be held but owed to no one.
        uint256 ethOwed = _buyAndCancel(alice, ethAgentId, 2);
        uint256 usdcOwed = _buyAndCancel(alice, usdcAgentId, 2);
        vm.startPrank(alice);
        vm.expectRevert(IAgentMarketplace.InvalidRecipient.selector);
        marketplace.withdrawTo(address(0), payable(address(marketplace)));
        vm.expectRevert(IAgentMarketplace.InvalidRecipient.selector);
        marketplace.withdrawTo(address(usdc), payable(address(marketplace)));
        vm.stopPrank();

        assertEq(_withdrawable(address(0), alice), ethOwed);
        assertEq(_withdrawable(address(usdc), alice), usdcOwed);
        assertEq(address(marketplace).balance, ethOwed);
        assertEq(usdc.balanceOf(address(marketplace)), usdcOwed);
    }

    function test_withdrawTo_revertsWhen_nothingToWithdraw() public {
        _buyAndCancel(bob, ethAgentId, 1); // someone else's balance is not the caller's
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(IAgentMarketplace.NothingToWithdraw.selector, alice, address(0))
        );
        marketplace.withdrawTo(address(0), payable(bob));
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(IAgentMarketplace.NothingToWithdraw.selector, alice, address(usdc))
        );
        marketplace.withdrawTo(address(usdc), payable(bob));
    }

    function test_withdrawTo_payeeRejectingEthWithdrawsToEoa() public {
        RejectingPayee payee = new RejectingPayee();
        uint256 agentId = _registerAgent(address(payee), address(0), ETH_PRICE);
        (uint256 id, IAgentMarketplace.Execution memory ex) = _buyAndRequest(alice, agentId);
        _settle(id, ex, true);
        uint256 payout = ETH_PRICE - _fee(ETH_PRICE);
        address payable eoa = payable(makeAddr("payeeOwner"));

        // withdraw() sends to the payee itself, which refuses ETH...
        vm.prank(address(payee));
        vm.expectRevert(
            abi.encodeWithSelector(IAgentMarketplace.EthTransferFailed.selector, address(payee), payout)
        );
        marketplace.withdraw(address(0));

        // ...withdrawTo() lets it name an account that can take it.
        vm.expectEmit(true, true, true, true, address(marketplace));
        emit IAgentMarketplace.Withdrawn(address(payee), address(0), eoa, payout);
        vm.prank(address(payee));
        marketplace.withdrawTo(address(0), eoa);

        assertEq(eoa.balance, payout);
        assertEq(address(payee).balance, 0);
        assertEq(_withdrawable(address(0), address(payee)), 0);
        assertEq(address(marketplace).balance, _fee(ETH_PRICE));
    }

    function test_withdrawTo_revertsWhen_recipientRejectsEth() public {
        RejectingPayee rejecting = new RejectingPayee();
        uint256 amount = _buyAndCancel(alice, ethAgentId, 2);

        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(IAgentMarketplace.EthTransferFailed.selector, address(rejecting), amount)
        );
        marketplace.withdrawTo(address(0), payable(address(rejecting)));

        // Nothing was lost: the balance is still there for another recipient.
        assertEq(_withdrawable(address(0), alice), amount);
        assertEq(address(marketplace).balance, amount);
        vm.prank(alice);
        marketplace.withdrawTo(address(0), payable(bob));
        assertEq(bob.balance, amount);
    }

    function testFuzz_withdrawTo_eth(address payable to, uint256 units) public {
        vm.assume(to != address(0) && to != alice && to != address(marketplace));
        assumeNotPrecompile(to);
        assumeNotForgeAddress(to);
        assumePayable(to);
        units = bound(units, 1, 1_000);
        uint256 amount = _buyAndCancel(alice, ethAgentId, units);
        uint256 before = to.balance;

        vm.prank(alice);
        marketplace.withdrawTo(address(0), to);

        assertEq(to.balance, before + amount);
        assertEq(_withdrawable(address(0), alice), 0);
        assertEq(address(marketplace).balance, 0);
    }
}
