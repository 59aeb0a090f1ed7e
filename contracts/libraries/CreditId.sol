// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title CreditId
/// @notice Encodes an ERC-1155 credit id as `agentId << 96 | unitPrice`.
/// @dev Putting the unit price into the token id makes a holder's balance the whole record of a
/// purchase: credits bought at different prices are different ids, so each is escrowed, paid out
/// and refunded at the price it was bought at, and no per-purchase storage is ever written.
/// 96 bits hold any realistic price (7.9e28 base units: 79 billion ETH in wei); agent ids get the
/// upper 160 bits.
library CreditId {
    uint256 internal constant PRICE_BITS = 96;
    uint256 internal constant PRICE_MASK = type(uint96).max;

    /// @notice The credit id for `agentId` bought at `unitPrice`.
    function encode(uint256 agentId, uint96 unitPrice) internal pure returns (uint256) {
        return (agentId << PRICE_BITS) | unitPrice;
    }

    /// @notice Splits a credit id into the agent id and the unit price it was bought at.
    function decode(uint256 creditId) internal pure returns (uint256 agentId, uint96 unitPrice) {
        // casting to 'uint96' is safe because the value is masked to its low 96 bits first
        // forge-lint: disable-next-line(unsafe-typecast)
        return (creditId >> PRICE_BITS, uint96(creditId & PRICE_MASK));
    }
}
