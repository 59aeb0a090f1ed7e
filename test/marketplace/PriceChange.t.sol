// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC1155Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";

import {IAgentMarketplace} from "../../contracts/interfaces/IAgentMarketplace.sol";
import {MarketplaceTestBase} from "./MarketplaceTestBase.sol";

/// @dev AgentMarketplace: credits keep the price they were bought at across a price change.
contract MarketplacePriceChangeTest is MarketplaceTestBase {
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
}
