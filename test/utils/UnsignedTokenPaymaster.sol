// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {BasePaymaster} from "@account-abstraction/contracts/core/BasePaymaster.sol";
import {IEntryPoint} from "@account-abstraction/contracts/interfaces/IEntryPoint.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

/// @title UnsignedTokenPaymaster
/// @notice The hostile setting of issue 13: a token paymaster that pays any operation of any
/// sender and charges the sender in `token` afterwards, with no signature (the way Pimlico's
/// ERC-20 paymaster or eth-infinitism's TokenPaymaster work for an account that approved them).
/// Whoever controls an operation's gas fields decides what the sender pays.
contract UnsignedTokenPaymaster is BasePaymaster {
    using SafeERC20 for IERC20;

    IERC20 public immutable token;
    /// @notice Token base units per 1e18 wei.
    uint256 public immutable rate;

    constructor(IEntryPoint anEntryPoint, IERC20 token_, uint256 rate_) BasePaymaster(anEntryPoint) {
        token = token_;
        rate = rate_;
    }

    function _validatePaymasterUserOp(PackedUserOperation calldata userOp, bytes32, uint256)
        internal
        pure
        override
        returns (bytes memory context, uint256 validationData)
    {
        return (abi.encode(userOp.sender), 0);
    }

    function _postOp(PostOpMode, bytes calldata context, uint256 actualGasCost, uint256) internal override {
        address sender = abi.decode(context, (address));
        token.safeTransferFrom(sender, address(this), actualGasCost * rate / 1e18);
    }
}
