// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title IAgentMarketplace
/// @notice Escrow for agent executions: buy credits, spend one per execution request, and let the
/// relayer settle each request (developer paid on success, requester refunded on failure).
/// @dev Money only ever moves out through `withdraw`/`withdrawTo` (pull payments), so no recipient can block a
/// settlement. Events carry every amount so an indexer can mirror balances without calls.
interface IAgentMarketplace {
    /// @notice The request's fields, fixed when it was made. `settle` and `reclaim` take them back
    /// and check them against the single storage slot the request occupies (see
    /// `requestCommitment`), so settling needs no registry call: the developer paid and the
    /// token are the ones the request committed to (an agent's token never changes).
    struct Execution {
        address requester;
        address developer;
        address token;
        uint256 creditId;
        uint40 deadline;
    }

    /// @notice `units` credits of `agentId` at `unitPrice` were bought for `buyer`.
    event Purchased(
        address indexed buyer,
        uint256 indexed agentId,
        uint256 indexed creditId,
        address token,
        uint96 unitPrice,
        uint256 units
    );

    /// @notice One credit was burnt and its unit price escrowed for a new execution request.
    /// `requester`, `developer`, `token`, `creditId` and `deadline` form the request's `Execution`.
    event ExecutionRequested(
        uint256 indexed requestId,
        uint256 indexed agentId,
        address indexed requester,
        address developer,
        address token,
        uint256 creditId,
        uint96 unitPrice,
        bytes32 inputHash,
        uint40 deadline
    );

    /// @notice The relayer settled a request. On success `payee` is the developer and receives
    /// `amount` while the treasury receives `fee`; on failure `payee` is the requester, refunded
    /// `amount`, and `fee` is zero.
    event ExecutionSettled(
        uint256 indexed requestId,
        bool success,
        bytes32 outputHash,
        address indexed payee,
        address token,
        uint256 amount,
        uint256 fee
    );

    /// @notice The requester took the escrowed unit back after the deadline.
    event ExecutionReclaimed(
        uint256 indexed requestId, address indexed requester, address token, uint256 amount
    );

    /// @notice A holder returned unused credits; `amount` was added to their withdrawable balance.
    event CreditsCancelled(
        address indexed holder,
        uint256 indexed agentId,
        uint256 indexed creditId,
        uint256 units,
        uint256 amount
    );

    /// @notice `account` withdrew its whole balance of `token` (address(0) for ETH) to `to`.
    event Withdrawn(address indexed account, address indexed token, address to, uint256 amount);

    event FeeUpdated(uint16 previousFeeBps, uint16 feeBps);
    event TreasuryUpdated(address indexed previousTreasury, address indexed treasury);
    event SettlementGraceUpdated(uint32 previousGrace, uint32 grace);
    event Paused(address account);
    event Unpaused(address account);

    error MarketplacePaused();
    error AgentNotActive(uint256 agentId);
    error ZeroUnits();
    error WrongPayment(uint256 expected, uint256 received);
    /// @notice The agent's unit price is above the most the buyer agreed to pay per unit (the
    /// price rose after the buyer saw it): nothing was paid or minted.
    error PriceAboveMax(uint96 unitPrice, uint256 maxUnitPrice);
    error RequestNotOpen(uint256 requestId);
    error RequestMismatch(uint256 requestId);
    error RequestExpired(uint256 requestId, uint40 deadline);
    error DeadlineNotReached(uint256 requestId, uint40 deadline);
    error NotRequester(uint256 requestId, address account);
    error NothingToWithdraw(address account, address token);
    error EthTransferFailed(address to, uint256 amount);
    error InvalidRecipient();
    error FeeTooHigh(uint16 feeBps);
    error InvalidTreasury();
    error GraceTooLong(uint32 grace);
    error NotPaused();

    /// @notice Buys `units` credits of `agentId` at its current price, provided that price is at
    /// most `maxUnitPrice`: a price raised between the moment the buyer saw it and the moment the
    /// purchase lands (a developer's or curator's `updateAgent`, front-running or not) reverts
    /// with `PriceAboveMax` instead of charging more. A lower price is charged as it is.
    /// @dev The bound is checked first, for both kinds of agent. ETH agents: `msg.value` must then
    /// equal the current price × units exactly (no refund path: a buyer who sent value for a
    /// higher price gets `WrongPayment` and pays nothing). ERC-20 agents: the caller must have
    /// approved at least price × units, of which exactly price × units is taken; the amount
    /// actually received is checked, so fee-on-transfer tokens are refused.
    /// @param maxUnitPrice The highest unit price the buyer accepts, in the agent's payment token's
    /// base units (the price the buyer was shown).
    /// @return creditId The ERC-1155 id minted (encodes the agent id and the unit price).
    function purchase(uint256 agentId, uint256 units, uint256 maxUnitPrice)
        external
        payable
        returns (uint256 creditId);

    /// @notice Burns one of the caller's `creditId` credits and escrows its unit price for a new
    /// execution of that agent on the input whose keccak256 is `inputHash`.
    /// @return requestId Sequential id of the new request.
    function requestExecution(uint256 creditId, bytes32 inputHash) external returns (uint256 requestId);

    /// @notice Settles an open request before its deadline. Relayer only.
    /// @param execution The request's fields, as emitted in `ExecutionRequested`.
    /// @param success True pays the developer (minus the platform fee); false refunds the requester.
    /// @param outputHash keccak256 of the execution's output (zero when there is none).
    function settle(uint256 requestId, Execution calldata execution, bool success, bytes32 outputHash)
        external;

    /// @notice After the deadline the requester takes the escrowed unit back, with nobody's help.
    function reclaim(uint256 requestId, Execution calldata execution) external;

    /// @notice Returns `units` unused credits for their purchase price (added to the caller's
    /// withdrawable balance).
    function cancel(uint256 creditId, uint256 units) external;

    /// @notice Sends the caller its whole withdrawable balance of `token` (address(0) for ETH).
    function withdraw(address token) external;

    /// @notice Sends the caller's whole withdrawable balance of `token` to `to`, for accounts
    /// (contracts) that cannot receive ETH themselves. `to` may be neither zero nor the marketplace.
    function withdrawTo(address token, address payable to) external;

    /// @notice The balance `account` can withdraw in `token`.
    function withdrawable(address token, address account) external view returns (uint256);

    /// @notice The commitment stored for an open request (zero when settled, reclaimed or unknown).
    function requestCommitment(uint256 requestId) external view returns (bytes32);

    /// @notice Whether `requestId` is open (requested, neither settled nor reclaimed).
    function isOpen(uint256 requestId) external view returns (bool);

    /// @notice The credit id for `agentId` at `unitPrice`.
    function creditIdOf(uint256 agentId, uint96 unitPrice) external pure returns (uint256);

    /// @notice Splits a credit id into its agent id and unit price.
    function decodeCreditId(uint256 creditId) external pure returns (uint256 agentId, uint96 unitPrice);
}
