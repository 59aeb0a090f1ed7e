// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";

import {IAgentMarketplace} from "../../contracts/interfaces/IAgentMarketplace.sol";
import {BaseTest} from "../utils/Fixtures.sol";

/// @dev Shared state and helpers of the AgentMarketplace test suites in this directory: role ids,
/// the fixture agents' credit ids and small actions (pause, fee change, forged executions).
abstract contract MarketplaceTestBase is BaseTest {
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
}
