// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {
    AccessControlDefaultAdminRules
} from "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {IAgentRegistry} from "./interfaces/IAgentRegistry.sol";

/// @title AgentRegistry
/// @notice The curated catalog of agents. Curators list agents and change their status; an
/// agent's developer or a curator updates its price, duration, image digest and metadata.
/// @dev The default admin is transferred with a delay (OpenZeppelin AccessControlDefaultAdminRules)
/// so that a multisig can hold it. The payment token is fixed at registration: escrowed credits
/// are paid out in the token they were bought with, for ever.
contract AgentRegistry is IAgentRegistry, AccessControlDefaultAdminRules {
    /// @notice May register agents, change any agent's status and update any agent.
    bytes32 public constant CURATOR_ROLE = keccak256("CURATOR_ROLE");

    /// @notice Upper bound on an execution's wall time. A week is far beyond any agent we run and
    /// keeps `now + maxDuration + grace` well inside uint40 seconds.
    uint32 public constant MAX_DURATION_LIMIT = 7 days;

    uint256 private _agentCount;
    mapping(uint256 agentId => Agent) private _agents;

    /// @param initialAdminDelay Delay (seconds) before a default-admin transfer takes effect.
    /// @param initialAdmin The first default admin; it also becomes the first curator.
    constructor(uint48 initialAdminDelay, address initialAdmin)
        AccessControlDefaultAdminRules(initialAdminDelay, initialAdmin)
    {
        _grantRole(CURATOR_ROLE, initialAdmin);
    }

    /// @inheritdoc IAgentRegistry
    function registerAgent(AgentParams calldata params)
        external
        onlyRole(CURATOR_ROLE)
        returns (uint256 agentId)
    {
        if (params.developer == address(0)) revert InvalidDeveloper();
        if (params.paymentToken != address(0) && params.paymentToken.code.length == 0) {
            revert InvalidPaymentToken(params.paymentToken);
        }
        _checkMutableFields(params.price, params.maxDuration, params.imageDigest, params.metadataURI);

        agentId = ++_agentCount;
        Agent storage agent = _agents[agentId];
        agent.terms = AgentTerms({
            developer: params.developer,
            maxDuration: params.maxDuration,
            status: Status.Active,
            category: params.category,
            paymentToken: params.paymentToken,
            price: params.price
        });
        agent.imageDigest = params.imageDigest;
        agent.metadataURI = params.metadataURI;

        emit AgentRegistered(
            agentId,
            params.developer,
            params.paymentToken,
            params.price,
            params.maxDuration,
            params.category,
            Status.Active,
            params.imageDigest,
            params.metadataURI
        );
    }

    /// @inheritdoc IAgentRegistry
    function updateAgent(
        uint256 agentId,
        uint96 price,
        uint32 maxDuration,
        bytes32 imageDigest,
        string calldata newMetadataURI
    ) external {
        Agent storage agent = _existing(agentId);
        if (msg.sender != agent.terms.developer && !hasRole(CURATOR_ROLE, msg.sender)) {
            revert NotDeveloperOrCurator(agentId, msg.sender);
        }
        if (agent.terms.status == Status.Retired) revert AgentIsRetired(agentId);
        _checkMutableFields(price, maxDuration, imageDigest, newMetadataURI);

        agent.terms.price = price;
        agent.terms.maxDuration = maxDuration;
        agent.imageDigest = imageDigest;
        agent.metadataURI = newMetadataURI;

        emit AgentUpdated(agentId, msg.sender, price, maxDuration, imageDigest, newMetadataURI);
    }

    /// @inheritdoc IAgentRegistry
    function setStatus(uint256 agentId, Status status) external onlyRole(CURATOR_ROLE) {
        Agent storage agent = _existing(agentId);
        Status previous = agent.terms.status;
        if (previous == Status.Retired) revert AgentIsRetired(agentId);
        if (previous == status) revert StatusUnchanged(status);
        agent.terms.status = status;
        emit AgentStatusChanged(agentId, previous, status);
    }

    /// @inheritdoc IAgentRegistry
    function getAgent(uint256 agentId) external view returns (Agent memory) {
        return _existing(agentId);
    }

    /// @inheritdoc IAgentRegistry
    function terms(uint256 agentId) external view returns (AgentTerms memory) {
        return _existing(agentId).terms;
    }

    /// @inheritdoc IAgentRegistry
    function metadataURI(uint256 agentId) external view returns (string memory) {
        return _existing(agentId).metadataURI;
    }

    /// @inheritdoc IAgentRegistry
    function agentCount() external view returns (uint256) {
        return _agentCount;
    }

    /// @dev Storage pointer to a registered agent; a zero developer marks an id never registered.
    function _existing(uint256 agentId) private view returns (Agent storage agent) {
        agent = _agents[agentId];
        if (agent.terms.developer == address(0)) revert UnknownAgent(agentId);
    }

    function _checkMutableFields(uint96 price, uint32 maxDuration, bytes32 imageDigest, string calldata uri)
        private
        pure
    {
        // A free agent would let anyone mint unbounded credits and requests for nothing.
        if (price == 0) revert InvalidPrice();
        if (maxDuration == 0 || maxDuration > MAX_DURATION_LIMIT) revert InvalidMaxDuration(maxDuration);
        if (imageDigest == bytes32(0)) revert InvalidImageDigest();
        if (bytes(uri).length == 0) revert EmptyMetadataURI();
    }
}
