// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {
    AccessControlDefaultAdminRules
} from "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {ERC1155} from "@openzeppelin/contracts/token/ERC1155/ERC1155.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {Entitlements} from "./Entitlements.sol";
import {IAgentMarketplace} from "./interfaces/IAgentMarketplace.sol";
import {IAgentRegistry} from "./interfaces/IAgentRegistry.sol";
import {CreditId} from "./libraries/CreditId.sol";

/// @title AgentMarketplace
/// @notice Sells execution credits, escrows one unit per execution request and settles it:
/// success pays the developer (minus the platform fee, which goes to the treasury), failure
/// refunds the requester, and after the deadline the requester can reclaim on their own.
/// @dev Storage is shaped by the gas bars (purchase < 100k, request < 80k, settle < 70k gas):
///  - a purchase writes only the buyer's ERC-1155 balance: the credit id encodes agent and price;
///  - a request writes one slot, a commitment to its `Execution` (requester, developer, token,
///    credit, deadline) that `settle` and `reclaim` check their arguments against, and deletes it
///    when the request ends; settling therefore never calls the registry;
///  - treasury, fee, grace, pause flag and the request counter share one slot (`Config`);
///  - an account's balance is one slot of two running totals, credited and withdrawn, so once an
///    account has been credited its slot never returns to zero: a withdrawal does not make the
///    next settlement pay for a fresh slot (the treasury is credited on every success).
/// Funds leave only through `withdraw`/`withdrawTo` (pull payments): a payee that reverts or burns gas cannot
/// block a settlement. Solvency: for every token the contract holds exactly the value of unspent
/// credits, plus open escrow, plus withdrawable balances.
contract AgentMarketplace is
    IAgentMarketplace,
    Entitlements,
    AccessControlDefaultAdminRules,
    ReentrancyGuardTransient
{
    using SafeERC20 for IERC20;

    /// @notice May settle open requests.
    bytes32 public constant RELAYER_ROLE = keccak256("RELAYER_ROLE");
    /// @notice May pause and unpause purchases and requests.
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");

    /// @notice Fee on successful executions, in basis points, when none has been set (2.5%).
    uint16 public constant DEFAULT_FEE_BPS = 250;
    /// @notice The fee can never exceed 10%.
    uint16 public constant MAX_FEE_BPS = 1_000;
    uint16 private constant BPS = 10_000;
    /// @notice Settlement grace can never exceed a week, so deadlines always fit in uint40.
    uint32 public constant MAX_SETTLEMENT_GRACE = 7 days;

    /// @dev One storage slot (160 + 16 + 32 + 8 + 40 = 256 bits), read once per operation.
    struct Config {
        address treasury;
        uint16 feeBps;
        uint32 settlementGrace;
        bool paused;
        uint40 nextRequestId;
    }

    Config private _config;

    /// @dev requestId => keccak256(abi.encode(Execution)); zero once settled or reclaimed (and
    /// for ids never issued), so a request can end only once.
    mapping(uint256 requestId => bytes32 commitment) private _requests;

    /// @dev Running totals; withdrawable = credited - withdrawn. The totals are lifetime sums per
    /// (token, account): uint128 caps them at 3.4e38 base units (3.4e20 whole tokens at 18
    /// decimals), beyond which crediting that account reverts. Far out of reach for ETH and USDC;
    /// curators should not list tokens whose supply approaches it.
    struct Balance {
        uint128 credited;
        uint128 withdrawn;
    }

    /// @dev token (address(0) = ETH) => account => running totals.
    mapping(address token => mapping(address account => Balance)) private _balances;

    /// @param registry_ The agent registry.
    /// @param initialAdminDelay Delay (seconds) before a default-admin transfer takes effect.
    /// @param initialAdmin The first default admin; it also becomes the first pauser.
    /// @param treasury_ Receives platform fees.
    /// @param settlementGrace_ Seconds added to an agent's max duration to form a request deadline.
    constructor(
        IAgentRegistry registry_,
        uint48 initialAdminDelay,
        address initialAdmin,
        address treasury_,
        uint32 settlementGrace_
    ) Entitlements(registry_) AccessControlDefaultAdminRules(initialAdminDelay, initialAdmin) {
        if (treasury_ == address(0)) revert InvalidTreasury();
        if (settlementGrace_ > MAX_SETTLEMENT_GRACE) revert GraceTooLong(settlementGrace_);
        _config = Config({
            treasury: treasury_,
            feeBps: DEFAULT_FEE_BPS,
            settlementGrace: settlementGrace_,
            paused: false,
            nextRequestId: 1
        });
        _grantRole(PAUSER_ROLE, initialAdmin);
    }

    // ------------------------------------------------------------------ buying and spending

    /// @inheritdoc IAgentMarketplace
    function purchase(uint256 agentId, uint256 units, uint256 maxUnitPrice)
        external
        payable
        nonReentrant
        returns (uint256 creditId)
    {
        if (_config.paused) revert MarketplacePaused();
        if (units == 0) revert ZeroUnits();
        IAgentRegistry.AgentTerms memory t = registry.terms(agentId);
        if (t.status != IAgentRegistry.Status.Active) revert AgentNotActive(agentId);
        if (t.price > maxUnitPrice) revert PriceAboveMax(t.price, maxUnitPrice);

        uint256 cost = uint256(t.price) * units;
        if (t.paymentToken == address(0)) {
            if (msg.value != cost) revert WrongPayment(cost, msg.value);
        } else {
            if (msg.value != 0) revert WrongPayment(0, msg.value);
            IERC20 token = IERC20(t.paymentToken);
            uint256 balanceBefore = token.balanceOf(address(this));
            token.safeTransferFrom(msg.sender, address(this), cost);
            uint256 received = token.balanceOf(address(this)) - balanceBefore;
            if (received != cost) revert WrongPayment(cost, received);
        }

        creditId = CreditId.encode(agentId, t.price);
        emit Purchased(msg.sender, agentId, creditId, t.paymentToken, t.price, units);
        // Last: minting to a contract calls its onERC1155Received hook.
        _mint(msg.sender, creditId, units, "");
    }

    /// @inheritdoc IAgentMarketplace
    function requestExecution(uint256 creditId, bytes32 inputHash)
        external
        nonReentrant
        returns (uint256 requestId)
    {
        Config memory config = _config;
        if (config.paused) revert MarketplacePaused();
        (uint256 agentId, uint96 unitPrice) = CreditId.decode(creditId);
        IAgentRegistry.AgentTerms memory t = registry.terms(agentId);
        if (t.status != IAgentRegistry.Status.Active) revert AgentNotActive(agentId);

        _burn(msg.sender, creditId, 1);

        Execution memory execution = Execution({
            requester: msg.sender,
            developer: t.developer,
            token: t.paymentToken,
            creditId: creditId,
            deadline: uint40(block.timestamp) + t.maxDuration + config.settlementGrace
        });
        requestId = config.nextRequestId;
        _config.nextRequestId = config.nextRequestId + 1;
        _requests[requestId] = keccak256(abi.encode(execution));

        emit ExecutionRequested(
            requestId,
            agentId,
            msg.sender,
            t.developer,
            t.paymentToken,
            creditId,
            unitPrice,
            inputHash,
            execution.deadline
        );
    }

    // ------------------------------------------------------------------ ending a request

    /// @inheritdoc IAgentMarketplace
    function settle(uint256 requestId, Execution calldata execution, bool success, bytes32 outputHash)
        external
        nonReentrant
        onlyRole(RELAYER_ROLE)
    {
        // Deadlines are minutes to days away; a validator's few seconds of drift do not matter.
        // forge-lint: disable-next-line(block-timestamp)
        if (block.timestamp > execution.deadline) {
            _checkOpen(requestId, execution);
            revert RequestExpired(requestId, execution.deadline);
        }
        _close(requestId, execution);

        (, uint96 unitPrice) = CreditId.decode(execution.creditId);
        if (success) {
            Config memory config = _config;
            uint256 fee = uint256(unitPrice) * config.feeBps / BPS;
            uint256 payout = unitPrice - fee;
            _credit(execution.token, execution.developer, payout);
            if (fee != 0) _credit(execution.token, config.treasury, fee);
            emit ExecutionSettled(
                requestId, true, outputHash, execution.developer, execution.token, payout, fee
            );
        } else {
            _credit(execution.token, execution.requester, unitPrice);
            emit ExecutionSettled(
                requestId, false, outputHash, execution.requester, execution.token, unitPrice, 0
            );
        }
    }

    /// @inheritdoc IAgentMarketplace
    function reclaim(uint256 requestId, Execution calldata execution) external nonReentrant {
        if (msg.sender != execution.requester) revert NotRequester(requestId, msg.sender);
        // forge-lint: disable-next-line(block-timestamp)
        if (block.timestamp <= execution.deadline) {
            _checkOpen(requestId, execution);
            revert DeadlineNotReached(requestId, execution.deadline);
        }
        _close(requestId, execution);

        (, uint96 unitPrice) = CreditId.decode(execution.creditId);
        _credit(execution.token, execution.requester, unitPrice);
        emit ExecutionReclaimed(requestId, execution.requester, execution.token, unitPrice);
    }

    /// @inheritdoc IAgentMarketplace
    function cancel(uint256 creditId, uint256 units) external nonReentrant {
        if (units == 0) revert ZeroUnits();
        (uint256 agentId, uint96 unitPrice) = CreditId.decode(creditId);
        _burn(msg.sender, creditId, units);
        address token = registry.terms(agentId).paymentToken;
        uint256 amount = uint256(unitPrice) * units;
        _credit(token, msg.sender, amount);
        emit CreditsCancelled(msg.sender, agentId, creditId, units, amount);
    }

    /// @inheritdoc IAgentMarketplace
    function withdraw(address token) external nonReentrant {
        _withdraw(token, payable(msg.sender));
    }

    /// @inheritdoc IAgentMarketplace
    function withdrawTo(address token, address payable to) external nonReentrant {
        // Paying the marketplace itself would strand the funds: they would be held but owed to no one.
        if (to == address(0) || to == address(this)) revert InvalidRecipient();
        _withdraw(token, to);
    }

    // ------------------------------------------------------------------ administration

    /// @notice Sets the platform fee on successful executions. Default admin only.
    /// @dev Applies to settlements from now on, including of requests already open.
    function setFeeBps(uint16 feeBps_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (feeBps_ > MAX_FEE_BPS) revert FeeTooHigh(feeBps_);
        emit FeeUpdated(_config.feeBps, feeBps_);
        _config.feeBps = feeBps_;
    }

    /// @notice Sets the account that receives platform fees. Default admin only.
    function setTreasury(address treasury_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (treasury_ == address(0)) revert InvalidTreasury();
        emit TreasuryUpdated(_config.treasury, treasury_);
        _config.treasury = treasury_;
    }

    /// @notice Sets the seconds added to an agent's max duration to form new requests' deadlines.
    /// Default admin only; open requests keep the deadline they were given.
    function setSettlementGrace(uint32 grace) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (grace > MAX_SETTLEMENT_GRACE) revert GraceTooLong(grace);
        emit SettlementGraceUpdated(_config.settlementGrace, grace);
        _config.settlementGrace = grace;
    }

    /// @notice Stops purchases and new requests. Settlement, reclaim, cancel and withdraw stay
    /// open so that no one's funds are ever locked by a pause. Pauser only.
    function pause() external onlyRole(PAUSER_ROLE) {
        if (_config.paused) revert MarketplacePaused();
        _config.paused = true;
        emit Paused(msg.sender);
    }

    /// @notice Resumes purchases and requests. Pauser only.
    function unpause() external onlyRole(PAUSER_ROLE) {
        if (!_config.paused) revert NotPaused();
        _config.paused = false;
        emit Unpaused(msg.sender);
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IAgentMarketplace
    function withdrawable(address token, address account) external view returns (uint256) {
        Balance memory balance = _balances[token][account];
        return balance.credited - balance.withdrawn;
    }

    /// @inheritdoc IAgentMarketplace
    function requestCommitment(uint256 requestId) external view returns (bytes32) {
        return _requests[requestId];
    }

    /// @inheritdoc IAgentMarketplace
    function isOpen(uint256 requestId) external view returns (bool) {
        return _requests[requestId] != bytes32(0);
    }

    /// @inheritdoc IAgentMarketplace
    function creditIdOf(uint256 agentId, uint96 unitPrice) external pure returns (uint256) {
        return CreditId.encode(agentId, unitPrice);
    }

    /// @inheritdoc IAgentMarketplace
    function decodeCreditId(uint256 creditId) external pure returns (uint256 agentId, uint96 unitPrice) {
        return CreditId.decode(creditId);
    }

    /// @notice Platform fee in basis points.
    function feeBps() external view returns (uint16) {
        return _config.feeBps;
    }

    /// @notice Account credited with platform fees.
    function treasury() external view returns (address) {
        return _config.treasury;
    }

    /// @notice Seconds added to an agent's max duration to form a request's deadline.
    function settlementGrace() external view returns (uint32) {
        return _config.settlementGrace;
    }

    /// @notice Whether purchases and new requests are stopped.
    function paused() external view returns (bool) {
        return _config.paused;
    }

    /// @notice The id the next request will get.
    function nextRequestId() external view returns (uint256) {
        return _config.nextRequestId;
    }

    /// @inheritdoc ERC1155
    function supportsInterface(bytes4 interfaceId)
        public
        view
        override(ERC1155, AccessControlDefaultAdminRules)
        returns (bool)
    {
        return super.supportsInterface(interfaceId);
    }

    // ------------------------------------------------------------------ internals

    /// @dev Adds `amount` to what `account` can withdraw in `token`.
    function _credit(address token, address account, uint256 amount) private {
        _balances[token][account].credited += SafeCast.toUint128(amount);
    }

    /// @dev Pays the caller's whole balance of `token` to `to` (effects before the transfer).
    function _withdraw(address token, address payable to) private {
        Balance storage balance = _balances[token][msg.sender];
        uint128 amount = balance.credited - balance.withdrawn;
        if (amount == 0) revert NothingToWithdraw(msg.sender, token);
        balance.withdrawn = balance.credited;
        emit Withdrawn(msg.sender, token, to, amount);
        if (token == address(0)) {
            (bool sent,) = to.call{value: amount}("");
            if (!sent) revert EthTransferFailed(to, amount);
        } else {
            IERC20(token).safeTransfer(to, amount);
        }
    }

    /// @dev Reverts unless `execution` matches the open request `requestId`.
    function _checkOpen(uint256 requestId, Execution calldata execution) private view {
        bytes32 stored = _requests[requestId];
        if (stored == bytes32(0)) revert RequestNotOpen(requestId);
        if (stored != keccak256(abi.encode(execution))) {
            revert RequestMismatch(requestId);
        }
    }

    /// @dev Checks and closes the request; the deleted slot makes a second close impossible.
    function _close(uint256 requestId, Execution calldata execution) private {
        _checkOpen(requestId, execution);
        delete _requests[requestId];
    }
}
