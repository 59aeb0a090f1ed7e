// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Test, Vm} from "forge-std/Test.sol";

import {AgentMarketplace} from "../../contracts/AgentMarketplace.sol";
import {AgentRegistry} from "../../contracts/AgentRegistry.sol";
import {IAgentMarketplace} from "../../contracts/interfaces/IAgentMarketplace.sol";
import {IAgentRegistry} from "../../contracts/interfaces/IAgentRegistry.sol";
import {TestUSDC} from "../../contracts/mocks/TestUSDC.sol";

/// @dev Any test token that can be minted freely (TestUSDC and the mocks under test/utils).
interface IMintable {
    function mint(address to, uint256 amount) external;
}

/// @title BaseTest
/// @notice Shared fixture for the unit, fuzz, reentrancy and invariant suites: deploys the registry,
/// the marketplace and TestUSDC, hands out the roles and lists one ETH agent and one USDC agent.
/// @dev Helpers never assume a particular test: they take the actor as an argument and leave no
/// prank behind.
abstract contract BaseTest is Test {
    // ------------------------------------------------------------------ configuration

    uint48 internal constant ADMIN_DELAY = 2 days;
    uint32 internal constant GRACE = 1 hours;

    uint96 internal constant ETH_PRICE = 0.01 ether;
    uint96 internal constant USDC_PRICE = 5e6; // 5 USDC
    uint32 internal constant ETH_MAX_DURATION = 10 minutes;
    uint32 internal constant USDC_MAX_DURATION = 1 hours;
    bytes32 internal constant ETH_IMAGE_DIGEST = keccak256("agentnexus/echo@sha256");
    bytes32 internal constant USDC_IMAGE_DIGEST = keccak256("agentnexus/price-oracle@sha256");
    string internal constant ETH_METADATA_URI = "ipfs://bafy-echo-agent/metadata.json";
    string internal constant USDC_METADATA_URI = "https://agents.example/price-oracle.json";

    bytes32 internal constant INPUT_HASH = keccak256('{"prompt":"hello"}');
    bytes32 internal constant OUTPUT_HASH = keccak256('{"answer":"world"}');

    // ------------------------------------------------------------------ actors

    address internal admin = makeAddr("admin");
    address internal curator = makeAddr("curator");
    address internal relayer = makeAddr("relayer");
    address internal pauser = makeAddr("pauser");
    address internal treasury = makeAddr("treasury");
    address internal developer = makeAddr("developer");
    address internal alice = makeAddr("alice");
    address internal bob = makeAddr("bob");
    address internal stranger = makeAddr("stranger");

    // ------------------------------------------------------------------ system under test

    AgentRegistry internal registry;
    AgentMarketplace internal marketplace;
    TestUSDC internal usdc;

    uint256 internal ethAgentId;
    uint256 internal usdcAgentId;

    function setUp() public virtual {
        _deploy();
    }

    function _deploy() internal {
        usdc = new TestUSDC();
        registry = new AgentRegistry(ADMIN_DELAY, admin);
        marketplace = new AgentMarketplace(registry, ADMIN_DELAY, admin, treasury, GRACE);

        vm.startPrank(admin);
        registry.grantRole(registry.CURATOR_ROLE(), curator);
        marketplace.grantRole(marketplace.RELAYER_ROLE(), relayer);
        marketplace.grantRole(marketplace.PAUSER_ROLE(), pauser);
        vm.stopPrank();

        ethAgentId = _registerAgent(
            _agentParams(
                developer, address(0), ETH_PRICE, ETH_MAX_DURATION, ETH_IMAGE_DIGEST, ETH_METADATA_URI
            )
        );
        usdcAgentId = _registerAgent(
            _agentParams(
                developer, address(usdc), USDC_PRICE, USDC_MAX_DURATION, USDC_IMAGE_DIGEST, USDC_METADATA_URI
            )
        );

        vm.label(address(registry), "AgentRegistry");
        vm.label(address(marketplace), "AgentMarketplace");
        vm.label(address(usdc), "TestUSDC");
    }

    // ------------------------------------------------------------------ registry helpers

    function _agentParams(
        address developer_,
        address paymentToken,
        uint96 price,
        uint32 maxDuration,
        bytes32 imageDigest,
        string memory uri
    ) internal pure returns (IAgentRegistry.AgentParams memory) {
        return IAgentRegistry.AgentParams({
            developer: developer_,
            paymentToken: paymentToken,
            price: price,
            maxDuration: maxDuration,
            category: IAgentRegistry.Category.General,
            imageDigest: imageDigest,
            metadataURI: uri
        });
    }

    /// @dev Valid params for an agent of `developer_` paid in `paymentToken` at `price`.
    function _agentParams(address developer_, address paymentToken, uint96 price)
        internal
        pure
        returns (IAgentRegistry.AgentParams memory)
    {
        return _agentParams(
            developer_, paymentToken, price, ETH_MAX_DURATION, ETH_IMAGE_DIGEST, ETH_METADATA_URI
        );
    }

    function _registerAgent(IAgentRegistry.AgentParams memory params) internal returns (uint256 agentId) {
        vm.prank(curator);
        agentId = registry.registerAgent(params);
    }

    function _registerAgent(address developer_, address paymentToken, uint96 price)
        internal
        returns (uint256 agentId)
    {
        return _registerAgent(_agentParams(developer_, paymentToken, price));
    }

    /// @dev Changes only the price of `agentId`, as a curator, keeping every other field.
    function _setPrice(uint256 agentId, uint96 price) internal {
        IAgentRegistry.Agent memory agent = registry.getAgent(agentId);
        vm.prank(curator);
        registry.updateAgent(agentId, price, agent.terms.maxDuration, agent.imageDigest, agent.metadataURI);
    }

    function _setStatus(uint256 agentId, IAgentRegistry.Status status) internal {
        vm.prank(curator);
        registry.setStatus(agentId, status);
    }

    function _paymentToken(uint256 agentId) internal view returns (address) {
        return registry.terms(agentId).paymentToken;
    }

    // ------------------------------------------------------------------ marketplace helpers

    /// @dev What `units` credits of `agentId` cost at its current price.
    function _cost(uint256 agentId, uint256 units) internal view returns (uint256) {
        return uint256(registry.terms(agentId).price) * units;
    }

    /// @dev Gives `buyer` exactly the payment for `units` credits of `agentId` (ETH via deal, tokens
    /// by minting and approving) and buys them as `buyer`.
    /// The bound passed is the current price, as a buyer who just read it would pass.
    function _buy(address buyer, uint256 agentId, uint256 units) internal returns (uint256 creditId) {
        uint256 cost = _cost(agentId, units);
        uint96 price = registry.terms(agentId).price;
        address token = _paymentToken(agentId);
        if (token == address(0)) {
            vm.deal(buyer, buyer.balance + cost);
            vm.prank(buyer);
            creditId = marketplace.purchase{value: cost}(agentId, units, price);
        } else {
            _mintAndApprove(token, buyer, cost);
            vm.prank(buyer);
            creditId = marketplace.purchase(agentId, units, price);
        }
    }

    /// @dev Mints `amount` of `token` to `owner` and approves the marketplace for it.
    function _mintAndApprove(address token, address owner, uint256 amount) internal virtual {
        IMintable(token).mint(owner, amount);
        vm.prank(owner);
        IERC20(token).approve(address(marketplace), amount);
    }

    /// @dev Buys `units` credits of `agentId` for `account` and cancels them at once, leaving their
    /// cost in `account`'s withdrawable balance; returns that amount.
    function _buyAndCancel(address account, uint256 agentId, uint256 units)
        internal
        returns (uint256 amount)
    {
        uint256 creditId = _buy(account, agentId, units);
        vm.prank(account);
        marketplace.cancel(creditId, units);
        return _cost(agentId, units);
    }

    /// @dev Requests an execution as `requester` and rebuilds its Execution from the
    /// ExecutionRequested log, exactly as the relayer does.
    function _request(address requester, uint256 creditId, bytes32 inputHash)
        internal
        returns (uint256 requestId, IAgentMarketplace.Execution memory execution)
    {
        vm.recordLogs();
        vm.prank(requester);
        requestId = marketplace.requestExecution(creditId, inputHash);
        execution = _executionFromLogs(vm.getRecordedLogs(), requestId);
    }

    function _request(address requester, uint256 creditId)
        internal
        returns (uint256 requestId, IAgentMarketplace.Execution memory execution)
    {
        return _request(requester, creditId, INPUT_HASH);
    }

    /// @dev Buys one credit of `agentId` for `requester` and spends it on a request.
    function _buyAndRequest(address requester, uint256 agentId)
        internal
        returns (uint256 requestId, IAgentMarketplace.Execution memory execution)
    {
        uint256 creditId = _buy(requester, agentId, 1);
        return _request(requester, creditId);
    }

    /// @dev The Execution struct `settle` and `reclaim` expect, from the ExecutionRequested fields.
    function _execution(
        address requester,
        address developer_,
        address token,
        uint256 creditId,
        uint40 deadline
    ) internal pure returns (IAgentMarketplace.Execution memory) {
        return IAgentMarketplace.Execution({
            requester: requester, developer: developer_, token: token, creditId: creditId, deadline: deadline
        });
    }

    /// @dev The commitment the marketplace stores for an open request.
    function _commitment(IAgentMarketplace.Execution memory execution) internal pure returns (bytes32) {
        return keccak256(abi.encode(execution));
    }

    /// @dev The fields of one ExecutionRequested log (indexed ones from the topics).
    struct RequestedLog {
        uint256 requestId;
        uint256 agentId;
        address requester;
        address developer;
        address token;
        uint256 creditId;
        uint96 unitPrice;
        bytes32 inputHash;
        uint40 deadline;
    }

    /// @dev Decodes `log_` as an ExecutionRequested log of the marketplace, the way an indexer does.
    function _decodeRequested(Vm.Log memory log_) internal view returns (bool found, RequestedLog memory r) {
        if (
            log_.emitter != address(marketplace) || log_.topics.length != 4
                || log_.topics[0] != IAgentMarketplace.ExecutionRequested.selector
        ) return (false, r);
        r.requestId = uint256(log_.topics[1]);
        r.agentId = uint256(log_.topics[2]);
        r.requester = address(uint160(uint256(log_.topics[3])));
        (r.developer, r.token, r.creditId, r.unitPrice, r.inputHash, r.deadline) =
            abi.decode(log_.data, (address, address, uint256, uint96, bytes32, uint40));
        return (true, r);
    }

    /// @dev Finds the ExecutionRequested log of `requestId` and returns its Execution.
    function _executionFromLogs(Vm.Log[] memory logs, uint256 requestId)
        internal
        view
        returns (IAgentMarketplace.Execution memory)
    {
        for (uint256 i; i < logs.length; ++i) {
            (bool found, RequestedLog memory r) = _decodeRequested(logs[i]);
            if (found && r.requestId == requestId) {
                return _execution(r.requester, r.developer, r.token, r.creditId, r.deadline);
            }
        }
        revert("BaseTest: no ExecutionRequested log");
    }

    /// @dev The deadline a request for `agentId` made now would get.
    function _expectedDeadline(uint256 agentId) internal view returns (uint40) {
        return uint40(block.timestamp) + registry.terms(agentId).maxDuration + marketplace.settlementGrace();
    }

    function _settle(uint256 requestId, IAgentMarketplace.Execution memory execution, bool success) internal {
        vm.prank(relayer);
        marketplace.settle(requestId, execution, success, success ? OUTPUT_HASH : bytes32(0));
    }

    function _withdrawable(address token, address account) internal view returns (uint256) {
        return marketplace.withdrawable(token, account);
    }

    /// @dev The fee `settle` takes from `unitPrice` at the current fee rate.
    function _fee(uint256 unitPrice) internal view returns (uint256) {
        return unitPrice * marketplace.feeBps() / 10_000;
    }

    /// @dev Balance of `token` (address(0) = ETH) held by `account`.
    function _balanceOf(address token, address account) internal view returns (uint256) {
        return token == address(0) ? account.balance : IERC20(token).balanceOf(account);
    }
}
