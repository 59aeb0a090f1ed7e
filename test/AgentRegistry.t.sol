// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {
    IAccessControlDefaultAdminRules
} from "@openzeppelin/contracts/access/extensions/IAccessControlDefaultAdminRules.sol";

import {AgentRegistry} from "../contracts/AgentRegistry.sol";
import {IAgentRegistry} from "../contracts/interfaces/IAgentRegistry.sol";
import {BaseTest} from "./utils/Fixtures.sol";

contract AgentRegistryTest is BaseTest {
    bytes32 internal CURATOR_ROLE;
    bytes32 internal constant DEFAULT_ADMIN_ROLE = 0x00;

    bytes32 internal constant NEW_DIGEST = keccak256("agentnexus/echo@sha256:v2");
    string internal constant NEW_URI = "ipfs://bafy-echo-agent/v2.json";

    function setUp() public override {
        super.setUp();
        CURATOR_ROLE = registry.CURATOR_ROLE();
    }

    function _validParams() internal view returns (IAgentRegistry.AgentParams memory params) {
        params = _agentParams(bob, address(usdc), 42e6, 30 minutes, keccak256("image"), "ipfs://agent.json");
        params.category = IAgentRegistry.Category.Crypto;
    }

    function _expectRegisterRevert(IAgentRegistry.AgentParams memory params, bytes memory err) internal {
        vm.prank(curator);
        vm.expectRevert(err);
        registry.registerAgent(params);
    }

    function _assertUnchangedEthAgent() internal view {
        IAgentRegistry.Agent memory agent = registry.getAgent(ethAgentId);
        assertEq(agent.terms.price, ETH_PRICE);
        assertEq(agent.terms.maxDuration, ETH_MAX_DURATION);
        assertEq(agent.imageDigest, ETH_IMAGE_DIGEST);
        assertEq(agent.metadataURI, ETH_METADATA_URI);
    }

    // ------------------------------------------------------------------ deployment

    function test_constructor_setsAdminCuratorAndDelay() public view {
        assertEq(registry.defaultAdmin(), admin);
        assertEq(registry.defaultAdminDelay(), ADMIN_DELAY);
        assertTrue(registry.hasRole(DEFAULT_ADMIN_ROLE, admin));
        assertTrue(registry.hasRole(CURATOR_ROLE, admin));
        assertTrue(registry.hasRole(CURATOR_ROLE, curator));
        assertFalse(registry.hasRole(CURATOR_ROLE, stranger));
        assertEq(registry.getRoleAdmin(CURATOR_ROLE), DEFAULT_ADMIN_ROLE);
        assertEq(CURATOR_ROLE, keccak256("CURATOR_ROLE"));
        assertEq(registry.MAX_DURATION_LIMIT(), 7 days);
    }

    function test_constructor_revertsWhen_adminIsZero() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControlDefaultAdminRules.AccessControlInvalidDefaultAdmin.selector, address(0)
            )
        );
        new AgentRegistry(ADMIN_DELAY, address(0));
    }

    function test_supportsInterface() public view {
        assertTrue(registry.supportsInterface(type(IAccessControl).interfaceId));
        assertTrue(registry.supportsInterface(type(IAccessControlDefaultAdminRules).interfaceId));
        assertFalse(registry.supportsInterface(0xffffffff));
    }

    // ------------------------------------------------------------------ registerAgent

    function test_registerAgent_storesEveryField() public {
        IAgentRegistry.AgentParams memory params = _validParams();
        vm.prank(curator);
        uint256 agentId = registry.registerAgent(params);

        assertEq(agentId, 3);
        IAgentRegistry.Agent memory agent = registry.getAgent(agentId);
        assertEq(agent.terms.developer, bob);
        assertEq(agent.terms.paymentToken, address(usdc));
        assertEq(agent.terms.price, 42e6);
        assertEq(agent.terms.maxDuration, 30 minutes);
        assertEq(uint8(agent.terms.status), uint8(IAgentRegistry.Status.Active));
        assertEq(uint8(agent.terms.category), uint8(IAgentRegistry.Category.Crypto));
        assertEq(agent.imageDigest, keccak256("image"));
        assertEq(agent.metadataURI, "ipfs://agent.json");

        IAgentRegistry.AgentTerms memory t = registry.terms(agentId);
        assertEq(keccak256(abi.encode(t)), keccak256(abi.encode(agent.terms)));
        assertEq(registry.metadataURI(agentId), "ipfs://agent.json");
    }

    function test_registerAgent_fixtureAgents() public view {
        assertEq(ethAgentId, 1);
        assertEq(usdcAgentId, 2);
        assertEq(registry.agentCount(), 2);
        assertEq(registry.terms(ethAgentId).paymentToken, address(0));
        assertEq(registry.terms(usdcAgentId).paymentToken, address(usdc));
        assertEq(uint8(registry.terms(usdcAgentId).category), uint8(IAgentRegistry.Category.General));
    }

    function test_registerAgent_assignsSequentialIds() public {
        IAgentRegistry.AgentParams memory params = _validParams();
        vm.startPrank(curator);
        assertEq(registry.registerAgent(params), 3);
        assertEq(registry.registerAgent(params), 4);
        assertEq(registry.registerAgent(params), 5);
        vm.stopPrank();
        assertEq(registry.agentCount(), 5);
    }

    function test_registerAgent_emitsAgentRegistered() public {
        IAgentRegistry.AgentParams memory params = _validParams();
        vm.expectEmit(true, true, true, true, address(registry));
        emit IAgentRegistry.AgentRegistered(
            3,
            bob,
            address(usdc),
            42e6,
            30 minutes,
            IAgentRegistry.Category.Crypto,
            IAgentRegistry.Status.Active,
            keccak256("image"),
            "ipfs://agent.json"
        );
        vm.prank(curator);
        registry.registerAgent(params);
    }

    function test_registerAgent_byAdminAsInitialCurator() public {
        vm.prank(admin);
        assertEq(registry.registerAgent(_validParams()), 3);
    }

    function test_registerAgent_acceptsEthAndMaxDurationLimit() public {
        IAgentRegistry.AgentParams memory params = _validParams();
        params.paymentToken = address(0);
        params.maxDuration = 7 days;
        vm.prank(curator);
        uint256 agentId = registry.registerAgent(params);
        assertEq(registry.terms(agentId).paymentToken, address(0));
        assertEq(registry.terms(agentId).maxDuration, 7 days);
    }

    function test_registerAgent_revertsWhen_callerNotCurator() public {
        vm.prank(stranger);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, stranger, CURATOR_ROLE
            )
        );
        registry.registerAgent(_validParams());
    }

    function test_registerAgent_revertsWhen_developerIsZero() public {
        IAgentRegistry.AgentParams memory params = _validParams();
        params.developer = address(0);
        _expectRegisterRevert(params, abi.encodeWithSelector(IAgentRegistry.InvalidDeveloper.selector));
    }

    function test_registerAgent_revertsWhen_paymentTokenIsEOA() public {
        IAgentRegistry.AgentParams memory params = _validParams();
        params.paymentToken = stranger;
        _expectRegisterRevert(
            params, abi.encodeWithSelector(IAgentRegistry.InvalidPaymentToken.selector, stranger)
        );
    }

    function test_registerAgent_revertsWhen_priceIsZero() public {
        IAgentRegistry.AgentParams memory params = _validParams();
        params.price = 0;
        _expectRegisterRevert(params, abi.encodeWithSelector(IAgentRegistry.InvalidPrice.selector));
    }

    function test_registerAgent_revertsWhen_maxDurationIsZero() public {
        IAgentRegistry.AgentParams memory params = _validParams();
        params.maxDuration = 0;
        _expectRegisterRevert(
            params, abi.encodeWithSelector(IAgentRegistry.InvalidMaxDuration.selector, uint32(0))
        );
    }

    function test_registerAgent_revertsWhen_maxDurationTooLong() public {
        IAgentRegistry.AgentParams memory params = _validParams();
        params.maxDuration = 7 days + 1;
        _expectRegisterRevert(
            params, abi.encodeWithSelector(IAgentRegistry.InvalidMaxDuration.selector, uint32(7 days + 1))
        );
    }

    function test_registerAgent_revertsWhen_imageDigestIsZero() public {
        IAgentRegistry.AgentParams memory params = _validParams();
        params.imageDigest = bytes32(0);
        _expectRegisterRevert(params, abi.encodeWithSelector(IAgentRegistry.InvalidImageDigest.selector));
    }

    function test_registerAgent_revertsWhen_metadataURIIsEmpty() public {
        IAgentRegistry.AgentParams memory params = _validParams();
        params.metadataURI = "";
        _expectRegisterRevert(params, abi.encodeWithSelector(IAgentRegistry.EmptyMetadataURI.selector));
    }

    function test_registerAgent_revertsLeaveCountUnchanged() public {
        IAgentRegistry.AgentParams memory params = _validParams();
        params.price = 0;
        vm.prank(curator);
        vm.expectRevert(IAgentRegistry.InvalidPrice.selector);
        registry.registerAgent(params);
        assertEq(registry.agentCount(), 2);
        vm.expectRevert(abi.encodeWithSelector(IAgentRegistry.UnknownAgent.selector, 3));
        registry.getAgent(3);
    }

    function testFuzz_registerAgent_roundTrip(
        address developer_,
        uint96 price,
        uint32 maxDuration,
        bool crypto,
        bytes32 imageDigest,
        string calldata uri
    ) public {
        vm.assume(developer_ != address(0) && imageDigest != bytes32(0) && bytes(uri).length != 0);
        price = uint96(bound(price, 1, type(uint96).max));
        maxDuration = uint32(bound(maxDuration, 1, 7 days));
        IAgentRegistry.AgentParams memory params =
            _agentParams(developer_, address(0), price, maxDuration, imageDigest, uri);
        params.category = crypto ? IAgentRegistry.Category.Crypto : IAgentRegistry.Category.General;

        vm.prank(curator);
        uint256 agentId = registry.registerAgent(params);

        IAgentRegistry.Agent memory agent = registry.getAgent(agentId);
        assertEq(agent.terms.developer, developer_);
        assertEq(agent.terms.paymentToken, address(0));
        assertEq(agent.terms.price, price);
        assertEq(agent.terms.maxDuration, maxDuration);
        assertEq(uint8(agent.terms.status), uint8(IAgentRegistry.Status.Active));
        assertEq(uint8(agent.terms.category), uint8(params.category));
        assertEq(agent.imageDigest, imageDigest);
        assertEq(agent.metadataURI, uri);
    }

    function testFuzz_registerAgent_revertsWhen_maxDurationOutOfRange(uint32 maxDuration) public {
        vm.assume(maxDuration == 0 || maxDuration > 7 days);
        IAgentRegistry.AgentParams memory params = _validParams();
        params.maxDuration = maxDuration;
        _expectRegisterRevert(
            params, abi.encodeWithSelector(IAgentRegistry.InvalidMaxDuration.selector, maxDuration)
        );
    }

    // ------------------------------------------------------------------ updateAgent

    function test_updateAgent_byDeveloper() public {
        vm.expectEmit(true, true, true, true, address(registry));
        emit IAgentRegistry.AgentUpdated(ethAgentId, developer, 0.02 ether, 2 hours, NEW_DIGEST, NEW_URI);
        vm.prank(developer);
        registry.updateAgent(ethAgentId, 0.02 ether, 2 hours, NEW_DIGEST, NEW_URI);

        IAgentRegistry.Agent memory agent = registry.getAgent(ethAgentId);
        assertEq(agent.terms.price, 0.02 ether);
        assertEq(agent.terms.maxDuration, 2 hours);
        assertEq(agent.imageDigest, NEW_DIGEST);
        assertEq(agent.metadataURI, NEW_URI);
        // Immutable fields and status are untouched.
        assertEq(agent.terms.developer, developer);
        assertEq(agent.terms.paymentToken, address(0));
        assertEq(uint8(agent.terms.status), uint8(IAgentRegistry.Status.Active));
        assertEq(uint8(agent.terms.category), uint8(IAgentRegistry.Category.General));
    }

    function test_updateAgent_byCurator() public {
        vm.expectEmit(true, true, true, true, address(registry));
        emit IAgentRegistry.AgentUpdated(usdcAgentId, curator, 7e6, 5 minutes, NEW_DIGEST, NEW_URI);
        vm.prank(curator);
        registry.updateAgent(usdcAgentId, 7e6, 5 minutes, NEW_DIGEST, NEW_URI);

        IAgentRegistry.Agent memory agent = registry.getAgent(usdcAgentId);
        assertEq(agent.terms.price, 7e6);
        assertEq(agent.terms.maxDuration, 5 minutes);
        assertEq(agent.imageDigest, NEW_DIGEST);
        assertEq(agent.metadataURI, NEW_URI);
        assertEq(agent.terms.developer, developer);
        assertEq(agent.terms.paymentToken, address(usdc));
    }

    function test_updateAgent_whilePaused() public {
        _setStatus(ethAgentId, IAgentRegistry.Status.Paused);
        vm.prank(developer);
        registry.updateAgent(ethAgentId, 1, 1, NEW_DIGEST, NEW_URI);
        assertEq(registry.terms(ethAgentId).price, 1);
        assertEq(uint8(registry.terms(ethAgentId).status), uint8(IAgentRegistry.Status.Paused));
    }

    function test_updateAgent_revertsWhen_callerIsStranger() public {
        vm.prank(stranger);
        vm.expectRevert(
            abi.encodeWithSelector(IAgentRegistry.NotDeveloperOrCurator.selector, ethAgentId, stranger)
        );
        registry.updateAgent(ethAgentId, 1, 1, NEW_DIGEST, NEW_URI);
        _assertUnchangedEthAgent();
    }

    function test_updateAgent_revertsWhen_callerIsAnotherAgentsDeveloper() public {
        uint256 bobsAgent = _registerAgent(bob, address(0), 1 ether);
        vm.prank(bob);
        vm.expectRevert(
            abi.encodeWithSelector(IAgentRegistry.NotDeveloperOrCurator.selector, ethAgentId, bob)
        );
        registry.updateAgent(ethAgentId, 1, 1, NEW_DIGEST, NEW_URI);
        // ...while bob can update his own.
        vm.prank(bob);
        registry.updateAgent(bobsAgent, 2 ether, 1, NEW_DIGEST, NEW_URI);
        assertEq(registry.terms(bobsAgent).price, 2 ether);
    }

    function test_updateAgent_revertsWhen_unknownAgent() public {
        vm.prank(curator);
        vm.expectRevert(abi.encodeWithSelector(IAgentRegistry.UnknownAgent.selector, 3));
        registry.updateAgent(3, 1, 1, NEW_DIGEST, NEW_URI);
    }

    function test_updateAgent_revertsWhen_retired() public {
        _setStatus(ethAgentId, IAgentRegistry.Status.Retired);
        vm.prank(developer);
        vm.expectRevert(abi.encodeWithSelector(IAgentRegistry.AgentIsRetired.selector, ethAgentId));
        registry.updateAgent(ethAgentId, 1, 1, NEW_DIGEST, NEW_URI);
        vm.prank(curator);
        vm.expectRevert(abi.encodeWithSelector(IAgentRegistry.AgentIsRetired.selector, ethAgentId));
        registry.updateAgent(ethAgentId, 1, 1, NEW_DIGEST, NEW_URI);
        _assertUnchangedEthAgent();
    }

    function test_updateAgent_revertsWhen_priceIsZero() public {
        vm.prank(developer);
        vm.expectRevert(IAgentRegistry.InvalidPrice.selector);
        registry.updateAgent(ethAgentId, 0, 1, NEW_DIGEST, NEW_URI);
    }

    function test_updateAgent_revertsWhen_maxDurationIsZero() public {
        vm.prank(developer);
        vm.expectRevert(abi.encodeWithSelector(IAgentRegistry.InvalidMaxDuration.selector, uint32(0)));
        registry.updateAgent(ethAgentId, 1, 0, NEW_DIGEST, NEW_URI);
    }

    function test_updateAgent_revertsWhen_maxDurationTooLong() public {
        vm.prank(developer);
        vm.expectRevert(
            abi.encodeWithSelector(IAgentRegistry.InvalidMaxDuration.selector, uint32(7 days + 1))
        );
        registry.updateAgent(ethAgentId, 1, 7 days + 1, NEW_DIGEST, NEW_URI);
    }

    function test_updateAgent_revertsWhen_imageDigestIsZero() public {
        vm.prank(developer);
        vm.expectRevert(IAgentRegistry.InvalidImageDigest.selector);
        registry.updateAgent(ethAgentId, 1, 1, bytes32(0), NEW_URI);
    }

    function test_updateAgent_revertsWhen_metadataURIIsEmpty() public {
        vm.prank(developer);
        vm.expectRevert(IAgentRegistry.EmptyMetadataURI.selector);
        registry.updateAgent(ethAgentId, 1, 1, NEW_DIGEST, "");
    }

    // ------------------------------------------------------------------ setStatus

    function test_setStatus_pauseAndResume() public {
        vm.expectEmit(true, true, true, true, address(registry));
        emit IAgentRegistry.AgentStatusChanged(
            ethAgentId, IAgentRegistry.Status.Active, IAgentRegistry.Status.Paused
        );
        _setStatus(ethAgentId, IAgentRegistry.Status.Paused);
        assertEq(uint8(registry.terms(ethAgentId).status), uint8(IAgentRegistry.Status.Paused));

        vm.expectEmit(true, true, true, true, address(registry));
        emit IAgentRegistry.AgentStatusChanged(
            ethAgentId, IAgentRegistry.Status.Paused, IAgentRegistry.Status.Active
        );
        _setStatus(ethAgentId, IAgentRegistry.Status.Active);
        assertEq(uint8(registry.terms(ethAgentId).status), uint8(IAgentRegistry.Status.Active));
    }

    function test_setStatus_pausedToRetired() public {
        _setStatus(ethAgentId, IAgentRegistry.Status.Paused);
        vm.expectEmit(true, true, true, true, address(registry));
        emit IAgentRegistry.AgentStatusChanged(
            ethAgentId, IAgentRegistry.Status.Paused, IAgentRegistry.Status.Retired
        );
        _setStatus(ethAgentId, IAgentRegistry.Status.Retired);
        assertEq(uint8(registry.terms(ethAgentId).status), uint8(IAgentRegistry.Status.Retired));
    }

    function test_setStatus_onlyTouchesStatus() public {
        _setStatus(usdcAgentId, IAgentRegistry.Status.Retired);
        IAgentRegistry.Agent memory agent = registry.getAgent(usdcAgentId);
        assertEq(agent.terms.developer, developer);
        assertEq(agent.terms.paymentToken, address(usdc));
        assertEq(agent.terms.price, USDC_PRICE);
        assertEq(agent.terms.maxDuration, USDC_MAX_DURATION);
        assertEq(agent.imageDigest, USDC_IMAGE_DIGEST);
        assertEq(agent.metadataURI, USDC_METADATA_URI);
    }

    function test_setStatus_revertsWhen_callerNotCurator() public {
        vm.prank(developer);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, developer, CURATOR_ROLE
            )
        );
        registry.setStatus(ethAgentId, IAgentRegistry.Status.Paused);
    }

    function test_setStatus_revertsWhen_unknownAgent() public {
        vm.prank(curator);
        vm.expectRevert(abi.encodeWithSelector(IAgentRegistry.UnknownAgent.selector, 0));
        registry.setStatus(0, IAgentRegistry.Status.Paused);
    }

    function test_setStatus_revertsWhen_unchanged() public {
        vm.prank(curator);
        vm.expectRevert(
            abi.encodeWithSelector(IAgentRegistry.StatusUnchanged.selector, IAgentRegistry.Status.Active)
        );
        registry.setStatus(ethAgentId, IAgentRegistry.Status.Active);

        _setStatus(ethAgentId, IAgentRegistry.Status.Paused);
        vm.prank(curator);
        vm.expectRevert(
            abi.encodeWithSelector(IAgentRegistry.StatusUnchanged.selector, IAgentRegistry.Status.Paused)
        );
        registry.setStatus(ethAgentId, IAgentRegistry.Status.Paused);
    }

    function test_setStatus_revertsWhen_retiredIsFinal() public {
        _setStatus(ethAgentId, IAgentRegistry.Status.Retired);
        for (uint8 s; s < 3; ++s) {
            vm.prank(curator);
            vm.expectRevert(abi.encodeWithSelector(IAgentRegistry.AgentIsRetired.selector, ethAgentId));
            registry.setStatus(ethAgentId, IAgentRegistry.Status(s));
        }
        assertEq(uint8(registry.terms(ethAgentId).status), uint8(IAgentRegistry.Status.Retired));
    }

    // ------------------------------------------------------------------ views

    function test_views_revertWhen_unknownAgent() public {
        uint256[3] memory unknown = [uint256(0), 3, type(uint256).max];
        for (uint256 i; i < unknown.length; ++i) {
            bytes memory err = abi.encodeWithSelector(IAgentRegistry.UnknownAgent.selector, unknown[i]);
            vm.expectRevert(err);
            registry.getAgent(unknown[i]);
            vm.expectRevert(err);
            registry.terms(unknown[i]);
            vm.expectRevert(err);
            registry.metadataURI(unknown[i]);
        }
    }

    function test_agentCount_startsAtZero() public {
        AgentRegistry fresh = new AgentRegistry(ADMIN_DELAY, admin);
        assertEq(fresh.agentCount(), 0);
        vm.expectRevert(abi.encodeWithSelector(IAgentRegistry.UnknownAgent.selector, 1));
        fresh.terms(1);
    }

    function test_metadataURI_dataURIRoundTrip() public {
        string memory uri = string.concat(
            "data:application/json;base64,",
            "eyJuYW1lIjoiRWNobyIsImRlc2NyaXB0aW9uIjoiUmV0dXJucyBpdHMgaW5wdXQuIiwiaW5wdXRTY2hlbWEiOnsidHlwZSI6",
            "Im9iamVjdCIsInByb3BlcnRpZXMiOnsicHJvbXB0Ijp7InR5cGUiOiJzdHJpbmcifX19LCJvdXRwdXRTY2hlbWEiOnsidHlw",
            "ZSI6Im9iamVjdCJ9fQ=="
        );
        IAgentRegistry.AgentParams memory params = _validParams();
        params.metadataURI = uri;
        uint256 agentId = _registerAgent(params);
        assertEq(registry.metadataURI(agentId), uri);
        assertEq(registry.getAgent(agentId).metadataURI, uri);

        string memory plain =
            'data:application/json,{"name":"Echo","tags":["a","b"],"unicode":"\u00e9\u00e8"}';
        vm.prank(bob);
        registry.updateAgent(agentId, 1, 1, NEW_DIGEST, plain);
        assertEq(registry.metadataURI(agentId), plain);
        // The marketplace's ERC-1155 uri resolves through the registry.
        assertEq(marketplace.uri(marketplace.creditIdOf(agentId, 1)), plain);
    }

    // ------------------------------------------------------------------ roles and admin transfer

    function test_grantCurator_byAdmin() public {
        vm.prank(admin);
        registry.grantRole(CURATOR_ROLE, bob);
        vm.prank(bob);
        assertEq(registry.registerAgent(_validParams()), 3);

        vm.prank(admin);
        registry.revokeRole(CURATOR_ROLE, bob);
        vm.prank(bob);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, bob, CURATOR_ROLE
            )
        );
        registry.registerAgent(_validParams());
    }

    function test_grantCurator_revertsWhen_callerNotAdmin() public {
        vm.prank(curator);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, curator, DEFAULT_ADMIN_ROLE
            )
        );
        registry.grantRole(CURATOR_ROLE, bob);
    }

    function test_grantDefaultAdmin_revertsAlways() public {
        vm.prank(admin);
        vm.expectRevert(IAccessControlDefaultAdminRules.AccessControlEnforcedDefaultAdminRules.selector);
        registry.grantRole(DEFAULT_ADMIN_ROLE, bob);
    }

    function test_defaultAdminTransfer_afterDelay() public {
        address newAdmin = makeAddr("newAdmin");
        uint48 schedule = uint48(block.timestamp) + ADMIN_DELAY;

        vm.prank(admin);
        registry.beginDefaultAdminTransfer(newAdmin);
        (address pending, uint48 acceptSchedule) = registry.pendingDefaultAdmin();
        assertEq(pending, newAdmin);
        assertEq(acceptSchedule, schedule);

        // Not before the delay, not even at the exact schedule.
        vm.prank(newAdmin);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControlDefaultAdminRules.AccessControlEnforcedDefaultAdminDelay.selector, schedule
            )
        );
        registry.acceptDefaultAdminTransfer();
        vm.warp(schedule);
        vm.prank(newAdmin);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControlDefaultAdminRules.AccessControlEnforcedDefaultAdminDelay.selector, schedule
            )
        );
        registry.acceptDefaultAdminTransfer();
        assertEq(registry.defaultAdmin(), admin);

        // Only the pending admin may accept.
        vm.warp(schedule + 1);
        vm.prank(stranger);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControlDefaultAdminRules.AccessControlInvalidDefaultAdmin.selector, stranger
            )
        );
        registry.acceptDefaultAdminTransfer();

        vm.prank(newAdmin);
        registry.acceptDefaultAdminTransfer();
        assertEq(registry.defaultAdmin(), newAdmin);
        assertTrue(registry.hasRole(DEFAULT_ADMIN_ROLE, newAdmin));
        assertFalse(registry.hasRole(DEFAULT_ADMIN_ROLE, admin));
        (pending, acceptSchedule) = registry.pendingDefaultAdmin();
        assertEq(pending, address(0));
        assertEq(acceptSchedule, 0);

        // The new admin manages curators; the old one no longer can.
        vm.prank(newAdmin);
        registry.grantRole(CURATOR_ROLE, bob);
        assertTrue(registry.hasRole(CURATOR_ROLE, bob));
        vm.prank(admin);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, admin, DEFAULT_ADMIN_ROLE
            )
        );
        registry.grantRole(CURATOR_ROLE, stranger);
    }

    function test_beginDefaultAdminTransfer_revertsWhen_callerNotAdmin() public {
        vm.prank(curator);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, curator, DEFAULT_ADMIN_ROLE
            )
        );
        registry.beginDefaultAdminTransfer(curator);
    }

    function test_cancelDefaultAdminTransfer() public {
        address newAdmin = makeAddr("newAdmin");
        vm.prank(admin);
        registry.beginDefaultAdminTransfer(newAdmin);
        vm.prank(admin);
        registry.cancelDefaultAdminTransfer();

        vm.warp(block.timestamp + ADMIN_DELAY + 1);
        vm.prank(newAdmin);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControlDefaultAdminRules.AccessControlInvalidDefaultAdmin.selector, newAdmin
            )
        );
        registry.acceptDefaultAdminTransfer();
        assertEq(registry.defaultAdmin(), admin);
    }
}
