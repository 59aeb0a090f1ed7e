// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title FeeOnTransferToken
/// @notice Test token that burns `FEE_BPS` of every transfer between two accounts, so the receiver
/// gets less than the amount asked for (mints and burns are exact).
contract FeeOnTransferToken is ERC20 {
    uint256 public constant FEE_BPS = 100; // 1%

    constructor() ERC20("Fee On Transfer", "FOT") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @notice The fee burnt when `amount` is transferred.
    function feeOn(uint256 amount) public pure returns (uint256) {
        return amount * FEE_BPS / 10_000;
    }

    function _update(address from, address to, uint256 value) internal override {
        if (from != address(0) && to != address(0)) {
            uint256 fee = feeOn(value);
            super._update(from, address(0), fee);
            value -= fee;
        }
        super._update(from, to, value);
    }
}
