// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IEntryPoint} from "@account-abstraction/contracts/interfaces/IEntryPoint.sol";
import {ERC1967Proxy} from "@openzeppelin/contracts/proxy/ERC1967/ERC1967Proxy.sol";
import {Create2} from "@openzeppelin/contracts/utils/Create2.sol";

import {NexusAccount} from "./NexusAccount.sol";

/// @title NexusAccountFactory
/// @notice Deploys `NexusAccount`s as ERC-1967 proxies with CREATE2, so an account's address is
/// known (and can receive funds) before it exists: `getAddress(owner, salt)`. Used as the
/// `factory` of a user operation's initCode (`factory ‖ createAccount(owner, salt)`).
/// @dev Anyone may create an account for anyone: the address commits to the owner, so creating it
/// early only pays the deployment for them. `createAccount` returns the existing account when it
/// is already deployed, so `EntryPoint.getSenderAddress` works before and after.
contract NexusAccountFactory {
    /// @notice The implementation every account proxy points at.
    NexusAccount public immutable accountImplementation;
    /// @notice The EntryPoint the accounts trust.
    IEntryPoint public immutable entryPoint;

    /// @notice `codehash` of every account this factory deploys (the ERC-1967 proxy's runtime
    /// code, which holds no immutables, so it is the same for every account).
    /// @dev With the proxy's implementation slot, this lets an off-chain service (the sponsorship
    /// policy) tell a `NexusAccount` from a contract that only copies its storage layout.
    bytes32 public immutable accountCodeHash;

    /// @notice `account` was deployed for `owner` with `salt`.
    event AccountCreated(address indexed account, address indexed owner, uint256 salt);

    /// @param anEntryPoint The EntryPoint v0.8 the accounts will trust.
    constructor(IEntryPoint anEntryPoint) {
        entryPoint = anEntryPoint;
        accountImplementation = new NexusAccount(anEntryPoint);
        accountCodeHash = keccak256(type(ERC1967Proxy).runtimeCode);
    }

    /// @notice Deploys the account of `owner` and `salt`, or returns it if it already exists.
    /// @param owner The account's ECDSA owner.
    /// @param salt Lets one owner have several accounts.
    /// @return account The account at `getAddress(owner, salt)`.
    function createAccount(address owner, uint256 salt) external returns (NexusAccount account) {
        address addr = getAddress(owner, salt);
        if (addr.code.length != 0) return NexusAccount(payable(addr));
        account = NexusAccount(
            payable(new ERC1967Proxy{salt: bytes32(salt)}(address(accountImplementation), _initData(owner)))
        );
        emit AccountCreated(address(account), owner, salt);
    }

    /// @notice The address `createAccount(owner, salt)` deploys to (or deployed to).
    /// @param owner The account's ECDSA owner.
    /// @param salt Lets one owner have several accounts.
    function getAddress(address owner, uint256 salt) public view returns (address) {
        return Create2.computeAddress(
            bytes32(salt),
            keccak256(
                abi.encodePacked(
                    type(ERC1967Proxy).creationCode,
                    abi.encode(address(accountImplementation), _initData(owner))
                )
            )
        );
    }

    function _initData(address owner) private pure returns (bytes memory) {
        return abi.encodeCall(NexusAccount.initialize, (owner));
    }
}
