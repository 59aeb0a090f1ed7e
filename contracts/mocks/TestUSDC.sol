// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title TestUSDC
/// @notice A 6-decimal stand-in for USDC on local chains, with an open faucet. Never deployed on a
/// public network: the deploy script uses it only when the chain id is a local one.
contract TestUSDC is ERC20 {
    constructor() ERC20("Test USD Coin", "USDC") {}

    /// @notice USDC has 6 decimals.
    function decimals() public pure override returns (uint8) {
        return 6;
    }

    /// @notice Mints `amount` to `to`. Open to anyone: this token has no value.
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }
}
