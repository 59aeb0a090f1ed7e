// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IEntryPoint} from "@account-abstraction/contracts/interfaces/IEntryPoint.sol";
import {CommonBase} from "forge-std/Base.sol";

import {NexusAccountFactory} from "../contracts/account/NexusAccountFactory.sol";
import {NexusPaymaster} from "../contracts/account/NexusPaymaster.sol";

/// @title AccountDeployer
/// @notice Deploys the ERC-4337 side of AgentNexus: the EntryPoint v0.8 at its canonical address,
/// `NexusAccountFactory` and `NexusPaymaster` (funded and staked). `Deploy` calls it inside its
/// broadcast; the account tests use the same code to put the EntryPoint in place.
/// @dev The EntryPoint is the npm package's own build (`@account-abstraction/contracts` 0.8.0,
/// `artifacts/EntryPoint.json`), deployed through the deterministic CREATE2 deployer that anvil
/// (and most chains) carry, with the salt that yields 0x4337084D9E255Ff0702461CF8895CE9E3b5Ff108:
/// bundlers such as Alto only work with the EntryPoint there. When code already exists at that
/// address nothing is deployed.
abstract contract AccountDeployer is CommonBase {
    /// @notice EntryPoint v0.8's canonical address.
    address internal constant ENTRY_POINT = 0x4337084D9E255Ff0702461CF8895CE9E3b5Ff108;
    /// @notice The CREATE2 salt that puts the npm artifact's EntryPoint at `ENTRY_POINT`.
    bytes32 internal constant ENTRY_POINT_SALT =
        0x0a59dbff790c23c976a548690c27297883cc66b4c67024f9117b0238995e35e9;
    /// @notice The npm artifact holding the EntryPoint's creation code, relative to the project root.
    string internal constant ENTRY_POINT_ARTIFACT =
        "node_modules/@account-abstraction/contracts/artifacts/EntryPoint.json";

    /// @notice The CREATE2 deployer is missing, failed, or put the EntryPoint somewhere else.
    error EntryPointDeploymentFailed(address deployedAt);

    /// @notice The EntryPoint's creation code, from the npm artifact.
    function _entryPointCreationCode() internal view returns (bytes memory) {
        string memory artifact = vm.readFile(string.concat(vm.projectRoot(), "/", ENTRY_POINT_ARTIFACT));
        return vm.parseJsonBytes(artifact, ".bytecode");
    }

    /// @notice Deploys the EntryPoint at its canonical address unless code is already there.
    /// @dev In a script, call inside the broadcast: the deployment is a call to the CREATE2 deployer.
    function _deployEntryPoint() internal returns (IEntryPoint) {
        if (ENTRY_POINT.code.length == 0) {
            if (CREATE2_FACTORY.code.length == 0) revert EntryPointDeploymentFailed(address(0));
            (bool ok, bytes memory ret) =
                CREATE2_FACTORY.call(abi.encodePacked(ENTRY_POINT_SALT, _entryPointCreationCode()));
            // The deployer returns exactly the 20 bytes of the new address.
            // forge-lint: disable-next-line(unsafe-typecast)
            address deployed = ret.length == 20 ? address(bytes20(ret)) : address(0);
            if (!ok || deployed != ENTRY_POINT || ENTRY_POINT.code.length == 0) {
                revert EntryPointDeploymentFailed(deployed);
            }
        }
        return IEntryPoint(ENTRY_POINT);
    }

    /// @notice Deploys the paymaster and the account factory (which pins the paymaster for
    /// session keys), funds the paymaster's deposit and
    /// stakes it, then hands the paymaster to `paymasterOwner`.
    /// @param entryPoint The EntryPoint (from `_deployEntryPoint`).
    /// @param deployer The broadcasting account: the paymaster's first owner, which funds it.
    /// @param paymasterOwner The paymaster's final owner (Ownable2Step: it must accept when it
    /// differs from `deployer`).
    /// @param sponsor The paymaster's sponsorship signer.
    /// @param deposit ETH put into the paymaster's EntryPoint deposit (0 = none).
    /// @param stake ETH staked for the paymaster (0 = none); bundlers require a stake because it
    /// reads its own storage (the signer) during validation.
    /// @param unstakeDelay Seconds between unlocking and withdrawing the stake.
    function _deployAccountContracts(
        IEntryPoint entryPoint,
        address deployer,
        address paymasterOwner,
        address sponsor,
        uint256 deposit,
        uint256 stake,
        uint32 unstakeDelay
    ) internal returns (NexusAccountFactory factory, NexusPaymaster paymaster) {
        // The paymaster first: the factory pins it as the only paymaster of session-key operations.
        paymaster = new NexusPaymaster(entryPoint, deployer, sponsor);
        factory = new NexusAccountFactory(entryPoint, address(paymaster));
        if (deposit != 0) paymaster.deposit{value: deposit}();
        if (stake != 0) paymaster.addStake{value: stake}(unstakeDelay);
        if (paymasterOwner != deployer) paymaster.transferOwnership(paymasterOwner);
    }
}
