// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IAgentMarketplace} from "../../contracts/interfaces/IAgentMarketplace.sol";
import {IAgentRegistry} from "../../contracts/interfaces/IAgentRegistry.sol";
import {MarketplaceTestBase} from "./MarketplaceTestBase.sol";

/// @dev AgentMarketplace: settle: payout, refund and every forged or late settlement refused.
contract MarketplaceSettlementTest is MarketplaceTestBase {
    // ================================================================== settle

    function test_settle_success_paysDeveloperMinusFee_eth() public {
        (uint256 id, IAgentMarketplace.Execution memory ex) = _buyAndRequest(alice, ethAgentId);
        uint256 fee = uint256(ETH_PRICE) * 250 / 10_000;
        uint256 payout = ETH_PRICE - fee;

        vm.expectEmit(true, true, true, true, address(marketplace));
        emit IAgentMarketplace.ExecutionSettled(id, true, OUTPUT_HASH, developer, address(0), payout, fee);
        vm.prank(relayer);
        marketplace.settle(id, ex, true, OUTPUT_HASH);

        assertEq(_withdrawable(address(0), developer), payout);
        assertEq(_withdrawable(address(0), treasury), fee);
        assertEq(_withdrawable(address(0), alice), 0);
        assertEq(payout + fee, ETH_PRICE);
        assertFalse(marketplace.isOpen(id));
        assertEq(marketplace.requestCommitment(id), bytes32(0));
    }

    function test_settle_success_paysDeveloperMinusFee_usdc() public {
        (uint256 id, IAgentMarketplace.Execution memory ex) = _buyAndRequest(bob, usdcAgentId);
        uint256 fee = uint256(USDC_PRICE) * 250 / 10_000; // 0.125 USDC

        vm.expectEmit(true, true, true, true, address(marketplace));
        emit IAgentMarketplace.ExecutionSettled(
            id, true, OUTPUT_HASH, developer, address(usdc), USDC_PRICE - fee, fee
        );
        _settle(id, ex, true);

        assertEq(fee, 125_000);
        assertEq(_withdrawable(address(usdc), developer), USDC_PRICE - fee);
        assertEq(_withdrawable(address(usdc), treasury), fee);
        assertEq(_withdrawable(address(0), developer), 0);

        vm.prank(developer);
        marketplace.withdraw(address(usdc));
        vm.prank(treasury);
        marketplace.withdraw(address(usdc));
        assertEq(usdc.balanceOf(developer), USDC_PRICE - fee);
        assertEq(usdc.balanceOf(treasury), fee);
        assertEq(usdc.balanceOf(address(marketplace)), 0);
    }

    function test_settle_success_zeroFee() public {
        _setFeeBps(0);
        (uint256 id, IAgentMarketplace.Execution memory ex) = _buyAndRequest(alice, ethAgentId);
        vm.expectEmit(true, true, true, true, address(marketplace));
        emit IAgentMarketplace.ExecutionSettled(id, true, OUTPUT_HASH, developer, address(0), ETH_PRICE, 0);
        _settle(id, ex, true);
        assertEq(_withdrawable(address(0), developer), ETH_PRICE);
        assertEq(_withdrawable(address(0), treasury), 0);
    }

    function test_settle_success_feeRoundsDown() public {
        uint256 agentId = _registerAgent(bob, address(0), 39); // 39 * 250 / 10_000 = 0.975 -> 0
        (uint256 id, IAgentMarketplace.Execution memory ex) = _buyAndRequest(alice, agentId);
        _settle(id, ex, true);
        assertEq(_withdrawable(address(0), bob), 39);
        assertEq(_withdrawable(address(0), treasury), 0);

        agentId = _registerAgent(bob, address(0), 80); // 80 * 250 / 10_000 = 2
        (id, ex) = _buyAndRequest(alice, agentId);
        _settle(id, ex, true);
        assertEq(_withdrawable(address(0), bob), 39 + 78);
        assertEq(_withdrawable(address(0), treasury), 2);
    }

    function test_settle_usesFeeAndTreasuryAtSettlementTime() public {
        (uint256 id, IAgentMarketplace.Execution memory ex) = _buyAndRequest(alice, ethAgentId);
        _setFeeBps(1_000);
        vm.prank(admin);
        marketplace.setTreasury(bob);
        _settle(id, ex, true);
        assertEq(_withdrawable(address(0), bob), ETH_PRICE / 10);
        assertEq(_withdrawable(address(0), treasury), 0);
        assertEq(_withdrawable(address(0), developer), ETH_PRICE - ETH_PRICE / 10);
    }

    function test_settle_failure_refundsRequester() public {
        (uint256 id, IAgentMarketplace.Execution memory ex) = _buyAndRequest(alice, ethAgentId);
        vm.expectEmit(true, true, true, true, address(marketplace));
        emit IAgentMarketplace.ExecutionSettled(id, false, bytes32(0), alice, address(0), ETH_PRICE, 0);
        vm.prank(relayer);
        marketplace.settle(id, ex, false, bytes32(0));

        assertEq(_withdrawable(address(0), alice), ETH_PRICE);
        assertEq(_withdrawable(address(0), developer), 0);
        assertEq(_withdrawable(address(0), treasury), 0);
        assertFalse(marketplace.isOpen(id));
    }

    function test_settle_failure_refundsRequester_usdc() public {
        (uint256 id, IAgentMarketplace.Execution memory ex) = _buyAndRequest(bob, usdcAgentId);
        bytes32 errorHash = keccak256("timeout");
        vm.expectEmit(true, true, true, true, address(marketplace));
        emit IAgentMarketplace.ExecutionSettled(id, false, errorHash, bob, address(usdc), USDC_PRICE, 0);
        vm.prank(relayer);
        marketplace.settle(id, ex, false, errorHash);
        assertEq(_withdrawable(address(usdc), bob), USDC_PRICE);

        vm.prank(bob);
        marketplace.withdraw(address(usdc));
        assertEq(usdc.balanceOf(bob), USDC_PRICE);
    }

    function test_settle_atExactDeadline() public {
        (uint256 id, IAgentMarketplace.Execution memory ex) = _buyAndRequest(alice, ethAgentId);
        vm.warp(ex.deadline);
        _settle(id, ex, true);
        assertFalse(marketplace.isOpen(id));
    }

    function test_settle_worksAfterAgentPausedOrRetired() public {
        (uint256 id1, IAgentMarketplace.Execution memory ex1) = _buyAndRequest(alice, ethAgentId);
        (uint256 id2, IAgentMarketplace.Execution memory ex2) = _buyAndRequest(alice, ethAgentId);
        _setStatus(ethAgentId, IAgentRegistry.Status.Paused);
        _settle(id1, ex1, true);
        _setStatus(ethAgentId, IAgentRegistry.Status.Retired);
        _settle(id2, ex2, false);
        assertEq(_withdrawable(address(0), developer), ETH_PRICE - _fee(ETH_PRICE));
        assertEq(_withdrawable(address(0), alice), ETH_PRICE);
    }

    function test_settle_revertsWhen_callerNotRelayer() public {
        (uint256 id, IAgentMarketplace.Execution memory ex) = _buyAndRequest(alice, ethAgentId);
        address[4] memory callers = [stranger, alice, admin, developer];
        for (uint256 i; i < callers.length; ++i) {
            vm.prank(callers[i]);
            vm.expectRevert(_unauthorized(callers[i], RELAYER_ROLE));
            marketplace.settle(id, ex, true, OUTPUT_HASH);
        }
        assertTrue(marketplace.isOpen(id));
    }

    function test_settle_revertsWhen_requesterMismatch() public {
        (uint256 id, IAgentMarketplace.Execution memory ex) = _buyAndRequest(alice, ethAgentId);
        ex.requester = bob;
        vm.prank(relayer);
        vm.expectRevert(abi.encodeWithSelector(IAgentMarketplace.RequestMismatch.selector, id));
        marketplace.settle(id, ex, false, bytes32(0));
    }

    function test_settle_revertsWhen_creditIdMismatch() public {
        (uint256 id, IAgentMarketplace.Execution memory ex) = _buyAndRequest(alice, ethAgentId);
        // A forged, pricier credit id would inflate the payout.
        ex.creditId = marketplace.creditIdOf(ethAgentId, ETH_PRICE * 100);
        vm.prank(relayer);
        vm.expectRevert(abi.encodeWithSelector(IAgentMarketplace.RequestMismatch.selector, id));
        marketplace.settle(id, ex, true, OUTPUT_HASH);
    }

    function test_settle_revertsWhen_deadlineMismatch() public {
        (uint256 id, IAgentMarketplace.Execution memory ex) = _buyAndRequest(alice, ethAgentId);
        ex.deadline -= 1;
        vm.prank(relayer);
        vm.expectRevert(abi.encodeWithSelector(IAgentMarketplace.RequestMismatch.selector, id));
        marketplace.settle(id, ex, true, OUTPUT_HASH);
    }

    function test_settle_revertsWhen_deadlineForgedAfterExpiry() public {
        (uint256 id, IAgentMarketplace.Execution memory ex) = _buyAndRequest(alice, ethAgentId);
        vm.warp(ex.deadline + 1);
        ex.deadline = uint40(block.timestamp); // pretend the request is still in time
        vm.prank(relayer);
        vm.expectRevert(abi.encodeWithSelector(IAgentMarketplace.RequestMismatch.selector, id));
        marketplace.settle(id, ex, true, OUTPUT_HASH);
    }

    function test_settle_revertsWhen_requestForAnotherId() public {
        (, IAgentMarketplace.Execution memory ex1) = _buyAndRequest(alice, ethAgentId);
        (uint256 id2,) = _buyAndRequest(bob, ethAgentId);
        vm.prank(relayer);
        vm.expectRevert(abi.encodeWithSelector(IAgentMarketplace.RequestMismatch.selector, id2));
        marketplace.settle(id2, ex1, true, OUTPUT_HASH);
    }

    function test_settle_revertsWhen_unknownRequest() public {
        (, IAgentMarketplace.Execution memory ex) = _buyAndRequest(alice, ethAgentId);
        vm.startPrank(relayer);
        vm.expectRevert(abi.encodeWithSelector(IAgentMarketplace.RequestNotOpen.selector, 0));
        marketplace.settle(0, ex, true, OUTPUT_HASH);
        vm.expectRevert(abi.encodeWithSelector(IAgentMarketplace.RequestNotOpen.selector, 2));
        marketplace.settle(2, ex, true, OUTPUT_HASH);
        vm.stopPrank();
    }

    function test_settle_revertsWhen_settledTwice() public {
        (uint256 id, IAgentMarketplace.Execution memory ex) = _buyAndRequest(alice, ethAgentId);
        _settle(id, ex, true);
        vm.startPrank(relayer);
        vm.expectRevert(abi.encodeWithSelector(IAgentMarketplace.RequestNotOpen.selector, id));
        marketplace.settle(id, ex, true, OUTPUT_HASH);
        vm.expectRevert(abi.encodeWithSelector(IAgentMarketplace.RequestNotOpen.selector, id));
        marketplace.settle(id, ex, false, bytes32(0));
        vm.stopPrank();
        assertEq(_withdrawable(address(0), developer), ETH_PRICE - _fee(ETH_PRICE));
        assertEq(_withdrawable(address(0), alice), 0);
    }

    function test_settle_revertsWhen_afterDeadline() public {
        (uint256 id, IAgentMarketplace.Execution memory ex) = _buyAndRequest(alice, ethAgentId);
        vm.warp(uint256(ex.deadline) + 1);
        vm.prank(relayer);
        vm.expectRevert(abi.encodeWithSelector(IAgentMarketplace.RequestExpired.selector, id, ex.deadline));
        marketplace.settle(id, ex, true, OUTPUT_HASH);
        assertTrue(marketplace.isOpen(id));
    }

    function test_settle_revertsWhen_afterDeadlineWithWrongArgs() public {
        (uint256 id, IAgentMarketplace.Execution memory ex) = _buyAndRequest(alice, ethAgentId);
        vm.warp(uint256(ex.deadline) + 1);
        IAgentMarketplace.Execution memory wrong =
            _execution(bob, ex.developer, ex.token, ex.creditId, ex.deadline);
        vm.prank(relayer);
        vm.expectRevert(abi.encodeWithSelector(IAgentMarketplace.RequestMismatch.selector, id));
        marketplace.settle(id, wrong, true, OUTPUT_HASH);
        vm.prank(relayer);
        vm.expectRevert(abi.encodeWithSelector(IAgentMarketplace.RequestNotOpen.selector, id + 1));
        marketplace.settle(id + 1, ex, true, OUTPUT_HASH);
    }

    function test_settle_revertsWhen_developerForged() public {
        (uint256 id, IAgentMarketplace.Execution memory ex) = _buyAndRequest(alice, ethAgentId);
        // A relayer naming another payee would redirect the payout.
        ex.developer = stranger;
        bytes memory err = abi.encodeWithSelector(IAgentMarketplace.RequestMismatch.selector, id);
        vm.startPrank(relayer);
        vm.expectRevert(err);
        marketplace.settle(id, ex, true, OUTPUT_HASH);
        vm.expectRevert(err);
        marketplace.settle(id, ex, false, bytes32(0));
        vm.stopPrank();
        assertTrue(marketplace.isOpen(id));
        assertEq(_withdrawable(address(0), stranger), 0);

        // The committed struct still settles, to the committed developer.
        ex.developer = developer;
        _settle(id, ex, true);
        assertEq(_withdrawable(address(0), developer), ETH_PRICE - _fee(ETH_PRICE));
        assertEq(_withdrawable(address(0), stranger), 0);
    }

    function test_settle_revertsWhen_tokenForged() public {
        // Both pools hold funds, so a forged token would have something to pay out of.
        _buy(bob, ethAgentId, 1_000);
        _buy(bob, usdcAgentId, 1_000);
        (uint256 id, IAgentMarketplace.Execution memory ex) = _buyAndRequest(alice, usdcAgentId);
        (uint256 id2, IAgentMarketplace.Execution memory ex2) = _buyAndRequest(alice, ethAgentId);

        ex.token = address(0);
        ex2.token = address(usdc);
        vm.startPrank(relayer);
        vm.expectRevert(abi.encodeWithSelector(IAgentMarketplace.RequestMismatch.selector, id));
        marketplace.settle(id, ex, true, OUTPUT_HASH);
        vm.expectRevert(abi.encodeWithSelector(IAgentMarketplace.RequestMismatch.selector, id));
        marketplace.settle(id, ex, false, bytes32(0));
        vm.expectRevert(abi.encodeWithSelector(IAgentMarketplace.RequestMismatch.selector, id2));
        marketplace.settle(id2, ex2, true, OUTPUT_HASH);
        vm.stopPrank();

        assertTrue(marketplace.isOpen(id));
        assertTrue(marketplace.isOpen(id2));
        assertEq(_withdrawable(address(0), developer), 0);
        assertEq(_withdrawable(address(usdc), developer), 0);
        assertEq(_withdrawable(address(0), alice), 0);
    }

    function test_settle_revertsWhen_developerAndTokenOfAnotherAgent() public {
        // Fields copied from another real agent (same price) do not match this request either.
        uint256 bobAgent = _registerAgent(bob, address(0), USDC_PRICE);
        (uint256 id, IAgentMarketplace.Execution memory ex) = _buyAndRequest(alice, usdcAgentId);
        (, IAgentMarketplace.Execution memory bobEx) = _buyAndRequest(alice, bobAgent);
        ex.developer = bobEx.developer;
        ex.token = bobEx.token;
        vm.prank(relayer);
        vm.expectRevert(abi.encodeWithSelector(IAgentMarketplace.RequestMismatch.selector, id));
        marketplace.settle(id, ex, true, OUTPUT_HASH);
    }

    /// @dev Any single forged field, on either outcome, before or after the deadline, is refused.
    function testFuzz_settle_revertsWhen_anyFieldForged(
        uint256 field,
        address forgedAddress,
        uint256 forgedCreditId,
        uint40 forgedDeadline,
        bool success,
        bool late
    ) public {
        (uint256 id, IAgentMarketplace.Execution memory ex) = _buyAndRequest(alice, ethAgentId);
        IAgentMarketplace.Execution memory forged =
            _forge(ex, field, forgedAddress, forgedCreditId, forgedDeadline);
        if (late) vm.warp(uint256(ex.deadline) + 1);

        vm.prank(relayer);
        vm.expectRevert(abi.encodeWithSelector(IAgentMarketplace.RequestMismatch.selector, id));
        marketplace.settle(id, forged, success, OUTPUT_HASH);
        assertTrue(marketplace.isOpen(id));
        assertEq(marketplace.requestCommitment(id), _commitment(ex));
    }

    function test_settle_paysDeveloperCommittedAtRequestTime() public {
        (uint256 id, IAgentMarketplace.Execution memory ex) = _buyAndRequest(alice, ethAgentId);
        uint256 fee = _fee(ETH_PRICE);

        // The registry can change neither developer nor token; make it report other ones anyway,
        // to show that settlement pays whom the request committed to, without asking the registry.
        IAgentRegistry.AgentTerms memory t = registry.terms(ethAgentId);
        t.developer = bob;
        t.paymentToken = address(usdc);
        vm.mockCall(address(registry), abi.encodeCall(IAgentRegistry.terms, (ethAgentId)), abi.encode(t));
        assertEq(registry.terms(ethAgentId).developer, bob);

        vm.expectCall(address(registry), abi.encodeWithSelector(IAgentRegistry.terms.selector), 0);
        vm.expectEmit(true, true, true, true, address(marketplace));
        emit IAgentMarketplace.ExecutionSettled(
            id, true, OUTPUT_HASH, developer, address(0), ETH_PRICE - fee, fee
        );
        _settle(id, ex, true);

        assertEq(_withdrawable(address(0), developer), ETH_PRICE - fee);
        assertEq(_withdrawable(address(0), treasury), fee);
        assertEq(_withdrawable(address(0), bob), 0);
        assertEq(_withdrawable(address(usdc), bob), 0);
        assertEq(_withdrawable(address(usdc), developer), 0);
    }

    function test_settleAndReclaim_workWhileRegistryReverts() public {
        (uint256 id1, IAgentMarketplace.Execution memory ex1) = _buyAndRequest(alice, ethAgentId);
        (uint256 id2, IAgentMarketplace.Execution memory ex2) = _buyAndRequest(bob, usdcAgentId);
        (uint256 id3, IAgentMarketplace.Execution memory ex3) = _buyAndRequest(bob, usdcAgentId);
        vm.mockCallRevert(
            address(registry), abi.encodeWithSelector(IAgentRegistry.terms.selector), bytes("registry down")
        );

        _settle(id1, ex1, true);
        _settle(id2, ex2, false);
        vm.warp(uint256(ex3.deadline) + 1);
        vm.prank(bob);
        marketplace.reclaim(id3, ex3);

        assertEq(_withdrawable(address(0), developer), ETH_PRICE - _fee(ETH_PRICE));
        assertEq(_withdrawable(address(usdc), bob), uint256(USDC_PRICE) * 2);
        vm.prank(bob);
        marketplace.withdraw(address(usdc));
        assertEq(usdc.balanceOf(bob), uint256(USDC_PRICE) * 2);
    }

    function testFuzz_settle_feeSplit(uint96 price, uint16 bps) public {
        price = uint96(bound(price, 1, type(uint96).max));
        bps = uint16(bound(bps, 0, 1_000));
        _setFeeBps(bps);
        _setPrice(ethAgentId, price);
        (uint256 id, IAgentMarketplace.Execution memory ex) = _buyAndRequest(alice, ethAgentId);

        uint256 expectedFee = uint256(price) * bps / 10_000;
        vm.expectEmit(true, true, true, true, address(marketplace));
        emit IAgentMarketplace.ExecutionSettled(
            id, true, OUTPUT_HASH, developer, address(0), price - expectedFee, expectedFee
        );
        _settle(id, ex, true);

        uint256 devShare = _withdrawable(address(0), developer);
        uint256 treasuryShare = _withdrawable(address(0), treasury);
        assertEq(devShare + treasuryShare, price);
        assertEq(treasuryShare, expectedFee);
        assertLe(treasuryShare * 10, price); // never more than 10%
        assertEq(address(marketplace).balance, price);
    }

    function testFuzz_settle_failureRefundsFullPrice(uint96 price, uint16 bps) public {
        price = uint96(bound(price, 1, type(uint96).max));
        bps = uint16(bound(bps, 0, 1_000));
        _setFeeBps(bps);
        _setPrice(usdcAgentId, price);
        (uint256 id, IAgentMarketplace.Execution memory ex) = _buyAndRequest(bob, usdcAgentId);
        _settle(id, ex, false);
        assertEq(_withdrawable(address(usdc), bob), price);
        assertEq(_withdrawable(address(usdc), developer), 0);
        assertEq(_withdrawable(address(usdc), treasury), 0);
    }
}
