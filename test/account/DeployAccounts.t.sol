// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IStakeManager} from "@account-abstraction/contracts/interfaces/IStakeManager.sol";
import {Test} from "forge-std/Test.sol";

import {Deploy} from "../../script/Deploy.s.sol";

/// @notice The deploy script puts the EntryPoint at its canonical address (once), deploys the
/// account factory and the funded, staked paymaster, and writes them to the deployments file.
contract DeployAccountsTest is Test {
    address internal constant ENTRY_POINT = 0x4337084D9E255Ff0702461CF8895CE9E3b5Ff108;
    address internal constant ANVIL_ACCOUNT_0 = 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266;
    address internal constant ANVIL_ACCOUNT_3 = 0x90F79bf6EB2c4f870365E785982E1f101E93b906;
    bytes internal constant CREATE2_DEPLOYER_CODE =
        hex"7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe03601600081602082378035828234f58015156039578182fd5b8082525050506014600cf3";

    string internal out;

    function setUp() public {
        vm.chainId(31_337);
        if (CREATE2_FACTORY.code.length == 0) vm.etch(CREATE2_FACTORY, CREATE2_DEPLOYER_CODE);
        vm.deal(ANVIL_ACCOUNT_0, 100 ether);
        out = string.concat(vm.projectRoot(), "/target/deploy-accounts-test.json");
        vm.setEnv("DEPLOYMENTS_OUT", out);
    }

    function test_deploysAndRecordsTheAccountContracts() public {
        Deploy.Deployment memory d = new Deploy().run();

        assertEq(address(d.entryPoint), ENTRY_POINT);
        assertGt(ENTRY_POINT.code.length, 0);
        assertEq(address(d.accountFactory.entryPoint()), ENTRY_POINT);
        // Every account's session keys may use only the deployed paymaster, and accounts are
        // created only through the EntryPoint (its SenderCreator).
        assertEq(d.accountFactory.accountImplementation().sessionKeyPaymaster(), address(d.paymaster));
        assertEq(address(d.accountFactory.senderCreator()), address(d.entryPoint.senderCreator()));
        assertEq(address(d.paymaster.entryPoint()), ENTRY_POINT);
        assertEq(d.paymaster.signer(), ANVIL_ACCOUNT_3);
        assertEq(d.sponsor, ANVIL_ACCOUNT_3);
        assertEq(d.paymaster.owner(), ANVIL_ACCOUNT_0);

        IStakeManager.DepositInfo memory info = d.entryPoint.getDepositInfo(address(d.paymaster));
        assertEq(info.deposit, 10 ether);
        assertTrue(info.staked);
        assertEq(info.stake, 1 ether);
        assertEq(info.unstakeDelaySec, 1 days);

        string memory json = vm.readFile(out);
        assertEq(vm.parseJsonAddress(json, ".contracts.EntryPoint"), ENTRY_POINT);
        assertEq(vm.parseJsonAddress(json, ".contracts.NexusAccountFactory"), address(d.accountFactory));
        assertEq(vm.parseJsonAddress(json, ".contracts.NexusPaymaster"), address(d.paymaster));
        assertEq(vm.parseJsonAddress(json, ".roles.sponsor"), ANVIL_ACCOUNT_3);
        // The keys that were there before are still there.
        assertEq(vm.parseJsonAddress(json, ".contracts.AgentMarketplace"), address(d.marketplace));
        assertEq(vm.parseJsonAddress(json, ".contracts.AgentRegistry"), address(d.registry));
        assertEq(vm.parseJsonAddress(json, ".contracts.USDC"), d.usdc);
        assertEq(vm.parseJsonAddress(json, ".roles.relayer"), d.relayer);
    }

    function test_secondRunKeepsTheEntryPoint() public {
        Deploy.Deployment memory first = new Deploy().run();
        bytes32 codeHash = ENTRY_POINT.codehash;
        Deploy.Deployment memory second = new Deploy().run();
        assertEq(address(second.entryPoint), address(first.entryPoint));
        assertEq(ENTRY_POINT.codehash, codeHash);
        assertNotEq(address(second.paymaster), address(first.paymaster));
    }
}
