// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Script} from "forge-std/Script.sol";

import {IEntryPoint} from "@account-abstraction/contracts/interfaces/IEntryPoint.sol";

import {AgentMarketplace} from "../contracts/AgentMarketplace.sol";
import {AgentRegistry} from "../contracts/AgentRegistry.sol";
import {NexusAccountFactory} from "../contracts/account/NexusAccountFactory.sol";
import {NexusPaymaster} from "../contracts/account/NexusPaymaster.sol";
import {IAgentRegistry} from "../contracts/interfaces/IAgentRegistry.sol";
import {TestUSDC} from "../contracts/mocks/TestUSDC.sol";
import {AccountDeployer} from "./DeployAccounts.s.sol";

/// @title Deploy
/// @notice Deploys the registry, the marketplace (which is also the ERC-1155 credits contract) and,
/// on local chains, a 6-decimal test USDC; wires the roles; then the ERC-4337 contracts: the
/// EntryPoint v0.8 at its canonical address (skipped when already there), `NexusAccountFactory`
/// and `NexusPaymaster` (see `AccountDeployer`); writes `deployments/<chainId>.json`
/// (or `$DEPLOYMENTS_OUT`), which the Rust services read.
/// @dev Configuration comes from the environment. On the local chain (31337) every variable has a
/// default that matches anvil's well-known dev accounts; elsewhere the role holders and USDC must
/// be given explicitly.
///   DEPLOYER_PRIVATE_KEY    signs the deployment (default: anvil account 0)
///   NEXUS_ADMIN             default admin of both contracts, through the delayed transfer, and the
///                           marketplace's pauser; owner of the paymaster (Ownable2Step). Required
///                           off the local chain (default there: the deployer, which then holds it
///                           directly)
///   NEXUS_CURATOR           curator of the registry (default: NEXUS_ADMIN)
///   NEXUS_RELAYER           the relayer's address (default: anvil account 1)
///   NEXUS_TREASURY          receives platform fees (default: anvil account 2)
///   NEXUS_USDC              USDC's address on non-local chains
///   NEXUS_ADMIN_DELAY       seconds before a default-admin transfer takes effect (default 1 day)
///   NEXUS_SETTLEMENT_GRACE  seconds added to an agent's max duration for deadlines (default 300)
///   NEXUS_SPONSOR           the paymaster's sponsorship signer (default: anvil account 3)
///   NEXUS_PAYMASTER_DEPOSIT wei deposited for the paymaster in the EntryPoint (local default 10 ETH, else 0)
///   NEXUS_PAYMASTER_STAKE   wei staked for the paymaster (local default 1 ETH, else 0)
///   NEXUS_PAYMASTER_UNSTAKE_DELAY  seconds of the paymaster's unstake delay (default 1 day)
///   DEPLOYMENTS_OUT         where to write the deployments JSON
///
/// Roles. The deploying key is a hot key: it keeps a role only where it is the holder named. Both
/// contracts start with the deployer as default admin (the constructors also make it curator and
/// pauser), because it must grant the other roles; then every role goes to its holder and the
/// deployer renounces each role it was not named for. When `NEXUS_ADMIN` is another address, the
/// default admin (and the paymaster's ownership) is handed over with a delayed transfer: the
/// deployer holds the default admin role, and nothing else, until the new admin accepts
/// (`acceptDefaultAdminTransfer` on both contracts after `NEXUS_ADMIN_DELAY`, `acceptOwnership` on
/// the paymaster); from then on it holds no role at all. Final table, with A = admin, C = curator,
/// R = relayer:
///   AgentRegistry     DEFAULT_ADMIN_ROLE: A   CURATOR_ROLE: C
///   AgentMarketplace  DEFAULT_ADMIN_ROLE: A   PAUSER_ROLE: A   RELAYER_ROLE: R
contract Deploy is Script, AccountDeployer {
    uint256 internal constant LOCAL_CHAIN_ID = 31_337;
    // anvil's default mnemonic, accounts 0..3: public test keys, worthless outside a local chain.
    uint256 internal constant ANVIL_KEY_0 =
        0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80;
    address internal constant ANVIL_ACCOUNT_1 = 0x70997970C51812dc3A010C7d01b50e0d17dc79C8;
    address internal constant ANVIL_ACCOUNT_2 = 0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC;
    address internal constant ANVIL_ACCOUNT_3 = 0x90F79bf6EB2c4f870365E785982E1f101E93b906;

    /// @notice A role holder was the zero address.
    error ZeroRoleHolder(string role);
    /// @notice Off the local chain the USDC address must be given (a TestUSDC is local only).
    error UsdcRequired();

    /// @notice Everything a deployment needs, read from the environment by `config`.
    struct Config {
        uint256 deployerKey;
        address admin;
        address curator;
        address relayer;
        address treasury;
        /// @dev Zero: deploy a TestUSDC (local chain only).
        address usdc;
        uint48 adminDelay;
        uint32 settlementGrace;
        address sponsor;
        uint256 paymasterDeposit;
        uint256 paymasterStake;
        uint32 unstakeDelay;
        string out;
    }

    /// @notice Everything a deployment produced, also written as JSON.
    struct Deployment {
        uint256 chainId;
        uint256 deploymentBlock;
        AgentRegistry registry;
        AgentMarketplace marketplace;
        address usdc;
        address admin;
        address curator;
        address relayer;
        address treasury;
        IEntryPoint entryPoint;
        NexusAccountFactory accountFactory;
        NexusPaymaster paymaster;
        address sponsor;
    }

    /// @notice Deploys with the configuration in the environment and writes the deployments file.
    function run() external returns (Deployment memory) {
        return deploy(config());
    }

    /// @notice The configuration the environment describes (see the contract's NatSpec).
    function config() public view returns (Config memory c) {
        bool local = block.chainid == LOCAL_CHAIN_ID;
        c.deployerKey =
            local ? vm.envOr("DEPLOYER_PRIVATE_KEY", ANVIL_KEY_0) : vm.envUint("DEPLOYER_PRIVATE_KEY");
        c.admin = local ? vm.envOr("NEXUS_ADMIN", vm.addr(c.deployerKey)) : vm.envAddress("NEXUS_ADMIN");
        c.curator = vm.envOr("NEXUS_CURATOR", c.admin);
        c.relayer = local ? vm.envOr("NEXUS_RELAYER", ANVIL_ACCOUNT_1) : vm.envAddress("NEXUS_RELAYER");
        c.treasury = local ? vm.envOr("NEXUS_TREASURY", ANVIL_ACCOUNT_2) : vm.envAddress("NEXUS_TREASURY");
        c.usdc = local ? address(0) : vm.envAddress("NEXUS_USDC");
        c.adminDelay = uint48(vm.envOr("NEXUS_ADMIN_DELAY", uint256(1 days)));
        c.settlementGrace = uint32(vm.envOr("NEXUS_SETTLEMENT_GRACE", uint256(300)));
        c.sponsor = local ? vm.envOr("NEXUS_SPONSOR", ANVIL_ACCOUNT_3) : vm.envAddress("NEXUS_SPONSOR");
        c.paymasterDeposit = vm.envOr("NEXUS_PAYMASTER_DEPOSIT", local ? uint256(10 ether) : 0);
        c.paymasterStake = vm.envOr("NEXUS_PAYMASTER_STAKE", local ? uint256(1 ether) : 0);
        c.unstakeDelay = uint32(vm.envOr("NEXUS_PAYMASTER_UNSTAKE_DELAY", uint256(1 days)));
        c.out = vm.envOr(
            "DEPLOYMENTS_OUT",
            string.concat(vm.projectRoot(), "/deployments/", vm.toString(block.chainid), ".json")
        );
    }

    /// @notice Deploys with configuration `c`, leaves the roles as the contract's NatSpec tables
    /// them and writes the deployments file to `c.out`.
    function deploy(Config memory c) public returns (Deployment memory d) {
        if (c.admin == address(0)) revert ZeroRoleHolder("admin");
        if (c.curator == address(0)) revert ZeroRoleHolder("curator");
        if (c.relayer == address(0)) revert ZeroRoleHolder("relayer");
        if (c.usdc == address(0) && block.chainid != LOCAL_CHAIN_ID) revert UsdcRequired();
        address deployer = vm.addr(c.deployerKey);

        d.chainId = block.chainid;
        // The script runs against the latest block; every transaction below lands after it.
        d.deploymentBlock = block.number + 1;
        d.admin = c.admin;
        d.curator = c.curator;
        d.relayer = c.relayer;
        d.treasury = c.treasury;
        d.sponsor = c.sponsor;

        vm.startBroadcast(c.deployerKey);
        // The constructors make the deployer default admin, curator (registry) and pauser
        // (marketplace): it needs the admin role to grant the others.
        d.registry = new AgentRegistry(c.adminDelay, deployer);
        d.marketplace = new AgentMarketplace(
            IAgentRegistry(address(d.registry)), c.adminDelay, deployer, c.treasury, c.settlementGrace
        );
        d.usdc = c.usdc == address(0) ? address(new TestUSDC()) : c.usdc;

        d.marketplace.grantRole(d.marketplace.RELAYER_ROLE(), c.relayer);
        if (c.curator != deployer) {
            d.registry.grantRole(d.registry.CURATOR_ROLE(), c.curator);
            d.registry.renounceRole(d.registry.CURATOR_ROLE(), deployer);
        }
        if (c.admin != deployer) {
            d.marketplace.grantRole(d.marketplace.PAUSER_ROLE(), c.admin);
            d.marketplace.renounceRole(d.marketplace.PAUSER_ROLE(), deployer);
            // Last: the new admin accepts after the delay; until then the deployer keeps this
            // one role (and could cancel the transfer), and loses it on acceptance.
            d.registry.beginDefaultAdminTransfer(c.admin);
            d.marketplace.beginDefaultAdminTransfer(c.admin);
        }
        // After the marketplace's transactions, so its addresses do not depend on whether the
        // EntryPoint was already there.
        d.entryPoint = _deployEntryPoint();
        (d.accountFactory, d.paymaster) = _deployAccountContracts(
            d.entryPoint, deployer, c.admin, c.sponsor, c.paymasterDeposit, c.paymasterStake, c.unstakeDelay
        );
        vm.stopBroadcast();

        _write(d, c.out);
    }

    function _write(Deployment memory d, string memory out) internal {
        string memory contracts = "contracts";
        vm.serializeAddress(contracts, "AgentRegistry", address(d.registry));
        vm.serializeAddress(contracts, "AgentMarketplace", address(d.marketplace));
        vm.serializeAddress(contracts, "USDC", d.usdc);
        vm.serializeAddress(contracts, "EntryPoint", address(d.entryPoint));
        vm.serializeAddress(contracts, "NexusAccountFactory", address(d.accountFactory));
        string memory contractsJson = vm.serializeAddress(contracts, "NexusPaymaster", address(d.paymaster));

        string memory roles = "roles";
        vm.serializeAddress(roles, "admin", d.admin);
        vm.serializeAddress(roles, "curator", d.curator);
        vm.serializeAddress(roles, "relayer", d.relayer);
        vm.serializeAddress(roles, "sponsor", d.sponsor);
        string memory rolesJson = vm.serializeAddress(roles, "treasury", d.treasury);

        string memory root = "deployment";
        vm.serializeUint(root, "chainId", d.chainId);
        vm.serializeUint(root, "deploymentBlock", d.deploymentBlock);
        vm.serializeString(root, "contracts", contractsJson);
        string memory json = vm.serializeString(root, "roles", rolesJson);

        vm.writeJson(json, out);
    }
}
