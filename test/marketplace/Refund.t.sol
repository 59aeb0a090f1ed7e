// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC1155Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {IERC1155} from "@openzeppelin/contracts/token/ERC1155/IERC1155.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {IAgentMarketplace} from "../../contracts/interfaces/IAgentMarketplace.sol";
import {IAgentRegistry} from "../../contracts/interfaces/IAgentRegistry.sol";
import {MarketplaceTestBase} from "./MarketplaceTestBase.sol";

/// @dev AgentMarketplace: reclaim after the deadline and cancel of unspent credits.
contract MarketplaceRefundTest is MarketplaceTestBase {
    // ================================================================== reclaim

    function test_reclaim_afterDeadline() public {
        (uint256 id, IAgentMarketplace.Execution memory ex) = _buyAndRequest(alice, ethAgentId);
        vm.warp(uint256(ex.deadline) + 1);

        vm.expectEmit(true, true, true, true, address(marketplace));
        emit IAgentMarketplace.ExecutionReclaimed(id, alice, address(0), ETH_PRICE);
        vm.prank(alice);
        marketplace.reclaim(id, ex);

        assertEq(_withdrawable(address(0), alice), ETH_PRICE);
        assertEq(_withdrawable(address(0), developer), 0);
        assertFalse(marketplace.isOpen(id));

        vm.prank(alice);
        marketplace.withdraw(address(0));
        assertEq(alice.balance, ETH_PRICE);
        assertEq(address(marketplace).balance, 0);
    }

    function test_reclaim_usdc() public {
        (uint256 id, IAgentMarketplace.Execution memory ex) = _buyAndRequest(bob, usdcAgentId);
        vm.warp(uint256(ex.deadline) + 1 days);
        vm.expectEmit(true, true, true, true, address(marketplace));
        emit IAgentMarketplace.ExecutionReclaimed(id, bob, address(usdc), USDC_PRICE);
        vm.prank(bob);
        marketplace.reclaim(id, ex);
        assertEq(_withdrawable(address(usdc), bob), USDC_PRICE);
    }

    function test_reclaim_revertsWhen_beforeDeadline() public {
        (uint256 id, IAgentMarketplace.Execution memory ex) = _buyAndRequest(alice, ethAgentId);
        bytes memory err =
            abi.encodeWithSelector(IAgentMarketplace.DeadlineNotReached.selector, id, ex.deadline);
        vm.prank(alice);
        vm.expectRevert(err);
        marketplace.reclaim(id, ex);

        vm.warp(ex.deadline); // still the relayer's turn at the exact deadline
        vm.prank(alice);
        vm.expectRevert(err);
        marketplace.reclaim(id, ex);
        assertTrue(marketplace.isOpen(id));
    }

    function test_reclaim_revertsWhen_notRequester() public {
        (uint256 id, IAgentMarketplace.Execution memory ex) = _buyAndRequest(alice, ethAgentId);
        vm.warp(uint256(ex.deadline) + 1);
        address[2] memory callers = [stranger, relayer];
        for (uint256 i; i < callers.length; ++i) {
            vm.prank(callers[i]);
            vm.expectRevert(abi.encodeWithSelector(IAgentMarketplace.NotRequester.selector, id, callers[i]));
            marketplace.reclaim(id, ex);
        }
        assertTrue(marketplace.isOpen(id));
    }

    function test_reclaim_revertsWhen_strangerNamesHimselfRequester() public {
        (uint256 id, IAgentMarketplace.Execution memory ex) = _buyAndRequest(alice, ethAgentId);
        vm.warp(uint256(ex.deadline) + 1);
        ex.requester = stranger;
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(IAgentMarketplace.RequestMismatch.selector, id));
        marketplace.reclaim(id, ex);
    }

    function test_reclaim_revertsWhen_wrongCreditId() public {
        (uint256 id, IAgentMarketplace.Execution memory ex) = _buyAndRequest(alice, ethAgentId);
        vm.warp(uint256(ex.deadline) + 1);
        ex.creditId = marketplace.creditIdOf(ethAgentId, ETH_PRICE + 1);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IAgentMarketplace.RequestMismatch.selector, id));
        marketplace.reclaim(id, ex);
    }

    function test_reclaim_revertsWhen_tokenForged() public {
        // Reclaiming a cheap request in another, funded token would steal from that token's pool.
        uint256 cheapAgent = _registerAgent(bob, address(0), 1);
        _buy(bob, usdcAgentId, 10);
        (uint256 id, IAgentMarketplace.Execution memory ex) = _buyAndRequest(alice, cheapAgent);
        vm.warp(uint256(ex.deadline) + 1);
        ex.token = address(usdc);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IAgentMarketplace.RequestMismatch.selector, id));
        marketplace.reclaim(id, ex);
        assertEq(_withdrawable(address(usdc), alice), 0);

        ex.token = address(0);
        vm.prank(alice);
        marketplace.reclaim(id, ex);
        assertEq(_withdrawable(address(0), alice), 1);
        assertEq(_withdrawable(address(usdc), alice), 0);
    }

    function test_reclaim_revertsWhen_developerForged() public {
        (uint256 id, IAgentMarketplace.Execution memory ex) = _buyAndRequest(alice, ethAgentId);
        vm.warp(uint256(ex.deadline) + 1);
        ex.developer = alice;
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IAgentMarketplace.RequestMismatch.selector, id));
        marketplace.reclaim(id, ex);
        assertTrue(marketplace.isOpen(id));
    }

    /// @dev Any single forged field is refused, before or after the deadline (the requester named in
    /// the struct calls, so NotRequester never hides the check).
    function testFuzz_reclaim_revertsWhen_anyFieldForged(
        uint256 field,
        address forgedAddress,
        uint256 forgedCreditId,
        uint40 forgedDeadline,
        bool late
    ) public {
        (uint256 id, IAgentMarketplace.Execution memory ex) = _buyAndRequest(alice, ethAgentId);
        IAgentMarketplace.Execution memory forged =
            _forge(ex, field, forgedAddress, forgedCreditId, forgedDeadline);
        if (late) vm.warp(uint256(ex.deadline) + 1);

        vm.prank(forged.requester);
        vm.expectRevert(abi.encodeWithSelector(IAgentMarketplace.RequestMismatch.selector, id));
        marketplace.reclaim(id, forged);
        assertTrue(marketplace.isOpen(id));
    }

    function test_reclaim_revertsWhen_reclaimedTwice() public {
        (uint256 id, IAgentMarketplace.Execution memory ex) = _buyAndRequest(alice, ethAgentId);
        vm.warp(uint256(ex.deadline) + 1);
        vm.prank(alice);
        marketplace.reclaim(id, ex);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IAgentMarketplace.RequestNotOpen.selector, id));
        marketplace.reclaim(id, ex);
        assertEq(_withdrawable(address(0), alice), ETH_PRICE);
    }

    function test_settle_revertsWhen_afterReclaim() public {
        (uint256 id, IAgentMarketplace.Execution memory ex) = _buyAndRequest(alice, ethAgentId);
        vm.warp(uint256(ex.deadline) + 1);
        vm.prank(alice);
        marketplace.reclaim(id, ex);
        vm.prank(relayer);
        vm.expectRevert(abi.encodeWithSelector(IAgentMarketplace.RequestNotOpen.selector, id));
        marketplace.settle(id, ex, true, OUTPUT_HASH);
        assertEq(_withdrawable(address(0), developer), 0);
    }

    function test_reclaim_revertsWhen_alreadySettled() public {
        (uint256 id, IAgentMarketplace.Execution memory ex) = _buyAndRequest(alice, ethAgentId);
        _settle(id, ex, true);
        bytes memory err = abi.encodeWithSelector(IAgentMarketplace.RequestNotOpen.selector, id);
        vm.prank(alice);
        vm.expectRevert(err); // before the deadline
        marketplace.reclaim(id, ex);
        vm.warp(uint256(ex.deadline) + 1);
        vm.prank(alice);
        vm.expectRevert(err); // after the deadline
        marketplace.reclaim(id, ex);
        assertEq(_withdrawable(address(0), alice), 0);
    }

    function testFuzz_reclaim_onlyAfterDeadline(uint256 elapsed) public {
        (uint256 id, IAgentMarketplace.Execution memory ex) = _buyAndRequest(alice, ethAgentId);
        elapsed = bound(elapsed, 0, 30 days);
        vm.warp(block.timestamp + elapsed);
        vm.prank(alice);
        if (block.timestamp <= ex.deadline) {
            vm.expectRevert(
                abi.encodeWithSelector(IAgentMarketplace.DeadlineNotReached.selector, id, ex.deadline)
            );
            marketplace.reclaim(id, ex);
            assertTrue(marketplace.isOpen(id));
        } else {
            marketplace.reclaim(id, ex);
            assertEq(_withdrawable(address(0), alice), ETH_PRICE);
        }
    }

    // ================================================================== cancel

    function test_cancel_refundsAtBoughtPrice() public {
        _buy(alice, ethAgentId, 5);
        uint256 amount = uint256(ETH_PRICE) * 2;

        vm.expectEmit(true, true, true, true, address(marketplace));
        emit IERC1155.TransferSingle(alice, alice, address(0), ethCredit, 2);
        vm.expectEmit(true, true, true, true, address(marketplace));
        emit IAgentMarketplace.CreditsCancelled(alice, ethAgentId, ethCredit, 2, amount);
        vm.prank(alice);
        marketplace.cancel(ethCredit, 2);

        assertEq(marketplace.balanceOf(alice, ethCredit), 3);
        assertEq(_withdrawable(address(0), alice), amount);
        assertEq(address(marketplace).balance, uint256(ETH_PRICE) * 5);
    }

    function test_cancel_afterPriceDropRefundsHigherBoughtPrice() public {
        uint256 creditId = _buy(bob, usdcAgentId, 2);
        _setPrice(usdcAgentId, 1);
        vm.prank(bob);
        marketplace.cancel(creditId, 2);
        assertEq(_withdrawable(address(usdc), bob), uint256(USDC_PRICE) * 2);
        vm.prank(bob);
        marketplace.withdraw(address(usdc));
        assertEq(usdc.balanceOf(bob), uint256(USDC_PRICE) * 2);
    }

    function test_cancel_revertsWhen_zeroUnits() public {
        _buy(alice, ethAgentId, 1);
        vm.prank(alice);
        vm.expectRevert(IAgentMarketplace.ZeroUnits.selector);
        marketplace.cancel(ethCredit, 0);
    }

    function test_cancel_revertsWhen_moreThanHeld() public {
        _buy(alice, ethAgentId, 3);
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(IERC1155Errors.ERC1155InsufficientBalance.selector, alice, 3, 4, ethCredit)
        );
        marketplace.cancel(ethCredit, 4);
        assertEq(marketplace.balanceOf(alice, ethCredit), 3);
        assertEq(_withdrawable(address(0), alice), 0);
    }

    function test_cancel_revertsWhen_noneHeld() public {
        _buy(alice, ethAgentId, 3);
        vm.prank(bob);
        vm.expectRevert(
            abi.encodeWithSelector(IERC1155Errors.ERC1155InsufficientBalance.selector, bob, 0, 1, ethCredit)
        );
        marketplace.cancel(ethCredit, 1);
    }

    function test_cancel_revertsWhen_amountExceedsUint128() public {
        // Balances are uint128 running totals: one cancel can credit at most type(uint128).max.
        uint96 price = type(uint96).max;
        uint256 agentId = _registerAgent(bob, address(usdc), price);
        uint256 maxUnits = type(uint128).max / price;
        uint256 creditId = _buy(alice, agentId, maxUnits + 1);
        uint256 amount = uint256(price) * (maxUnits + 1);
        assertGt(amount, type(uint128).max);

        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(SafeCast.SafeCastOverflowedUintDowncast.selector, 128, amount));
        marketplace.cancel(creditId, maxUnits + 1);
        assertEq(marketplace.balanceOf(alice, creditId), maxUnits + 1);

        vm.prank(alice);
        marketplace.cancel(creditId, maxUnits);
        assertEq(_withdrawable(address(usdc), alice), uint256(price) * maxUnits);
    }

    function test_cancel_worksWhenAgentRetired() public {
        _buy(alice, ethAgentId, 2);
        _setStatus(ethAgentId, IAgentRegistry.Status.Retired);
        vm.prank(alice);
        marketplace.cancel(ethCredit, 2);
        assertEq(_withdrawable(address(0), alice), uint256(ETH_PRICE) * 2);
    }

    function testFuzz_cancel_partial(uint256 bought, uint256 cancelled, uint96 price) public {
        price = uint96(bound(price, 1, type(uint96).max));
        bought = bound(bought, 1, 1e12);
        // One cancel credits at most type(uint128).max (see test_cancel_revertsWhen_amountExceedsUint128).
        uint256 maxUnits = type(uint128).max / price;
        cancelled = bound(cancelled, 1, bought < maxUnits ? bought : maxUnits);
        _setPrice(ethAgentId, price);
        uint256 creditId = _buy(alice, ethAgentId, bought);

        vm.prank(alice);
        marketplace.cancel(creditId, cancelled);

        assertEq(marketplace.balanceOf(alice, creditId), bought - cancelled);
        assertEq(_withdrawable(address(0), alice), uint256(price) * cancelled);

        vm.prank(alice);
        marketplace.withdraw(address(0));
        assertEq(alice.balance, uint256(price) * cancelled);
        assertEq(address(marketplace).balance, uint256(price) * (bought - cancelled));
    }
}
