// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {
    IAccessControlDefaultAdminRules
} from "@openzeppelin/contracts/access/extensions/IAccessControlDefaultAdminRules.sol";
import {IERC1155Errors, IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {IERC1155} from "@openzeppelin/contracts/token/ERC1155/IERC1155.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC1155MetadataURI} from "@openzeppelin/contracts/token/ERC1155/extensions/IERC1155MetadataURI.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {Vm} from "forge-std/Vm.sol";
import {stdError} from "forge-std/StdError.sol";

import {AgentMarketplace} from "../contracts/AgentMarketplace.sol";
import {Entitlements} from "../contracts/Entitlements.sol";
import {IAgentMarketplace} from "../contracts/interfaces/IAgentMarketplace.sol";
import {IAgentRegistry} from "../contracts/interfaces/IAgentRegistry.sol";
import {CreditId} from "../contracts/libraries/CreditId.sol";
import {FeeOnTransferToken} from "./utils/FeeOnTransferToken.sol";
import {BaseTest} from "./utils/Fixtures.sol";
import {RejectingPayee} from "./utils/HostileContracts.sol";

contract AgentMarketplaceTest is BaseTest {
    bytes32 internal constant DEFAULT_ADMIN_ROLE = 0x00;
    bytes32 internal RELAYER_ROLE;
    bytes32 internal PAUSER_ROLE;

    /// @dev Credit ids of the fixture agents at their listed prices.
    uint256 internal ethCredit;
    uint256 internal usdcCredit;

    function setUp() public override {
        super.setUp();
        RELAYER_ROLE = marketplace.RELAYER_ROLE();
        PAUSER_ROLE = marketplace.PAUSER_ROLE();
        ethCredit = marketplace.creditIdOf(ethAgentId, ETH_PRICE);
        usdcCredit = marketplace.creditIdOf(usdcAgentId, USDC_PRICE);
    }

    function _unauthorized(address account, bytes32 role) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, account, role);
    }

    function _pause() internal {
        vm.prank(pauser);
        marketplace.pause();
    }

    function _setFeeBps(uint16 bps) internal {
        vm.prank(admin);
        marketplace.setFeeBps(bps);
    }

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

    // ================================================================== purchase: ETH

    function test_purchase_eth_mintsCreditsForExactValue() public {
        uint256 cost = uint256(ETH_PRICE) * 3;
        vm.deal(alice, cost);

        vm.expectEmit(true, true, true, true, address(marketplace));
        emit IAgentMarketplace.Purchased(alice, ethAgentId, ethCredit, address(0), ETH_PRICE, 3);
        vm.expectEmit(true, true, true, true, address(marketplace));
        emit IERC1155.TransferSingle(alice, address(0), alice, ethCredit, 3);
        vm.prank(alice);
        uint256 creditId = marketplace.purchase{value: cost}(ethAgentId, 3, ETH_PRICE);

        assertEq(creditId, ethCredit);
        assertEq(creditId, (ethAgentId << 96) | ETH_PRICE);
        assertEq(marketplace.balanceOf(alice, ethCredit), 3);
        assertEq(address(marketplace).balance, cost);
        assertEq(alice.balance, 0);
    }

    function test_purchase_eth_accumulatesOnSameCreditId() public {
        _buy(alice, ethAgentId, 2);
        uint256 creditId = _buy(alice, ethAgentId, 5);
        assertEq(creditId, ethCredit);
        assertEq(marketplace.balanceOf(alice, ethCredit), 7);
        assertEq(address(marketplace).balance, uint256(ETH_PRICE) * 7);
    }

    function test_purchase_eth_revertsWhen_valueTooLow() public {
        uint256 cost = uint256(ETH_PRICE) * 2;
        vm.deal(alice, cost);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IAgentMarketplace.WrongPayment.selector, cost, cost - 1));
        marketplace.purchase{value: cost - 1}(ethAgentId, 2, ETH_PRICE);
    }

    function test_purchase_eth_revertsWhen_valueTooHigh() public {
        uint256 cost = uint256(ETH_PRICE) * 2;
        vm.deal(alice, cost + 1);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IAgentMarketplace.WrongPayment.selector, cost, cost + 1));
        marketplace.purchase{value: cost + 1}(ethAgentId, 2, ETH_PRICE);
    }

    function test_purchase_eth_revertsWhen_noValue() public {
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IAgentMarketplace.WrongPayment.selector, ETH_PRICE, 0));
        marketplace.purchase(ethAgentId, 1, ETH_PRICE);
        assertEq(marketplace.balanceOf(alice, ethCredit), 0);
    }

    function test_purchase_revertsWhen_costOverflows() public {
        uint256 agentId = _registerAgent(bob, address(0), type(uint96).max);
        vm.prank(alice);
        vm.expectRevert(stdError.arithmeticError);
        marketplace.purchase(agentId, type(uint256).max, type(uint96).max);
    }

    function test_purchase_revertsWhen_receiverContractCannotHoldCredits() public {
        // A contract buyer must implement onERC1155Received (ERC-4337 accounts usually do).
        address noReceiver = address(usdc);
        vm.deal(noReceiver, ETH_PRICE);
        vm.prank(noReceiver);
        vm.expectRevert(abi.encodeWithSelector(IERC1155Errors.ERC1155InvalidReceiver.selector, noReceiver));
        marketplace.purchase{value: ETH_PRICE}(ethAgentId, 1, ETH_PRICE);
    }

    // ================================================================== purchase: ERC-20

    function test_purchase_usdc_pullsApprovedAmount() public {
        uint256 cost = uint256(USDC_PRICE) * 4;
        usdc.mint(alice, cost + 1);
        vm.prank(alice);
        usdc.approve(address(marketplace), cost);

        vm.expectEmit(true, true, true, true, address(marketplace));
        emit IAgentMarketplace.Purchased(alice, usdcAgentId, usdcCredit, address(usdc), USDC_PRICE, 4);
        vm.expectEmit(true, true, true, true, address(marketplace));
        emit IERC1155.TransferSingle(alice, address(0), alice, usdcCredit, 4);
        vm.prank(alice);
        uint256 creditId = marketplace.purchase(usdcAgentId, 4, USDC_PRICE);

        assertEq(creditId, usdcCredit);
        assertEq(marketplace.balanceOf(alice, usdcCredit), 4);
        assertEq(usdc.balanceOf(address(marketplace)), cost);
        assertEq(usdc.balanceOf(alice), 1);
        assertEq(usdc.allowance(alice, address(marketplace)), 0);
    }

    function test_purchase_usdc_revertsWhen_ethAttached() public {
        uint256 cost = uint256(USDC_PRICE);
        _mintAndApprove(address(usdc), alice, cost);
        vm.deal(alice, 1);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IAgentMarketplace.WrongPayment.selector, 0, 1));
        marketplace.purchase{value: 1}(usdcAgentId, 1, USDC_PRICE);
        assertEq(usdc.balanceOf(alice), cost);
    }

    function test_purchase_usdc_revertsWhen_allowanceTooLow() public {
        uint256 cost = uint256(USDC_PRICE) * 2;
        _mintAndApprove(address(usdc), alice, cost - 1);
        usdc.mint(alice, 1);
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(
                IERC20Errors.ERC20InsufficientAllowance.selector, address(marketplace), cost - 1, cost
            )
        );
        marketplace.purchase(usdcAgentId, 2, USDC_PRICE);
    }

    function test_purchase_usdc_revertsWhen_balanceTooLow() public {
        uint256 cost = uint256(USDC_PRICE);
        usdc.mint(alice, cost - 1);
        vm.prank(alice);
        usdc.approve(address(marketplace), cost);
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientBalance.selector, alice, cost - 1, cost)
        );
        marketplace.purchase(usdcAgentId, 1, USDC_PRICE);
    }

    function test_purchase_revertsWhen_feeOnTransferToken() public {
        FeeOnTransferToken fot = new FeeOnTransferToken();
        uint96 price = 1e18;
        uint256 agentId = _registerAgent(developer, address(fot), price);
        uint256 cost = uint256(price) * 3;
        _mintAndApprove(address(fot), alice, cost);

        uint256 received = cost - fot.feeOn(cost);
        assertLt(received, cost);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IAgentMarketplace.WrongPayment.selector, cost, received));
        marketplace.purchase(agentId, 3, price);
        assertEq(fot.balanceOf(alice), cost);
        assertEq(fot.balanceOf(address(marketplace)), 0);
    }

    // ================================================================== purchase: common reverts

    function test_purchase_revertsWhen_zeroUnits() public {
        vm.prank(alice);
        vm.expectRevert(IAgentMarketplace.ZeroUnits.selector);
        marketplace.purchase(ethAgentId, 0, ETH_PRICE);
        vm.prank(alice);
        vm.expectRevert(IAgentMarketplace.ZeroUnits.selector);
        marketplace.purchase(usdcAgentId, 0, USDC_PRICE);
    }

    function test_purchase_revertsWhen_unknownAgent() public {
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IAgentRegistry.UnknownAgent.selector, 3));
        marketplace.purchase(3, 1, ETH_PRICE);
    }

    function test_purchase_revertsWhen_agentPaused() public {
        _setStatus(ethAgentId, IAgentRegistry.Status.Paused);
        vm.deal(alice, ETH_PRICE);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IAgentMarketplace.AgentNotActive.selector, ethAgentId));
        marketplace.purchase{value: ETH_PRICE}(ethAgentId, 1, ETH_PRICE);
    }

    function test_purchase_revertsWhen_agentRetired() public {
        _setStatus(usdcAgentId, IAgentRegistry.Status.Retired);
        _mintAndApprove(address(usdc), alice, USDC_PRICE);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IAgentMarketplace.AgentNotActive.selector, usdcAgentId));
        marketplace.purchase(usdcAgentId, 1, USDC_PRICE);
    }

    function test_purchase_revertsWhen_marketplacePaused() public {
        _pause();
        vm.deal(alice, ETH_PRICE);
        vm.prank(alice);
        vm.expectRevert(IAgentMarketplace.MarketplacePaused.selector);
        marketplace.purchase{value: ETH_PRICE}(ethAgentId, 1, ETH_PRICE);
    }

    function test_purchase_resumesAfterAgentReactivated() public {
        _setStatus(ethAgentId, IAgentRegistry.Status.Paused);
        _setStatus(ethAgentId, IAgentRegistry.Status.Active);
        assertEq(_buy(alice, ethAgentId, 1), ethCredit);
    }

    function testFuzz_purchase_eth(uint96 price, uint256 units) public {
        price = uint96(bound(price, 1, type(uint96).max));
        units = bound(units, 1, type(uint256).max / price);
        _setPrice(ethAgentId, price);
        uint256 cost = uint256(price) * units;
        vm.deal(alice, cost);

        vm.prank(alice);
        uint256 creditId = marketplace.purchase{value: cost}(ethAgentId, units, price);

        assertEq(creditId, marketplace.creditIdOf(ethAgentId, price));
        assertEq(marketplace.balanceOf(alice, creditId), units);
        assertEq(address(marketplace).balance, cost);
        assertEq(alice.balance, 0);
    }

    function testFuzz_purchase_usdc(uint96 price, uint256 units) public {
        price = uint96(bound(price, 1, type(uint96).max));
        units = bound(units, 1, type(uint256).max / price);
        _setPrice(usdcAgentId, price);
        uint256 cost = uint256(price) * units;
        _mintAndApprove(address(usdc), alice, cost);

        vm.prank(alice);
        uint256 creditId = marketplace.purchase(usdcAgentId, units, price);

        assertEq(creditId, marketplace.creditIdOf(usdcAgentId, price));
        assertEq(marketplace.balanceOf(alice, creditId), units);
        assertEq(usdc.balanceOf(address(marketplace)), cost);
        assertEq(usdc.balanceOf(alice), 0);
    }

    function testFuzz_purchase_eth_revertsWhen_wrongValue(uint256 units, uint256 value) public {
        units = bound(units, 1, 1_000);
        uint256 cost = uint256(ETH_PRICE) * units;
        value = bound(value, 0, 2 * cost);
        vm.assume(value != cost);
        vm.deal(alice, value);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IAgentMarketplace.WrongPayment.selector, cost, value));
        marketplace.purchase{value: value}(ethAgentId, units, ETH_PRICE);
    }

    // ================================================================== purchase: price bound

    uint96 internal constant RAISED_USDC_PRICE = USDC_PRICE * 2;

    /// @dev The front-run the bound exists for: alice has a standing allowance and sees USDC_PRICE;
    /// the developer raises the price in a transaction that lands just before her purchase.
    function test_purchase_usdc_revertsWhen_priceRaisedJustBefore() public {
        usdc.mint(alice, 100 * uint256(USDC_PRICE));
        vm.prank(alice);
        usdc.approve(address(marketplace), type(uint256).max);

        IAgentRegistry.Agent memory agent = registry.getAgent(usdcAgentId);
        vm.prank(developer);
        registry.updateAgent(
            usdcAgentId, RAISED_USDC_PRICE, agent.terms.maxDuration, agent.imageDigest, agent.metadataURI
        );

        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(IAgentMarketplace.PriceAboveMax.selector, RAISED_USDC_PRICE, USDC_PRICE)
        );
        marketplace.purchase(usdcAgentId, 2, USDC_PRICE);

        // Nothing was paid and nothing minted.
        assertEq(usdc.balanceOf(alice), 100 * uint256(USDC_PRICE));
        assertEq(usdc.balanceOf(address(marketplace)), 0);
        assertEq(marketplace.balanceOf(alice, marketplace.creditIdOf(usdcAgentId, RAISED_USDC_PRICE)), 0);
    }

    /// @dev ETH: the bound is checked before the value, so a raised price reports `PriceAboveMax`
    /// (what happened) rather than `WrongPayment`, and the value sent goes back with the revert.
    function test_purchase_eth_revertsWhen_priceRaisedJustBefore() public {
        vm.deal(alice, uint256(ETH_PRICE) * 3);
        _setPrice(ethAgentId, ETH_PRICE + 1);

        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(IAgentMarketplace.PriceAboveMax.selector, ETH_PRICE + 1, ETH_PRICE)
        );
        marketplace.purchase{value: uint256(ETH_PRICE) * 3}(ethAgentId, 3, ETH_PRICE);
        assertEq(alice.balance, uint256(ETH_PRICE) * 3);
        assertEq(address(marketplace).balance, 0);
    }

    function test_purchase_usdc_atExactlyTheMax() public {
        _mintAndApprove(address(usdc), alice, USDC_PRICE);
        vm.prank(alice);
        uint256 creditId = marketplace.purchase(usdcAgentId, 1, USDC_PRICE);
        assertEq(creditId, usdcCredit);
        assertEq(usdc.balanceOf(address(marketplace)), USDC_PRICE);
    }

    /// @dev A price lowered after alice saw it: she pays the lower price, not her bound.
    function test_purchase_usdc_belowTheMax_paysTheCurrentPrice() public {
        uint96 lowered = USDC_PRICE / 2;
        usdc.mint(alice, 10 * uint256(USDC_PRICE));
        vm.prank(alice);
        usdc.approve(address(marketplace), type(uint256).max);
        _setPrice(usdcAgentId, lowered);

        vm.expectEmit(true, true, true, true, address(marketplace));
        emit IAgentMarketplace.Purchased(
            alice, usdcAgentId, marketplace.creditIdOf(usdcAgentId, lowered), address(usdc), lowered, 3
        );
        vm.prank(alice);
        uint256 creditId = marketplace.purchase(usdcAgentId, 3, USDC_PRICE);
        assertEq(creditId, marketplace.creditIdOf(usdcAgentId, lowered));
        assertEq(usdc.balanceOf(address(marketplace)), uint256(lowered) * 3);
        assertEq(usdc.balanceOf(alice), 10 * uint256(USDC_PRICE) - uint256(lowered) * 3);
    }

    /// @dev ETH below the bound: the value must match the current price (there is no refund of an
    /// excess); with the lowered cost the purchase goes through.
    function test_purchase_eth_belowTheMax_valueMustMatchCurrentPrice() public {
        uint96 lowered = ETH_PRICE / 2;
        _setPrice(ethAgentId, lowered);
        vm.deal(alice, ETH_PRICE);

        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IAgentMarketplace.WrongPayment.selector, lowered, ETH_PRICE));
        marketplace.purchase{value: ETH_PRICE}(ethAgentId, 1, ETH_PRICE);

        vm.prank(alice);
        uint256 creditId = marketplace.purchase{value: lowered}(ethAgentId, 1, ETH_PRICE);
        assertEq(creditId, marketplace.creditIdOf(ethAgentId, lowered));
        assertEq(alice.balance, ETH_PRICE - lowered);
    }

    function testFuzz_purchase_usdc_revertsIffPriceAboveMax(uint96 price, uint256 maxUnitPrice) public {
        price = uint96(bound(price, 1, type(uint96).max / 4));
        _setPrice(usdcAgentId, price);
        _mintAndApprove(address(usdc), alice, uint256(price) * 2);

        vm.prank(alice);
        if (price > maxUnitPrice) {
            vm.expectRevert(
                abi.encodeWithSelector(IAgentMarketplace.PriceAboveMax.selector, price, maxUnitPrice)
            );
            marketplace.purchase(usdcAgentId, 2, maxUnitPrice);
            assertEq(usdc.balanceOf(alice), uint256(price) * 2);
        } else {
            marketplace.purchase(usdcAgentId, 2, maxUnitPrice);
            assertEq(usdc.balanceOf(alice), 0);
            assertEq(marketplace.balanceOf(alice, marketplace.creditIdOf(usdcAgentId, price)), 2);
        }
    }

    // ================================================================== price changes

    uint96 internal constant NEW_ETH_PRICE = ETH_PRICE * 3;

    /// @dev Alice buys 4 credits at ETH_PRICE, the price triples, she buys 1 more at the new price.
    function _buyAcrossPriceChange() internal returns (uint256 oldCredit, uint256 newCredit) {
        oldCredit = _buy(alice, ethAgentId, 4);
        _setPrice(ethAgentId, NEW_ETH_PRICE);
        newCredit = _buy(alice, ethAgentId, 1);
    }

    function test_priceChange_creditsCarryTheirPrice() public {
        (uint256 oldCredit, uint256 newCredit) = _buyAcrossPriceChange();
        assertEq(oldCredit, marketplace.creditIdOf(ethAgentId, ETH_PRICE));
        assertEq(newCredit, marketplace.creditIdOf(ethAgentId, NEW_ETH_PRICE));
        assertTrue(oldCredit != newCredit);
        assertEq(marketplace.balanceOf(alice, oldCredit), 4);
        assertEq(marketplace.balanceOf(alice, newCredit), 1);
        assertEq(address(marketplace).balance, uint256(ETH_PRICE) * 4 + NEW_ETH_PRICE);
    }

    function test_priceChange_escrowAndPayoutAtBoughtPrice() public {
        (uint256 oldCredit, uint256 newCredit) = _buyAcrossPriceChange();

        uint40 deadline = _expectedDeadline(ethAgentId);
        vm.expectEmit(true, true, true, true, address(marketplace));
        emit IAgentMarketplace.ExecutionRequested(
            1, ethAgentId, alice, developer, address(0), oldCredit, ETH_PRICE, INPUT_HASH, deadline
        );
        (uint256 id, IAgentMarketplace.Execution memory ex) = _request(alice, oldCredit);
        _settle(id, ex, true);
        uint256 oldFee = uint256(ETH_PRICE) * 250 / 10_000;
        assertEq(_withdrawable(address(0), developer), ETH_PRICE - oldFee);
        assertEq(_withdrawable(address(0), treasury), oldFee);

        (id, ex) = _request(alice, newCredit);
        _settle(id, ex, true);
        uint256 newFee = uint256(NEW_ETH_PRICE) * 250 / 10_000;
        assertEq(_withdrawable(address(0), developer), ETH_PRICE - oldFee + NEW_ETH_PRICE - newFee);
        assertEq(_withdrawable(address(0), treasury), oldFee + newFee);
    }

    function test_priceChange_refundReclaimAndCancelAtBoughtPrice() public {
        (uint256 oldCredit,) = _buyAcrossPriceChange();

        // Refund on failure.
        (uint256 id, IAgentMarketplace.Execution memory ex) = _request(alice, oldCredit);
        _settle(id, ex, false);
        assertEq(_withdrawable(address(0), alice), ETH_PRICE);

        // Reclaim after the deadline.
        (id, ex) = _request(alice, oldCredit);
        vm.warp(uint256(ex.deadline) + 1);
        vm.prank(alice);
        marketplace.reclaim(id, ex);
        assertEq(_withdrawable(address(0), alice), uint256(ETH_PRICE) * 2);

        // Cancel of unused credits.
        vm.expectEmit(true, true, true, true, address(marketplace));
        emit IAgentMarketplace.CreditsCancelled(alice, ethAgentId, oldCredit, 2, uint256(ETH_PRICE) * 2);
        vm.prank(alice);
        marketplace.cancel(oldCredit, 2);
        assertEq(_withdrawable(address(0), alice), uint256(ETH_PRICE) * 4);

        // Solvency: what is left in the contract is exactly the new-price credit plus what alice is owed.
        assertEq(address(marketplace).balance, uint256(ETH_PRICE) * 4 + NEW_ETH_PRICE);
    }

    function test_priceChange_doesNotMakeOldCreditsSpendableAtNewPrice() public {
        _buy(alice, ethAgentId, 1);
        _setPrice(ethAgentId, ETH_PRICE * 2);
        uint256 newPriceCredit = marketplace.creditIdOf(ethAgentId, ETH_PRICE * 2);
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(
                IERC1155Errors.ERC1155InsufficientBalance.selector, alice, 0, 1, newPriceCredit
            )
        );
        marketplace.requestExecution(newPriceCredit, INPUT_HASH);
    }

    // ================================================================== requestExecution

    function test_requestExecution_burnsOneCreditAndCommits() public {
        _buy(alice, ethAgentId, 2);
        uint40 deadline = uint40(block.timestamp) + ETH_MAX_DURATION + GRACE;

        vm.expectEmit(true, true, true, true, address(marketplace));
        emit IERC1155.TransferSingle(alice, alice, address(0), ethCredit, 1);
        vm.expectEmit(true, true, true, true, address(marketplace));
        emit IAgentMarketplace.ExecutionRequested(
            1, ethAgentId, alice, developer, address(0), ethCredit, ETH_PRICE, INPUT_HASH, deadline
        );
        vm.prank(alice);
        uint256 requestId = marketplace.requestExecution(ethCredit, INPUT_HASH);

        assertEq(requestId, 1);
        assertEq(marketplace.balanceOf(alice, ethCredit), 1);
        assertTrue(marketplace.isOpen(1));
        assertFalse(marketplace.isOpen(2));
        IAgentMarketplace.Execution memory expected =
            _execution(alice, developer, address(0), ethCredit, deadline);
        assertEq(marketplace.requestCommitment(1), keccak256(abi.encode(expected)));
        // A static struct encodes as its fields in order: what an off-chain relayer hashes.
        assertEq(
            marketplace.requestCommitment(1),
            keccak256(abi.encode(alice, developer, address(0), ethCredit, deadline))
        );
        assertEq(marketplace.nextRequestId(), 2);
        // The escrowed unit stays in the contract.
        assertEq(address(marketplace).balance, uint256(ETH_PRICE) * 2);
    }

    function test_requestExecution_sequentialIdsFromOne() public {
        uint256 aliceEth = _buy(alice, ethAgentId, 2);
        uint256 bobUsdc = _buy(bob, usdcAgentId, 1);
        vm.prank(alice);
        assertEq(marketplace.requestExecution(aliceEth, INPUT_HASH), 1);
        vm.prank(bob);
        assertEq(marketplace.requestExecution(bobUsdc, INPUT_HASH), 2);
        vm.prank(alice);
        assertEq(marketplace.requestExecution(aliceEth, bytes32(0)), 3);
        assertEq(marketplace.nextRequestId(), 4);
        for (uint256 id = 1; id <= 3; ++id) {
            assertTrue(marketplace.isOpen(id));
        }
    }

    function test_requestExecution_deadlineIsNowPlusMaxDurationPlusGrace() public {
        vm.warp(1_700_000_000);
        uint256 creditId = _buy(bob, usdcAgentId, 3);
        (, IAgentMarketplace.Execution memory ex) = _request(bob, creditId);
        assertEq(ex.deadline, 1_700_000_000 + USDC_MAX_DURATION + GRACE);
        assertEq(ex.requester, bob);
        assertEq(ex.developer, developer);
        assertEq(ex.token, address(usdc));
        assertEq(ex.creditId, usdcCredit);

        // New grace and max duration apply to later requests only.
        vm.prank(admin);
        marketplace.setSettlementGrace(0);
        vm.prank(developer);
        registry.updateAgent(usdcAgentId, USDC_PRICE, 2 minutes, USDC_IMAGE_DIGEST, USDC_METADATA_URI);
        (uint256 id2, IAgentMarketplace.Execution memory ex2) = _request(bob, creditId);
        assertEq(ex2.deadline, 1_700_000_000 + 2 minutes);
        assertEq(
            marketplace.requestCommitment(id2),
            _commitment(_execution(bob, developer, address(usdc), creditId, ex2.deadline))
        );
        assertEq(
            marketplace.requestCommitment(1),
            _commitment(_execution(bob, developer, address(usdc), creditId, ex.deadline))
        );
    }

    function test_requestExecution_revertsWhen_noCredit() public {
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(IERC1155Errors.ERC1155InsufficientBalance.selector, alice, 0, 1, ethCredit)
        );
        marketplace.requestExecution(ethCredit, INPUT_HASH);
        assertEq(marketplace.nextRequestId(), 1);
    }

    function test_requestExecution_revertsWhen_creditsSpent() public {
        _buy(alice, ethAgentId, 1);
        _request(alice, ethCredit);
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(IERC1155Errors.ERC1155InsufficientBalance.selector, alice, 0, 1, ethCredit)
        );
        marketplace.requestExecution(ethCredit, INPUT_HASH);
    }

    function test_requestExecution_revertsWhen_anotherHoldersCredit() public {
        _buy(alice, ethAgentId, 1);
        vm.prank(bob);
        vm.expectRevert(
            abi.encodeWithSelector(IERC1155Errors.ERC1155InsufficientBalance.selector, bob, 0, 1, ethCredit)
        );
        marketplace.requestExecution(ethCredit, INPUT_HASH);
    }

    function test_requestExecution_revertsWhen_unknownAgent() public {
        uint256 creditId = marketplace.creditIdOf(77, 1);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IAgentRegistry.UnknownAgent.selector, 77));
        marketplace.requestExecution(creditId, INPUT_HASH);
    }

    function test_requestExecution_revertsWhen_agentPaused() public {
        _buy(alice, ethAgentId, 1);
        _setStatus(ethAgentId, IAgentRegistry.Status.Paused);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IAgentMarketplace.AgentNotActive.selector, ethAgentId));
        marketplace.requestExecution(ethCredit, INPUT_HASH);
        assertEq(marketplace.balanceOf(alice, ethCredit), 1);
    }

    function test_requestExecution_revertsWhen_agentRetired() public {
        _buy(alice, usdcAgentId, 1);
        _setStatus(usdcAgentId, IAgentRegistry.Status.Retired);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IAgentMarketplace.AgentNotActive.selector, usdcAgentId));
        marketplace.requestExecution(usdcCredit, INPUT_HASH);
    }

    function test_requestExecution_revertsWhen_marketplacePaused() public {
        _buy(alice, ethAgentId, 1);
        _pause();
        vm.prank(alice);
        vm.expectRevert(IAgentMarketplace.MarketplacePaused.selector);
        marketplace.requestExecution(ethCredit, INPUT_HASH);
    }

    // ================================================================== the committed Execution

    function test_requestExecution_commitsDeveloperAndToken() public {
        uint256 bobAgent = _registerAgent(bob, address(usdc), USDC_PRICE);
        uint256 bobCredit = _buy(alice, bobAgent, 1);
        uint40 deadline = _expectedDeadline(bobAgent);
        (uint256 id, IAgentMarketplace.Execution memory ex) = _request(alice, bobCredit);

        assertEq(ex.requester, alice);
        assertEq(ex.developer, bob);
        assertEq(ex.token, address(usdc));
        assertEq(ex.creditId, bobCredit);
        assertEq(ex.deadline, deadline);
        assertEq(marketplace.requestCommitment(id), _commitment(ex));

        (uint256 id2, IAgentMarketplace.Execution memory ex2) = _buyAndRequest(alice, ethAgentId);
        assertEq(ex2.developer, developer);
        assertEq(ex2.token, address(0));
        assertEq(marketplace.requestCommitment(id2), _commitment(ex2));
    }

    function test_requestExecution_eventLayout() public {
        uint256 bobAgent = _registerAgent(bob, address(usdc), USDC_PRICE);
        uint256 bobCredit = _buy(alice, bobAgent, 1);
        uint40 deadline = _expectedDeadline(bobAgent);
        bytes32 inputHash = keccak256("input");

        vm.recordLogs();
        vm.prank(alice);
        uint256 id = marketplace.requestExecution(bobCredit, inputHash);
        Vm.Log[] memory logs = vm.getRecordedLogs();

        // The signature the bindings and the relayer decode.
        assertEq(
            IAgentMarketplace.ExecutionRequested.selector,
            keccak256(
                "ExecutionRequested(uint256,uint256,address,address,address,uint256,uint96,bytes32,uint40)"
            )
        );
        // TransferSingle (the burn), then ExecutionRequested.
        assertEq(logs.length, 2);
        Vm.Log memory log_ = logs[1];
        assertEq(log_.emitter, address(marketplace));
        assertEq(log_.topics.length, 4);
        assertEq(log_.topics[0], IAgentMarketplace.ExecutionRequested.selector);
        assertEq(log_.topics[1], bytes32(id));
        assertEq(log_.topics[2], bytes32(bobAgent));
        assertEq(log_.topics[3], bytes32(uint256(uint160(alice))));
        assertEq(log_.data, abi.encode(bob, address(usdc), bobCredit, USDC_PRICE, inputHash, deadline));

        (bool found, RequestedLog memory r) = _decodeRequested(log_);
        assertTrue(found);
        // The log carries the whole Execution: hashing its fields gives the stored commitment.
        assertEq(
            marketplace.requestCommitment(id),
            _commitment(_execution(r.requester, r.developer, r.token, r.creditId, r.deadline))
        );
    }

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

    /// @dev `ex` with field `field % 5` replaced by the matching forged value (which must differ).
    function _forge(
        IAgentMarketplace.Execution memory ex,
        uint256 field,
        address forgedAddress,
        uint256 forgedCreditId,
        uint40 forgedDeadline
    ) internal pure returns (IAgentMarketplace.Execution memory forged) {
        forged = _execution(ex.requester, ex.developer, ex.token, ex.creditId, ex.deadline);
        field %= 5;
        if (field == 0) {
            vm.assume(forgedAddress != ex.requester);
            forged.requester = forgedAddress;
        } else if (field == 1) {
            vm.assume(forgedAddress != ex.developer);
            forged.developer = forgedAddress;
        } else if (field == 2) {
            vm.assume(forgedAddress != ex.token);
            forged.token = forgedAddress;
        } else if (field == 3) {
            vm.assume(forgedCreditId != ex.creditId);
            forged.creditId = forgedCreditId;
        } else {
            vm.assume(forgedDeadline != ex.deadline);
            forged.deadline = forgedDeadline;
        }
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

    // ================================================================== credits are non-transferable

    function test_safeTransferFrom_revertsAlways() public {
        _buy(alice, ethAgentId, 2);
        vm.prank(alice);
        vm.expectRevert(Entitlements.CreditsAreNonTransferable.selector);
        marketplace.safeTransferFrom(alice, bob, ethCredit, 1, "");
        vm.prank(alice);
        vm.expectRevert(Entitlements.CreditsAreNonTransferable.selector);
        marketplace.safeTransferFrom(alice, alice, ethCredit, 1, "");
        vm.prank(alice);
        vm.expectRevert(Entitlements.CreditsAreNonTransferable.selector);
        marketplace.safeTransferFrom(alice, bob, ethCredit, 0, "");
        assertEq(marketplace.balanceOf(alice, ethCredit), 2);
        assertEq(marketplace.balanceOf(bob, ethCredit), 0);
    }

    function test_safeTransferFrom_revertsWhen_operatorNotApproved() public {
        _buy(alice, ethAgentId, 1);
        vm.prank(bob);
        vm.expectRevert(
            abi.encodeWithSelector(IERC1155Errors.ERC1155MissingApprovalForAll.selector, bob, alice)
        );
        marketplace.safeTransferFrom(alice, bob, ethCredit, 1, "");
    }

    function test_safeBatchTransferFrom_revertsAlways() public {
        _buy(alice, ethAgentId, 2);
        _buy(alice, usdcAgentId, 2);
        uint256[] memory ids = new uint256[](2);
        ids[0] = ethCredit;
        ids[1] = usdcCredit;
        uint256[] memory values = new uint256[](2);
        values[0] = 1;
        values[1] = 2;
        vm.prank(alice);
        vm.expectRevert(Entitlements.CreditsAreNonTransferable.selector);
        marketplace.safeBatchTransferFrom(alice, bob, ids, values, "");
        assertEq(marketplace.balanceOf(alice, ethCredit), 2);
        assertEq(marketplace.balanceOf(alice, usdcCredit), 2);
    }

    function test_setApprovalForAll_revertsAlways() public {
        vm.prank(alice);
        vm.expectRevert(Entitlements.CreditsAreNonTransferable.selector);
        marketplace.setApprovalForAll(bob, true);
        vm.prank(alice);
        vm.expectRevert(Entitlements.CreditsAreNonTransferable.selector);
        marketplace.setApprovalForAll(bob, false);
        assertFalse(marketplace.isApprovedForAll(alice, bob));
    }

    // ================================================================== ERC-1155 metadata and interfaces

    function test_uri_resolvesToRegistryMetadata() public {
        assertEq(marketplace.uri(ethCredit), ETH_METADATA_URI);
        assertEq(marketplace.uri(usdcCredit), USDC_METADATA_URI);
        // Any price of the same agent resolves to the agent's metadata.
        assertEq(marketplace.uri(marketplace.creditIdOf(ethAgentId, 1)), ETH_METADATA_URI);

        string memory newUri = "data:application/json,{\"name\":\"Echo v2\"}";
        vm.prank(developer);
        registry.updateAgent(ethAgentId, ETH_PRICE, ETH_MAX_DURATION, ETH_IMAGE_DIGEST, newUri);
        assertEq(marketplace.uri(ethCredit), newUri);
        assertEq(marketplace.uri(ethCredit), registry.metadataURI(ethAgentId));
    }

    function test_uri_revertsWhen_unknownAgent() public {
        uint256 unknownCredit = marketplace.creditIdOf(9, ETH_PRICE);
        vm.expectRevert(abi.encodeWithSelector(IAgentRegistry.UnknownAgent.selector, 9));
        marketplace.uri(unknownCredit);
        vm.expectRevert(abi.encodeWithSelector(IAgentRegistry.UnknownAgent.selector, 0));
        marketplace.uri(ETH_PRICE); // agent id 0
    }

    function test_supportsInterface() public view {
        assertTrue(marketplace.supportsInterface(type(IERC165).interfaceId));
        assertTrue(marketplace.supportsInterface(type(IERC1155).interfaceId));
        assertTrue(marketplace.supportsInterface(type(IERC1155MetadataURI).interfaceId));
        assertTrue(marketplace.supportsInterface(type(IAccessControl).interfaceId));
        assertTrue(marketplace.supportsInterface(type(IAccessControlDefaultAdminRules).interfaceId));
        assertEq(type(IERC1155).interfaceId, bytes4(0xd9b67a26));
        assertEq(type(IAccessControl).interfaceId, bytes4(0x7965db0b));
        assertFalse(marketplace.supportsInterface(0xffffffff));
    }

    // ================================================================== credit ids

    function test_creditIdOf_layout() public view {
        assertEq(marketplace.creditIdOf(1, 1), (uint256(1) << 96) | 1);
        assertEq(marketplace.creditIdOf(0, type(uint96).max), type(uint96).max);
        (uint256 agentId, uint96 price) = marketplace.decodeCreditId(ethCredit);
        assertEq(agentId, ethAgentId);
        assertEq(price, ETH_PRICE);
    }

    function testFuzz_creditId_roundTrip(uint256 agentId, uint96 price) public view {
        agentId = bound(agentId, 0, type(uint160).max);
        uint256 creditId = marketplace.creditIdOf(agentId, price);
        assertEq(creditId, CreditId.encode(agentId, price));
        assertEq(creditId >> 96, agentId);
        assertEq(uint96(creditId), price);

        (uint256 decodedAgent, uint96 decodedPrice) = marketplace.decodeCreditId(creditId);
        assertEq(decodedAgent, agentId);
        assertEq(decodedPrice, price);
        // Decoding then re-encoding any id is the identity.
        assertEq(marketplace.creditIdOf(decodedAgent, decodedPrice), creditId);
    }

    function testFuzz_creditId_injective(uint256 agentA, uint96 priceA, uint256 agentB, uint96 priceB)
        public
        pure
    {
        agentA = bound(agentA, 0, type(uint160).max);
        agentB = bound(agentB, 0, type(uint160).max);
        bool same = agentA == agentB && priceA == priceB;
        assertEq(CreditId.encode(agentA, priceA) == CreditId.encode(agentB, priceB), same);
    }

    function testFuzz_decodeCreditId_anyId(uint256 creditId) public view {
        (uint256 agentId, uint96 price) = marketplace.decodeCreditId(creditId);
        assertLe(agentId, type(uint160).max);
        assertEq(marketplace.creditIdOf(agentId, price), creditId);
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
