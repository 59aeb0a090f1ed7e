// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {
    IAccessControlDefaultAdminRules
} from "@openzeppelin/contracts/access/extensions/IAccessControlDefaultAdminRules.sol";
import {IERC1155Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {IERC1155} from "@openzeppelin/contracts/token/ERC1155/IERC1155.sol";
import {IERC1155MetadataURI} from "@openzeppelin/contracts/token/ERC1155/extensions/IERC1155MetadataURI.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";

import {Entitlements} from "../../contracts/Entitlements.sol";
import {IAgentRegistry} from "../../contracts/interfaces/IAgentRegistry.sol";
import {CreditId} from "../../contracts/libraries/CreditId.sol";
import {MarketplaceTestBase} from "./MarketplaceTestBase.sol";

/// @dev AgentMarketplace: the ERC-1155 credits: non-transferable, metadata, interfaces and credit ids.
contract MarketplaceCreditsTest is MarketplaceTestBase {
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
}
