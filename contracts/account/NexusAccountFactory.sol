// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IEntryPoint} from "@account-abstraction/contracts/interfaces/IEntryPoint.sol";
import {ISenderCreator} from "@account-abstraction/contracts/interfaces/ISenderCreator.sol";
import {ERC1967Proxy} from "@openzeppelin/contracts/proxy/ERC1967/ERC1967Proxy.sol";
import {Create2} from "@openzeppelin/contracts/utils/Create2.sol";

import {NexusAccount} from "./NexusAccount.sol";

/// @title NexusAccountFactory
/// @notice Deploys `NexusAccount`s as ERC-1967 proxies with CREATE2, so an account's address is
/// known (and can receive funds) before it exists: `getAddress(owner, salt)`. Used as the
/// `factory` of a user operation's initCode (`factory ‖ createAccount(owner, salt)`).
/// @dev Only the EntryPoint's SenderCreator may call `createAccount` (as in eth-infinitism's
/// SimpleAccountFactory v0.8): accounts are deployed by the first user operation's initCode and
/// nobody can deploy someone's account ahead of that operation, which would make it fail with AA10
/// and force the owner to re-sign (and re-obtain a sponsorship). `getAddress` stays free for
/// anyone. `createAccount` returns the existing account when it is already deployed, so
/// `EntryPoint.getSenderAddress` (which calls through the SenderCreator) works before and after.
contract NexusAccountFactory {
    /// @notice The implementation every account proxy points at.
    NexusAccount public immutable accountImplementation;
    /// @notice The EntryPoint the accounts trust.
    IEntryPoint public immutable entryPoint;
    /// @notice The EntryPoint's SenderCreator: the only caller `createAccount` accepts.
    ISenderCreator public immutable senderCreator;

    /// @notice `codehash` of every account this factory deploys (the ERC-1967 proxy's runtime
    /// code, which holds no immutables, so it is the same for every account).
    /// @dev With the proxy's implementation slot, this lets an off-chain service (the sponsorship
    /// policy) tell a `NexusAccount` from a contract that only copies its storage layout.
    bytes32 public immutable accountCodeHash;

    /// @notice `account` was deployed for `owner` with `salt`.
    event AccountCreated(address indexed account, address indexed owner, uint256 salt);

    /// @notice `createAccount` was called by `caller`, not by the EntryPoint's SenderCreator.
    error NotSenderCreator(address caller);

    /// @param anEntryPoint The EntryPoint v0.8 the accounts will trust (already deployed: its
    /// SenderCreator is read here).
    /// @param sessionKeyPaymaster The NexusPaymaster the accounts' session keys must use, in its
    /// sponsored mode (pinned in the account implementation).
    constructor(IEntryPoint anEntryPoint, address sessionKeyPaymaster) {
        entryPoint = anEntryPoint;
        senderCreator = anEntryPoint.senderCreator();
        accountImplementation = new NexusAccount(anEntryPoint, sessionKeyPaymaster);
        accountCodeHash = keccak256(type(ERC1967Proxy).runtimeCode);
    }

    /// @notice Deploys the account of `owner` and `salt`, or returns it if it already exists.
    /// Only the EntryPoint's SenderCreator may call it (a user operation's initCode).
    /// @param owner The account's ECDSA owner.
    /// @param salt Lets one owner have several accounts.
    /// @return account The account at `getAddress(owner, salt)`.
    function createAccount(address owner, uint256 salt) external returns (NexusAccount account) {
        if (msg.sender != address(senderCreator)) revert NotSenderCreator(msg.sender);
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
