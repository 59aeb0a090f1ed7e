// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {AgentMarketplace} from "../../contracts/AgentMarketplace.sol";
import {IAgentMarketplace} from "../../contracts/interfaces/IAgentMarketplace.sol";
import {MarketplaceTestBase} from "./MarketplaceTestBase.sol";

/// @dev AgentMarketplace: deployment, administration (fee, treasury, grace, admin transfer) and pause.
contract MarketplaceAdminTest is MarketplaceTestBase {
    // ================================================================== deployment

    function test_constructor_initialState() public view {
        assertEq(address(marketplace.registry()), address(registry));
        assertEq(marketplace.feeBps(), 250);
        assertEq(marketplace.DEFAULT_FEE_BPS(), 250);
        assertEq(marketplace.MAX_FEE_BPS(), 1_000);
        assertEq(marketplace.MAX_SETTLEMENT_GRACE(), 7 days);
        assertEq(marketplace.treasury(), treasury);
        assertEq(marketplace.settlementGrace(), GRACE);
        assertFalse(marketplace.paused());
        assertEq(marketplace.nextRequestId(), 1);
        assertEq(marketplace.defaultAdmin(), admin);
        assertEq(marketplace.defaultAdminDelay(), ADMIN_DELAY);
        assertTrue(marketplace.hasRole(PAUSER_ROLE, admin));
        assertTrue(marketplace.hasRole(PAUSER_ROLE, pauser));
        assertTrue(marketplace.hasRole(RELAYER_ROLE, relayer));
        assertFalse(marketplace.hasRole(RELAYER_ROLE, admin));
        assertEq(RELAYER_ROLE, keccak256("RELAYER_ROLE"));
        assertEq(PAUSER_ROLE, keccak256("PAUSER_ROLE"));
    }

    function test_constructor_revertsWhen_treasuryIsZero() public {
        vm.expectRevert(IAgentMarketplace.InvalidTreasury.selector);
        new AgentMarketplace(registry, ADMIN_DELAY, admin, address(0), GRACE);
    }

    function test_constructor_revertsWhen_graceTooLong() public {
        vm.expectRevert(abi.encodeWithSelector(IAgentMarketplace.GraceTooLong.selector, uint32(7 days + 1)));
        new AgentMarketplace(registry, ADMIN_DELAY, admin, treasury, 7 days + 1);
        // The cap itself is allowed.
        AgentMarketplace m = new AgentMarketplace(registry, ADMIN_DELAY, admin, treasury, 7 days);
        assertEq(m.settlementGrace(), 7 days);
    }

    // ================================================================== administration

    function test_setFeeBps() public {
        vm.expectEmit(true, true, true, true, address(marketplace));
        emit IAgentMarketplace.FeeUpdated(250, 1_000);
        _setFeeBps(1_000);
        assertEq(marketplace.feeBps(), 1_000);

        vm.expectEmit(true, true, true, true, address(marketplace));
        emit IAgentMarketplace.FeeUpdated(1_000, 0);
        _setFeeBps(0);
        assertEq(marketplace.feeBps(), 0);
    }

    function test_setFeeBps_revertsWhen_aboveCap() public {
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(IAgentMarketplace.FeeTooHigh.selector, uint16(1_001)));
        marketplace.setFeeBps(1_001);
        assertEq(marketplace.feeBps(), 250);
    }

    function test_setFeeBps_revertsWhen_callerNotAdmin() public {
        address[3] memory callers = [pauser, relayer, stranger];
        for (uint256 i; i < callers.length; ++i) {
            vm.prank(callers[i]);
            vm.expectRevert(_unauthorized(callers[i], DEFAULT_ADMIN_ROLE));
            marketplace.setFeeBps(0);
        }
    }

    function testFuzz_setFeeBps(uint16 bps) public {
        vm.prank(admin);
        if (bps > 1_000) {
            vm.expectRevert(abi.encodeWithSelector(IAgentMarketplace.FeeTooHigh.selector, bps));
            marketplace.setFeeBps(bps);
            assertEq(marketplace.feeBps(), 250);
        } else {
            marketplace.setFeeBps(bps);
            assertEq(marketplace.feeBps(), bps);
        }
    }

    function test_setTreasury() public {
        vm.expectEmit(true, true, true, true, address(marketplace));
        emit IAgentMarketplace.TreasuryUpdated(treasury, bob);
        vm.prank(admin);
        marketplace.setTreasury(bob);
        assertEq(marketplace.treasury(), bob);

        (uint256 id, IAgentMarketplace.Execution memory ex) = _buyAndRequest(alice, ethAgentId);
        _settle(id, ex, true);
        assertEq(_withdrawable(address(0), bob), _fee(ETH_PRICE));
        assertEq(_withdrawable(address(0), treasury), 0);
    }

    function test_setTreasury_revertsWhen_zero() public {
        vm.prank(admin);
        vm.expectRevert(IAgentMarketplace.InvalidTreasury.selector);
        marketplace.setTreasury(address(0));
        assertEq(marketplace.treasury(), treasury);
    }

    function test_setTreasury_revertsWhen_callerNotAdmin() public {
        vm.prank(treasury);
        vm.expectRevert(_unauthorized(treasury, DEFAULT_ADMIN_ROLE));
        marketplace.setTreasury(treasury);
    }

    function test_setSettlementGrace() public {
        vm.expectEmit(true, true, true, true, address(marketplace));
        emit IAgentMarketplace.SettlementGraceUpdated(GRACE, 7 days);
        vm.prank(admin);
        marketplace.setSettlementGrace(7 days);
        assertEq(marketplace.settlementGrace(), 7 days);

        // The longest possible deadline: max duration limit plus max grace.
        uint256 agentId =
            _registerAgent(_agentParams(bob, address(0), 1, 7 days, ETH_IMAGE_DIGEST, ETH_METADATA_URI));
        (, IAgentMarketplace.Execution memory ex) = _buyAndRequest(alice, agentId);
        assertEq(ex.deadline, block.timestamp + 14 days);

        vm.expectEmit(true, true, true, true, address(marketplace));
        emit IAgentMarketplace.SettlementGraceUpdated(7 days, 0);
        vm.prank(admin);
        marketplace.setSettlementGrace(0);
        assertEq(marketplace.settlementGrace(), 0);
    }

    function test_setSettlementGrace_revertsWhen_aboveCap() public {
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(IAgentMarketplace.GraceTooLong.selector, uint32(7 days + 1)));
        marketplace.setSettlementGrace(7 days + 1);
        assertEq(marketplace.settlementGrace(), GRACE);
    }

    function test_setSettlementGrace_revertsWhen_callerNotAdmin() public {
        vm.prank(relayer);
        vm.expectRevert(_unauthorized(relayer, DEFAULT_ADMIN_ROLE));
        marketplace.setSettlementGrace(0);
    }

    function test_config_settersKeepOtherPackedFields() public {
        _buyAndRequest(alice, ethAgentId);
        _buyAndRequest(alice, ethAgentId);
        vm.startPrank(admin);
        marketplace.setFeeBps(777);
        marketplace.setTreasury(bob);
        marketplace.setSettlementGrace(3 days);
        marketplace.pause();
        vm.stopPrank();

        assertEq(marketplace.feeBps(), 777);
        assertEq(marketplace.treasury(), bob);
        assertEq(marketplace.settlementGrace(), 3 days);
        assertTrue(marketplace.paused());
        assertEq(marketplace.nextRequestId(), 3);

        vm.prank(admin);
        marketplace.unpause();
        (uint256 id,) = _buyAndRequest(alice, ethAgentId);
        assertEq(id, 3);
        assertEq(marketplace.feeBps(), 777);
        assertEq(marketplace.treasury(), bob);
        assertEq(marketplace.settlementGrace(), 3 days);
        assertFalse(marketplace.paused());
    }

    function test_defaultAdminTransfer_movesSetterRights() public {
        address newAdmin = makeAddr("newAdmin");
        vm.prank(admin);
        marketplace.beginDefaultAdminTransfer(newAdmin);
        vm.warp(block.timestamp + ADMIN_DELAY + 1);
        vm.prank(newAdmin);
        marketplace.acceptDefaultAdminTransfer();

        vm.prank(newAdmin);
        marketplace.setFeeBps(100);
        assertEq(marketplace.feeBps(), 100);
        vm.prank(admin);
        vm.expectRevert(_unauthorized(admin, DEFAULT_ADMIN_ROLE));
        marketplace.setFeeBps(0);
    }

    // ================================================================== pause

    function test_pause_unpause() public {
        vm.expectEmit(true, true, true, true, address(marketplace));
        emit IAgentMarketplace.Paused(pauser);
        vm.prank(pauser);
        marketplace.pause();
        assertTrue(marketplace.paused());

        vm.expectEmit(true, true, true, true, address(marketplace));
        emit IAgentMarketplace.Unpaused(pauser);
        vm.prank(pauser);
        marketplace.unpause();
        assertFalse(marketplace.paused());

        // Business resumes.
        _buyAndRequest(alice, ethAgentId);
    }

    function test_pause_byAdminAsInitialPauser() public {
        vm.prank(admin);
        marketplace.pause();
        assertTrue(marketplace.paused());
    }

    function test_pause_revertsWhen_callerNotPauser() public {
        vm.prank(relayer);
        vm.expectRevert(_unauthorized(relayer, PAUSER_ROLE));
        marketplace.pause();
    }

    function test_unpause_revertsWhen_callerNotPauser() public {
        _pause();
        vm.prank(stranger);
        vm.expectRevert(_unauthorized(stranger, PAUSER_ROLE));
        marketplace.unpause();
        assertTrue(marketplace.paused());
    }

    function test_pause_revertsWhen_alreadyPaused() public {
        _pause();
        vm.prank(pauser);
        vm.expectRevert(IAgentMarketplace.MarketplacePaused.selector);
        marketplace.pause();
    }

    function test_unpause_revertsWhen_notPaused() public {
        vm.prank(pauser);
        vm.expectRevert(IAgentMarketplace.NotPaused.selector);
        marketplace.unpause();
    }

    function test_pause_keepsFundsMovable() public {
        // Before the pause: open requests, unspent credits.
        (uint256 id1, IAgentMarketplace.Execution memory ex1) = _buyAndRequest(alice, ethAgentId);
        (uint256 id2, IAgentMarketplace.Execution memory ex2) = _buyAndRequest(alice, ethAgentId);
        (uint256 id3, IAgentMarketplace.Execution memory ex3) = _buyAndRequest(bob, usdcAgentId);
        _buy(bob, usdcAgentId, 2);
        _pause();

        // settle (both outcomes)
        _settle(id1, ex1, true);
        _settle(id2, ex2, false);
        // reclaim
        vm.warp(uint256(ex3.deadline) + 1);
        vm.prank(bob);
        marketplace.reclaim(id3, ex3);
        // cancel
        vm.prank(bob);
        marketplace.cancel(usdcCredit, 2);
        // withdraw
        vm.prank(alice);
        marketplace.withdraw(address(0));
        vm.prank(developer);
        marketplace.withdraw(address(0));
        vm.prank(treasury);
        marketplace.withdraw(address(0));
        vm.prank(bob);
        marketplace.withdrawTo(address(usdc), payable(stranger));

        assertEq(alice.balance, ETH_PRICE);
        assertEq(developer.balance + treasury.balance, ETH_PRICE);
        assertEq(usdc.balanceOf(stranger), uint256(USDC_PRICE) * 3);
        assertEq(address(marketplace).balance, 0);
        assertEq(usdc.balanceOf(address(marketplace)), 0);
    }
}
