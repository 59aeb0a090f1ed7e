// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ERC1155Holder} from "@openzeppelin/contracts/token/ERC1155/utils/ERC1155Holder.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title RejectingPayee
/// @notice Holds credits like any smart account but reverts on every ETH transfer to it.
contract RejectingPayee is ERC1155Holder {
    error EthRejected();

    receive() external payable {
        revert EthRejected();
    }
}

/// @title GasBurningPayee
/// @notice Holds credits but burns every unit of gas it is given when sent ETH.
contract GasBurningPayee is ERC1155Holder {
    uint256 public counter;

    receive() external payable {
        while (true) {
            ++counter;
        }
    }
}

/// @title Reenterer
/// @notice Base of the re-entrancy attackers: when armed, its hook replays one arbitrary call to the
/// marketplace (once), records the outcome and, in `bubble` mode, rethrows the failure so the outer
/// call reverts with it.
/// @dev Holds credits (ERC1155Holder) and ETH so that each replayed call would succeed on its own:
/// the only thing that can stop it is the marketplace's re-entrancy guard.
abstract contract Reenterer is ERC1155Holder {
    address public immutable target;

    bool public armed;
    bool public bubble;
    bytes public payload;
    uint256 public payloadValue;

    uint256 public reentries;
    bool public reentrySucceeded;
    /// @notice Revert data of the replayed call (return data when it succeeded).
    bytes public reentryResult;

    constructor(address target_) {
        target = target_;
    }

    /// @notice Makes the next hook call `target` with `data` and `value` wei.
    function arm(bytes calldata data, uint256 value, bool bubble_) external {
        armed = true;
        payload = data;
        payloadValue = value;
        bubble = bubble_;
    }

    /// @notice Lets the hook pass through without calling anything.
    function disarm() external {
        armed = false;
    }

    function _reenter() internal {
        if (!armed) return;
        armed = false;
        ++reentries;
        (bool ok, bytes memory result) = target.call{value: payloadValue}(payload);
        reentrySucceeded = ok;
        reentryResult = result;
        if (!ok && bubble) {
            assembly ("memory-safe") {
                revert(add(result, 0x20), mload(result))
            }
        }
    }
}

/// @title ReentrantToken
/// @notice An ERC-20 whose `transfer` and `transferFrom` re-enter the marketplace before moving funds.
contract ReentrantToken is ERC20, Reenterer {
    constructor(address target_) ERC20("Reentrant Token", "REENT") Reenterer(target_) {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function transfer(address to, uint256 value) public override returns (bool) {
        _reenter();
        return super.transfer(to, value);
    }

    function transferFrom(address from, address to, uint256 value) public override returns (bool) {
        _reenter();
        return super.transferFrom(from, to, value);
    }

    receive() external payable {}
}

/// @title ReentrantCreditReceiver
/// @notice A contract buyer whose `onERC1155Received` hook re-enters the marketplace mid-purchase.
contract ReentrantCreditReceiver is Reenterer {
    constructor(address target_) Reenterer(target_) {}

    function onERC1155Received(address operator, address from, uint256 id, uint256 value, bytes memory data)
        public
        override
        returns (bytes4)
    {
        _reenter();
        return super.onERC1155Received(operator, from, id, value, data);
    }

    receive() external payable {}
}

/// @title ReentrantEthReceiver
/// @notice A payee whose `receive` re-enters the marketplace while its ETH withdrawal is in flight.
contract ReentrantEthReceiver is Reenterer {
    constructor(address target_) Reenterer(target_) {}

    receive() external payable {
        _reenter();
    }
}
