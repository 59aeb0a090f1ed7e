// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC1155Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {IERC1155} from "@openzeppelin/contracts/token/ERC1155/IERC1155.sol";
import {Vm} from "forge-std/Vm.sol";

import {IAgentMarketplace} from "../../contracts/interfaces/IAgentMarketplace.sol";
import {IAgentRegistry} from "../../contracts/interfaces/IAgentRegistry.sol";
import {MarketplaceTestBase} from "./MarketplaceTestBase.sol";

/// @dev AgentMarketplace: requestExecution and the Execution it commits.
contract MarketplaceExecutionTest is MarketplaceTestBase {
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
}
