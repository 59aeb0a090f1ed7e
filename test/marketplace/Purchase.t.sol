// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC1155Errors, IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {IERC1155} from "@openzeppelin/contracts/token/ERC1155/IERC1155.sol";
import {stdError} from "forge-std/StdError.sol";

import {IAgentMarketplace} from "../../contracts/interfaces/IAgentMarketplace.sol";
import {IAgentRegistry} from "../../contracts/interfaces/IAgentRegistry.sol";
import {FeeOnTransferToken} from "../utils/FeeOnTransferToken.sol";
import {MarketplaceTestBase} from "./MarketplaceTestBase.sol";

/// @dev AgentMarketplace: buying credits in ETH and ERC-20, its reverts and the price bound.
contract MarketplacePurchaseTest is MarketplaceTestBase {
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
}
