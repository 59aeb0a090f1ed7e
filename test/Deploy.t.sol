// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {Test, Vm} from "forge-std/Test.sol";

import {AgentMarketplace} from "../contracts/AgentMarketplace.sol";
import {AgentRegistry} from "../contracts/AgentRegistry.sol";
import {IAgentRegistry} from "../contracts/interfaces/IAgentRegistry.sol";
import {TestUSDC} from "../contracts/mocks/TestUSDC.sol";
import {Deploy} from "../script/Deploy.s.sol";

/// @notice The role table `script/Deploy.s.sol` leaves behind. Holders are enumerated from the
/// contracts' own `RoleGranted`/`RoleRevoked` logs (every grant and revocation emits one, and the
/// contracts are not AccessControlEnumerable), then cross-checked with `hasRole` for every role
/// and every address the deployment knows, the deployer first.
contract DeployRolesTest is Test {
    bytes internal constant CREATE2_DEPLOYER_CODE =
        hex"7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe03601600081602082378035828234f58015156039578182fd5b8082525050506014600cf3";
    uint256 internal constant PRODUCTION_CHAIN_ID = 8453;
    uint48 internal constant ADMIN_DELAY = 2 days;

    bytes32 internal constant DEFAULT_ADMIN_ROLE = 0x00;
    bytes32 internal constant CURATOR_ROLE = keccak256("CURATOR_ROLE");
    bytes32 internal constant PAUSER_ROLE = keccak256("PAUSER_ROLE");
    bytes32 internal constant RELAYER_ROLE = keccak256("RELAYER_ROLE");

    /// @dev One row of a role table: `account` holds `role` on `target`.
    struct Grant {
        address target;
        bytes32 role;
        address account;
    }

    address internal deployer;
    uint256 internal deployerKey;
    address internal admin = makeAddr("multisig admin");
    address internal curator = makeAddr("curator");
    address internal relayer = makeAddr("relayer");
    address internal treasury = makeAddr("treasury");
    address internal sponsor = makeAddr("sponsor");

    function setUp() public {
        (deployer, deployerKey) = makeAddrAndKey("hot deployer");
        if (CREATE2_FACTORY.code.length == 0) vm.etch(CREATE2_FACTORY, CREATE2_DEPLOYER_CODE);
        vm.deal(deployer, 100 ether);
        // The deployments files these tests write go under target/ (cargo's, absent before a build).
        vm.createDir(string.concat(vm.projectRoot(), "/target"), true);
    }

    // ------------------------------------------------------------------ production

    /// @dev What an operator sets on a public chain: every holder named, a real USDC.
    function _productionConfig() internal returns (Deploy.Config memory c) {
        vm.chainId(PRODUCTION_CHAIN_ID);
        c.deployerKey = deployerKey;
        c.admin = admin;
        c.curator = curator;
        c.relayer = relayer;
        c.treasury = treasury;
        c.usdc = address(new TestUSDC());
        c.adminDelay = ADMIN_DELAY;
        c.settlementGrace = 300;
        c.sponsor = sponsor;
        c.paymasterDeposit = 1 ether;
        c.paymasterStake = 1 ether;
        c.unstakeDelay = 1 days;
        c.out = string.concat(vm.projectRoot(), "/target/deploy-roles-test.json");
    }

    /// @dev The named admin takes over everything the delayed transfers handed it.
    function _acceptHandover(Deploy.Deployment memory d) internal {
        vm.warp(block.timestamp + ADMIN_DELAY + 1);
        vm.startPrank(admin);
        d.registry.acceptDefaultAdminTransfer();
        d.marketplace.acceptDefaultAdminTransfer();
        d.paymaster.acceptOwnership();
        vm.stopPrank();
    }

    function test_production_finalRoleTable() public {
        Deploy.Config memory c = _productionConfig();
        vm.recordLogs();
        Deploy.Deployment memory d = new Deploy().deploy(c);
        _acceptHandover(d);

        Grant[] memory expected = new Grant[](5);
        expected[0] = Grant(address(d.registry), DEFAULT_ADMIN_ROLE, admin);
        expected[1] = Grant(address(d.registry), CURATOR_ROLE, curator);
        expected[2] = Grant(address(d.marketplace), DEFAULT_ADMIN_ROLE, admin);
        expected[3] = Grant(address(d.marketplace), PAUSER_ROLE, admin);
        expected[4] = Grant(address(d.marketplace), RELAYER_ROLE, relayer);
        _assertRoleTable(d, vm.getRecordedLogs(), expected);

        assertEq(d.registry.defaultAdmin(), admin);
        assertEq(d.marketplace.defaultAdmin(), admin);
        (address pendingRegistryAdmin,) = d.registry.pendingDefaultAdmin();
        (address pendingMarketplaceAdmin,) = d.marketplace.pendingDefaultAdmin();
        assertEq(pendingRegistryAdmin, address(0));
        assertEq(pendingMarketplaceAdmin, address(0));
        assertEq(d.paymaster.owner(), admin);
        assertEq(d.paymaster.pendingOwner(), address(0));
    }

    /// @dev Before the admin accepts, the deployer holds the default admin role on both contracts
    /// (the delayed transfer is pending) and nothing else.
    function test_production_beforeAcceptance_deployerHoldsOnlyThePendingAdminRole() public {
        Deploy.Config memory c = _productionConfig();
        vm.recordLogs();
        Deploy.Deployment memory d = new Deploy().deploy(c);

        Grant[] memory expected = new Grant[](5);
        expected[0] = Grant(address(d.registry), DEFAULT_ADMIN_ROLE, deployer);
        expected[1] = Grant(address(d.registry), CURATOR_ROLE, curator);
        expected[2] = Grant(address(d.marketplace), DEFAULT_ADMIN_ROLE, deployer);
        expected[3] = Grant(address(d.marketplace), PAUSER_ROLE, admin);
        expected[4] = Grant(address(d.marketplace), RELAYER_ROLE, relayer);
        _assertRoleTable(d, vm.getRecordedLogs(), expected);

        (address pendingRegistryAdmin,) = d.registry.pendingDefaultAdmin();
        (address pendingMarketplaceAdmin,) = d.marketplace.pendingDefaultAdmin();
        assertEq(pendingRegistryAdmin, admin);
        assertEq(pendingMarketplaceAdmin, admin);
        assertEq(d.paymaster.pendingOwner(), admin);
    }

    /// @dev The issue's scenario: after the handover the deploying key can neither pause the
    /// marketplace nor reprice, pause or retire an agent.
    function test_production_deployerCanNoLongerPauseOrCurate() public {
        Deploy.Config memory c = _productionConfig();
        Deploy.Deployment memory d = new Deploy().deploy(c);
        _acceptHandover(d);

        address developer = makeAddr("developer");
        vm.prank(curator);
        uint256 agentId = d.registry
            .registerAgent(
                IAgentRegistry.AgentParams({
                    developer: developer,
                    paymentToken: address(0),
                    price: 1 ether,
                    maxDuration: 60,
                    category: IAgentRegistry.Category(0),
                    imageDigest: keccak256("image"),
                    metadataURI: "ipfs://agent"
                })
            );

        vm.startPrank(deployer);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, deployer, PAUSER_ROLE
            )
        );
        d.marketplace.pause();
        vm.expectRevert(
            abi.encodeWithSelector(IAgentRegistry.NotDeveloperOrCurator.selector, agentId, deployer)
        );
        d.registry.updateAgent(agentId, 100 ether, 60, keccak256("image"), "ipfs://agent");
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, deployer, CURATOR_ROLE
            )
        );
        d.registry.setStatus(agentId, IAgentRegistry.Status.Paused);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, deployer, CURATOR_ROLE
            )
        );
        d.registry.setStatus(agentId, IAgentRegistry.Status.Retired);
        vm.stopPrank();

        // The named holders can.
        vm.prank(admin);
        d.marketplace.pause();
        vm.prank(curator);
        d.registry.setStatus(agentId, IAgentRegistry.Status.Paused);
    }

    /// @dev Naming only a curator: the deployer stays admin and pauser, but is no longer curator.
    function test_curatorNamedAlone_deployerIsNoCurator() public {
        Deploy.Config memory c = _productionConfig();
        c.admin = deployer;
        vm.recordLogs();
        Deploy.Deployment memory d = new Deploy().deploy(c);

        Grant[] memory expected = new Grant[](5);
        expected[0] = Grant(address(d.registry), DEFAULT_ADMIN_ROLE, deployer);
        expected[1] = Grant(address(d.registry), CURATOR_ROLE, curator);
        expected[2] = Grant(address(d.marketplace), DEFAULT_ADMIN_ROLE, deployer);
        expected[3] = Grant(address(d.marketplace), PAUSER_ROLE, deployer);
        expected[4] = Grant(address(d.marketplace), RELAYER_ROLE, relayer);
        _assertRoleTable(d, vm.getRecordedLogs(), expected);
    }

    function test_production_refusesAMissingUsdcOrHolder() public {
        Deploy.Config memory c = _productionConfig();
        Deploy script = new Deploy();
        c.usdc = address(0);
        vm.expectRevert(Deploy.UsdcRequired.selector);
        script.deploy(c);

        c = _productionConfig();
        c.curator = address(0);
        vm.expectRevert(abi.encodeWithSelector(Deploy.ZeroRoleHolder.selector, "curator"));
        script.deploy(c);
    }

    // ------------------------------------------------------------------ local dev

    /// @dev `make dev` and `testkit::deploy` name no holders: anvil account 0 deploys and keeps
    /// the admin, curator and pauser roles it needs, account 1 relays.
    function test_localDefaults_deployerKeepsWhatDevNeeds() public {
        vm.chainId(31_337);
        address anvil0 = 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266;
        address anvil1 = 0x70997970C51812dc3A010C7d01b50e0d17dc79C8;
        vm.deal(anvil0, 100 ether);
        Deploy script = new Deploy();
        Deploy.Config memory c = script.config();
        // Whatever the test runner's environment says, write under target/.
        c.out = string.concat(vm.projectRoot(), "/target/deploy-roles-local-test.json");
        deployer = vm.addr(c.deployerKey);
        assertEq(deployer, anvil0);
        assertEq(c.admin, anvil0);
        assertEq(c.curator, anvil0);
        assertEq(c.relayer, anvil1);

        vm.recordLogs();
        Deploy.Deployment memory d = script.deploy(c);

        Grant[] memory expected = new Grant[](5);
        expected[0] = Grant(address(d.registry), DEFAULT_ADMIN_ROLE, anvil0);
        expected[1] = Grant(address(d.registry), CURATOR_ROLE, anvil0);
        expected[2] = Grant(address(d.marketplace), DEFAULT_ADMIN_ROLE, anvil0);
        expected[3] = Grant(address(d.marketplace), PAUSER_ROLE, anvil0);
        expected[4] = Grant(address(d.marketplace), RELAYER_ROLE, anvil1);
        _assertRoleTable(d, vm.getRecordedLogs(), expected);
        assertEq(d.paymaster.owner(), anvil0);
    }

    // ------------------------------------------------------------------ the role table

    /// @dev Asserts that the holders of every role of the registry and the marketplace are
    /// exactly `expected`: once from the logs (every holder there is, whatever the role), once
    /// with `hasRole` for every role both contracts define and every address involved.
    function _assertRoleTable(Deploy.Deployment memory d, Vm.Log[] memory logs, Grant[] memory expected)
        internal
        view
    {
        Grant[] memory held = _holdersFromLogs(logs, address(d.registry), address(d.marketplace));
        for (uint256 i; i < held.length; ++i) {
            assertTrue(
                _contains(expected, held[i]),
                string.concat(
                    "unexpected holder ",
                    vm.toString(held[i].account),
                    " of role ",
                    vm.toString(held[i].role),
                    " on ",
                    vm.toString(held[i].target)
                )
            );
        }
        assertEq(held.length, expected.length, "number of role holders");

        // Every role either contract defines (the contracts' own constants, not this test's).
        assertEq(d.registry.CURATOR_ROLE(), CURATOR_ROLE);
        assertEq(d.marketplace.PAUSER_ROLE(), PAUSER_ROLE);
        assertEq(d.marketplace.RELAYER_ROLE(), RELAYER_ROLE);
        bytes32[4] memory roles = [DEFAULT_ADMIN_ROLE, CURATOR_ROLE, PAUSER_ROLE, RELAYER_ROLE];
        address[8] memory candidates =
            [deployer, admin, curator, relayer, treasury, sponsor, d.usdc, address(d.paymaster)];
        address[2] memory targets = [address(d.registry), address(d.marketplace)];
        for (uint256 t; t < targets.length; ++t) {
            for (uint256 r; r < roles.length; ++r) {
                // No role is administered by anything but the default admin.
                assertEq(IAccessControl(targets[t]).getRoleAdmin(roles[r]), DEFAULT_ADMIN_ROLE);
                for (uint256 a; a < candidates.length; ++a) {
                    assertEq(
                        IAccessControl(targets[t]).hasRole(roles[r], candidates[a]),
                        _contains(expected, Grant(targets[t], roles[r], candidates[a])),
                        string.concat(
                            "hasRole(", vm.toString(roles[r]), ", ", vm.toString(candidates[a]), ")"
                        )
                    );
                }
            }
        }
    }

    /// @dev Replays `RoleGranted`/`RoleRevoked` from `registry` and `marketplace`: the current
    /// holders of every role (OpenZeppelin emits each only when the holding actually changes).
    function _holdersFromLogs(Vm.Log[] memory logs, address registry, address marketplace)
        internal
        pure
        returns (Grant[] memory held)
    {
        Grant[] memory rows = new Grant[](logs.length);
        bool[] memory live = new bool[](logs.length);
        uint256 n;
        for (uint256 i; i < logs.length; ++i) {
            Vm.Log memory log = logs[i];
            if (log.emitter != registry && log.emitter != marketplace) continue;
            bool granted = log.topics[0] == IAccessControl.RoleGranted.selector;
            if (!granted && log.topics[0] != IAccessControl.RoleRevoked.selector) continue;
            Grant memory g = Grant(log.emitter, log.topics[1], address(uint160(uint256(log.topics[2]))));
            uint256 j;
            while (j < n && !_same(rows[j], g)) ++j;
            if (j == n) rows[n++] = g;
            live[j] = granted;
        }
        uint256 count;
        for (uint256 i; i < n; ++i) {
            if (live[i]) ++count;
        }
        held = new Grant[](count);
        count = 0;
        for (uint256 i; i < n; ++i) {
            if (live[i]) held[count++] = rows[i];
        }
    }

    function _contains(Grant[] memory table, Grant memory g) internal pure returns (bool) {
        for (uint256 i; i < table.length; ++i) {
            if (_same(table[i], g)) return true;
        }
        return false;
    }

    function _same(Grant memory a, Grant memory b) internal pure returns (bool) {
        return a.target == b.target && a.role == b.role && a.account == b.account;
    }
}
