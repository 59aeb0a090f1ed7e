// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ERC1155Holder} from "@openzeppelin/contracts/token/ERC1155/utils/ERC1155Holder.sol";
import {AgentMarketplace} from "../../contracts/AgentMarketplace.sol";
import {IAgentMarketplace} from "../../contracts/interfaces/IAgentMarketplace.sol";
import {IAgentRegistry} from "../../contracts/interfaces/IAgentRegistry.sol";

interface IMintable {
    function mint(address to, uint256 amount) external;
}

/// @title BenchDriver
/// @notice Test-only: drives many marketplace events per transaction so the indexer benchmark
/// (`make bench-indexer`) can build a chain of 100,000+ real events in seconds. Each loop
/// iteration buys one credit, spends it on a request and settles that request (alternating
/// success and failure): five marketplace events (Purchased, TransferSingle mint, TransferSingle
/// burn, ExecutionRequested, ExecutionSettled).
/// @dev Must hold the marketplace's RELAYER_ROLE to settle. Never deployed outside benchmarks.
contract BenchDriver is ERC1155Holder {
    AgentMarketplace public immutable marketplace;
    IAgentRegistry public immutable registry;

    constructor(AgentMarketplace marketplace_, IAgentRegistry registry_) {
        marketplace = marketplace_;
        registry = registry_;
    }

    /// @notice Runs `iterations` buy → request → settle loops on `agentId`, which must be priced
    /// in a token with an open `mint` (TestUSDC).
    function run(uint256 agentId, uint256 iterations) external {
        IAgentRegistry.AgentTerms memory t = registry.terms(agentId);
        uint256 cost = uint256(t.price) * iterations;
        IMintable(t.paymentToken).mint(address(this), cost);
        IERC20(t.paymentToken).approve(address(marketplace), cost);
        uint40 deadline = uint40(block.timestamp) + t.maxDuration + marketplace.settlementGrace();
        for (uint256 i; i < iterations; ++i) {
            uint256 creditId = marketplace.purchase(agentId, 1, t.price);
            uint256 requestId = marketplace.requestExecution(creditId, keccak256(abi.encode(i)));
            IAgentMarketplace.Execution memory execution = IAgentMarketplace.Execution({
                requester: address(this),
                developer: t.developer,
                token: t.paymentToken,
                creditId: creditId,
                deadline: deadline
            });
            marketplace.settle(requestId, execution, i % 2 == 0, keccak256(abi.encode(requestId)));
        }
    }
}
