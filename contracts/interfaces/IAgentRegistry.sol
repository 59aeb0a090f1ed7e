// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title IAgentRegistry
/// @notice The curated catalog of agents: who is paid, in which token, at what price, for how
/// long an execution may run, and which container image (by digest) runs it.
/// @dev Every event carries every field of the change, so an indexer never needs a call back.
interface IAgentRegistry {
    /// @notice What an agent is for; informs the catalog, never the escrow.
    enum Category {
        General,
        Crypto
    }

    /// @notice Lifecycle. Only Active agents can be bought or run. Retired is final.
    enum Status {
        Active,
        Paused,
        Retired
    }

    /// @notice The fields the marketplace reads on every operation, packed into two storage slots
    /// (slot 0: developer, maxDuration, status, category; slot 1: paymentToken, price).
    struct AgentTerms {
        address developer;
        uint32 maxDuration;
        Status status;
        Category category;
        address paymentToken;
        uint96 price;
    }

    /// @notice A full catalog entry.
    struct Agent {
        AgentTerms terms;
        bytes32 imageDigest;
        string metadataURI;
    }

    /// @notice What a curator supplies to list an agent.
    struct AgentParams {
        address developer;
        address paymentToken;
        uint96 price;
        uint32 maxDuration;
        Category category;
        bytes32 imageDigest;
        string metadataURI;
    }

    /// @notice A new agent was listed; it starts Active.
    event AgentRegistered(
        uint256 indexed agentId,
        address indexed developer,
        address indexed paymentToken,
        uint96 price,
        uint32 maxDuration,
        Category category,
        Status status,
        bytes32 imageDigest,
        string metadataURI
    );

    /// @notice The developer or a curator changed the agent's mutable fields (all are restated).
    event AgentUpdated(
        uint256 indexed agentId,
        address indexed updatedBy,
        uint96 price,
        uint32 maxDuration,
        bytes32 imageDigest,
        string metadataURI
    );

    /// @notice A curator moved the agent to another lifecycle status.
    event AgentStatusChanged(uint256 indexed agentId, Status previousStatus, Status status);

    error UnknownAgent(uint256 agentId);
    error NotDeveloperOrCurator(uint256 agentId, address account);
    error AgentIsRetired(uint256 agentId);
    error InvalidDeveloper();
    error InvalidPaymentToken(address token);
    error InvalidPrice();
    error InvalidMaxDuration(uint32 maxDuration);
    error InvalidImageDigest();
    error EmptyMetadataURI();
    error StatusUnchanged(Status status);

    /// @notice Lists a new agent. Curator only.
    /// @param params The agent's fields; `paymentToken` is address(0) for ETH and is immutable.
    /// @return agentId The new agent's id (sequential, starting at 1).
    function registerAgent(AgentParams calldata params) external returns (uint256 agentId);

    /// @notice Changes price, max duration, image digest and metadata. The developer or a curator.
    /// @dev A price change touches only later purchases: credits carry the price they were bought at.
    function updateAgent(
        uint256 agentId,
        uint96 price,
        uint32 maxDuration,
        bytes32 imageDigest,
        string calldata metadataURI
    ) external;

    /// @notice Moves an agent to another status. Curator only; Retired cannot be left.
    function setStatus(uint256 agentId, Status status) external;

    /// @notice The full catalog entry. Reverts with UnknownAgent for ids never registered.
    function getAgent(uint256 agentId) external view returns (Agent memory);

    /// @notice The two-slot terms the marketplace needs. Reverts with UnknownAgent.
    function terms(uint256 agentId) external view returns (AgentTerms memory);

    /// @notice The agent's metadata URI (JSON; `data:` URIs allowed). Reverts with UnknownAgent.
    function metadataURI(uint256 agentId) external view returns (string memory);

    /// @notice How many agents were ever registered (ids run from 1 to this number).
    function agentCount() external view returns (uint256);
}
