// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ERC1155} from "@openzeppelin/contracts/token/ERC1155/ERC1155.sol";
import {IAgentRegistry} from "./interfaces/IAgentRegistry.sol";
import {CreditId} from "./libraries/CreditId.sol";

/// @title Entitlements
/// @notice ERC-1155 execution credits: one token is one prepaid, unused execution of one agent at
/// the unit price encoded in its id (see CreditId).
/// @dev Abstract: the marketplace is the ERC-1155 contract itself, so minting on purchase and
/// burning on request cost no external call. Credits are tied to the funds their buyer escrowed,
/// so every transfer between two accounts reverts; only mint (from zero) and burn (to zero) pass.
abstract contract Entitlements is ERC1155 {
    /// @notice The registry whose metadata `uri` resolves through.
    IAgentRegistry public immutable registry;

    /// @dev Credits move only by mint and burn.
    error CreditsAreNonTransferable();

    constructor(IAgentRegistry registry_) ERC1155("") {
        registry = registry_;
    }

    /// @notice The metadata URI of the agent the credit belongs to (JSON with name, description,
    /// schemas). Reverts with `UnknownAgent` for ids whose agent was never registered.
    function uri(uint256 creditId) public view override returns (string memory) {
        (uint256 agentId,) = CreditId.decode(creditId);
        return registry.metadataURI(agentId);
    }

    /// @notice Approvals are meaningless for non-transferable credits and are refused.
    function setApprovalForAll(address, bool) public pure override {
        revert CreditsAreNonTransferable();
    }

    /// @dev Lets mints and burns through; refuses account-to-account transfers.
    function _update(address from, address to, uint256[] memory ids, uint256[] memory values)
        internal
        virtual
        override
    {
        if (from != address(0) && to != address(0)) revert CreditsAreNonTransferable();
        super._update(from, to, ids, values);
    }
}
