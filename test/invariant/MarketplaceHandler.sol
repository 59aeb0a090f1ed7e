// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {CommonBase} from "forge-std/Base.sol";
import {StdCheats} from "forge-std/StdCheats.sol";
import {StdUtils} from "forge-std/StdUtils.sol";
import {Vm} from "forge-std/Vm.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";

import {AgentMarketplace} from "../../contracts/AgentMarketplace.sol";
import {AgentRegistry} from "../../contracts/AgentRegistry.sol";
import {IAgentMarketplace} from "../../contracts/interfaces/IAgentMarketplace.sol";
import {IAgentRegistry} from "../../contracts/interfaces/IAgentRegistry.sol";
import {CreditId} from "../../contracts/libraries/CreditId.sol";
import {TestUSDC} from "../../contracts/mocks/TestUSDC.sol";

/// @title MarketplaceHandler
/// @notice Drives AgentMarketplace through random but always-valid sequences of purchases, execution
/// requests, settlements (success and failure), reclaims, cancels, withdrawals, price and fee changes,
/// pauses and time warps, and keeps an independent ghost model of who is owed what.
/// @dev Every public function bounds its inputs and, where a precondition is missing (no credit held,
/// no open request...), first creates it, so that no call reverts for a trivial reason
/// (`fail_on_revert = true`). Calls that are expected to revert (double settlement, strangers'
/// attempts, pause probes) go through try/catch and record a violation when they do not revert with
/// the exact expected error. The model never reads the marketplace's accounting to compute what
/// anyone is owed: it reads only the event/return values it cross-checks.
contract MarketplaceHandler is CommonBase, StdCheats, StdUtils {
    uint256 internal constant BPS = 10_000;
    uint256 internal constant MAX_UNITS = 5;

    // ------------------------------------------------------------------ system under test

    AgentMarketplace public immutable market;
    AgentRegistry public immutable registry;
    TestUSDC public immutable usdc;
    address public immutable admin; // default admin + pauser of the marketplace, curator of the registry
    address public immutable relayer;
    address public immutable treasury;
    uint32 public immutable grace;

    address[] internal _buyers;
    address[] internal _developers;
    /// @dev Everyone who may legitimately be owed something: buyers, developers, treasury.
    address[] internal _payees;
    /// @dev Addresses that take part (or try to) but must never be owed anything.
    address[] internal _strangers;
    address[] internal _tokens;
    /// @dev Each payee's second wallet, which `withdrawTo` pays into.
    mapping(address payee => address) public coldWalletOf;
    address[] internal _coldWallets;

    // ------------------------------------------------------------------ model: agents, fee, pauses

    struct AgentModel {
        address token;
        address developer;
        uint96 price;
        uint32 maxDuration;
        bool paused;
    }

    uint256[] internal _agentIds;
    mapping(uint256 agentId => AgentModel) internal _agents;
    uint256 public ghost_feeBps;
    bool public ghost_marketPaused;

    // ------------------------------------------------------------------ model: credits

    uint256[] internal _creditIds; // every credit id ever minted
    mapping(uint256 creditId => bool) internal _knownCredit;
    /// @dev Amount paid for the still-unspent credits of each id (purchases - requests - cancels).
    mapping(uint256 creditId => uint256) public ghost_creditPaid;
    mapping(address holder => mapping(uint256 creditId => uint256)) public ghost_units;

    // ------------------------------------------------------------------ model: requests

    enum RequestState {
        None,
        Open,
        SettledSuccess,
        SettledFailure,
        Reclaimed
    }

    struct RequestModel {
        IAgentMarketplace.Execution execution;
        uint256 agentId;
        address token;
        uint96 unitPrice;
        RequestState state;
        uint256 closes; // how many closing calls succeeded: must stay <= 1
    }

    uint256 public ghost_nextRequestId = 1;
    uint256[] internal _requestIds;
    mapping(uint256 requestId => RequestModel) internal _requests;
    uint256[] internal _openIds;
    mapping(uint256 requestId => uint256 position) internal _openPos; // 1-based index into _openIds
    uint256[] internal _closedIds;

    // ------------------------------------------------------------------ model: money, per token and per actor

    mapping(address token => uint256) public ghost_deposited; // paid in by purchases
    mapping(address token => uint256) public ghost_withdrawnTotal; // paid out by withdrawals
    mapping(address token => uint256) public ghost_unspentCreditValue;
    mapping(address token => uint256) public ghost_openEscrow;

    /// @dev Cumulative amount the model says `actor` became entitled to (payouts, fees, refunds,
    /// reclaims, cancels). Inflows to the actor's withdrawable balance.
    mapping(address actor => mapping(address token => uint256)) public ghost_owed;
    mapping(address actor => mapping(address token => uint256)) public ghost_withdrawn;
    /// @dev What the handler minted/dealt to the actor, and what the actor paid into the marketplace.
    mapping(address actor => mapping(address token => uint256)) public ghost_funded;
    mapping(address actor => mapping(address token => uint256)) public ghost_spent;
    /// @dev What withdrawals paid into each wallet (the account's own for `withdraw`, any `to` for
    /// `withdrawTo`).
    mapping(address wallet => mapping(address token => uint256)) public ghost_received;

    // ------------------------------------------------------------------ violations and statistics

    bool public ghost_doubleCloseSucceeded;
    bool public ghost_strangerSucceeded;
    uint256 public ghost_violations;
    string public ghost_firstViolation;

    uint256 public ghost_doubleCloseAttempts;
    uint256 public ghost_strangerAttempts;
    uint256 public ghost_pauseProbes;
    uint256 public ghost_expiredSettleProbes;
    uint256 public ghost_earlyReclaimProbes;
    uint256 public ghost_priceBoundProbes;
    mapping(bytes32 action => uint256) public calls;

    constructor(
        AgentMarketplace market_,
        AgentRegistry registry_,
        TestUSDC usdc_,
        address admin_,
        address relayer_,
        address treasury_,
        address[] memory buyers_,
        address[] memory developers_,
        address[] memory strangers_,
        uint256[] memory agentIds_
    ) {
        market = market_;
        registry = registry_;
        usdc = usdc_;
        admin = admin_;
        relayer = relayer_;
        treasury = treasury_;
        grace = market_.settlementGrace();
        ghost_feeBps = market_.feeBps();

        _buyers = buyers_;
        _developers = developers_;
        _strangers = strangers_;
        for (uint256 i; i < buyers_.length; ++i) {
            _payees.push(buyers_[i]);
        }
        for (uint256 i; i < developers_.length; ++i) {
            _payees.push(developers_[i]);
        }
        _payees.push(treasury_);
        for (uint256 i; i < _payees.length; ++i) {
            address cold = address(uint160(uint256(keccak256(abi.encode("cold wallet", _payees[i])))));
            coldWalletOf[_payees[i]] = cold;
            _coldWallets.push(cold);
        }
        _tokens.push(address(0));
        _tokens.push(address(usdc_));

        // The model starts from the agents as registered by the fixture, then evolves on its own.
        for (uint256 i; i < agentIds_.length; ++i) {
            IAgentRegistry.AgentTerms memory t = registry_.terms(agentIds_[i]);
            _agentIds.push(agentIds_[i]);
            _agents[agentIds_[i]] = AgentModel({
                token: t.paymentToken,
                developer: t.developer,
                price: t.price,
                maxDuration: t.maxDuration,
                paused: false
            });
        }
    }

    // ================================================================== fuzzed actions

    /// @notice A buyer purchases 1..MAX_UNITS credits of an agent at its current price. First,
    /// a buyer who saw a lower price (`maxUnitPrice` one below the current one) is refused with
    /// PriceAboveMax and nothing changes (the ledgers the invariants check are left untouched).
    function purchase(uint256 buyerSeed, uint256 agentSeed, uint256 units) external {
        calls["purchase"]++;
        address buyer = _buyers[buyerSeed % _buyers.length];
        uint256 agentId = _agentIds[agentSeed % _agentIds.length];
        _resumeBusiness(buyer, agentId, 0);
        units = _bound(units, 1, MAX_UNITS);
        _probeStalePrice(buyer, agentId, units);
        _buy(buyer, agentId, units);
    }

    /// @notice A holder spends one credit on an execution request (buying one first if nobody holds any).
    function requestExecution(uint256 holderSeed, uint256 creditSeed) external {
        calls["requestExecution"]++;
        (address holder, uint256 creditId) = _heldCreditOrBuy(holderSeed, creditSeed);
        _requestFor(holder, creditId);
    }

    /// @notice The relayer settles an open request before its deadline, paying the developer or
    /// refunding the requester. When the picked request has expired, first checks that settling it
    /// reverts with RequestExpired.
    function settle(uint256 requestSeed, bool success, bytes32 outputHash) external {
        calls[success ? bytes32("settleSuccess") : bytes32("settleFailure")]++;
        uint256 n = _openIds.length;
        uint256 requestId;
        bool found;
        for (uint256 i; i < n; ++i) {
            uint256 id = _openIds[(requestSeed % n + i) % n];
            RequestModel storage r = _requests[id];
            if (block.timestamp <= r.execution.deadline) {
                requestId = id;
                found = true;
                break;
            }
            if (i == 0) _probeExpiredSettle(id);
        }
        if (!found) {
            (address holder, uint256 creditId) = _heldCreditOrBuy(requestSeed, requestSeed >> 8);
            requestId = _requestFor(holder, creditId);
        }
        _settle(requestId, success, outputHash);
    }

    /// @notice The requester reclaims an open request after its deadline (warping past it when needed;
    /// before warping, checks that an early reclaim reverts with DeadlineNotReached).
    function reclaim(uint256 requestSeed, uint256 extraDelay) external {
        calls["reclaim"]++;
        uint256 requestId;
        if (_openIds.length == 0) {
            (address holder, uint256 creditId) = _heldCreditOrBuy(requestSeed, requestSeed >> 8);
            requestId = _requestFor(holder, creditId);
        } else {
            requestId = _openIds[requestSeed % _openIds.length];
        }
        RequestModel storage r = _requests[requestId];
        IAgentMarketplace.Execution memory execution = r.execution;
        if (block.timestamp <= execution.deadline) {
            ghost_earlyReclaimProbes++;
            vm.prank(execution.requester);
            try market.reclaim(requestId, execution) {
                _violation("reclaim before the deadline succeeded");
            } catch (bytes memory err) {
                _expectError(
                    err,
                    abi.encodeWithSelector(
                        IAgentMarketplace.DeadlineNotReached.selector, requestId, execution.deadline
                    ),
                    "early reclaim: wrong error"
                );
            }
            vm.warp(uint256(execution.deadline) + 1 + _bound(extraDelay, 0, 1 days));
        }
        _reclaim(requestId);
    }

    /// @notice A holder returns 1..balance unused credits of one id.
    function cancel(uint256 holderSeed, uint256 creditSeed, uint256 units) external {
        calls["cancel"]++;
        (address holder, uint256 creditId) = _heldCreditOrBuy(holderSeed, creditSeed);
        _cancel(holder, creditId, _bound(units, 1, ghost_units[holder][creditId]));
    }

    /// @notice Some payee with a non-zero balance withdraws it, to itself or (`withdrawTo`) to its
    /// cold wallet (no-op when nobody has anything).
    function withdraw(uint256 actorSeed, uint256 tokenSeed, uint256 modeSeed) external {
        uint256 n = _payees.length;
        for (uint256 i; i < n; ++i) {
            address account = _payees[(actorSeed % n + i) % n];
            for (uint256 j; j < 2; ++j) {
                address token = _tokens[(tokenSeed % 2 + j) % 2];
                if (market.withdrawable(token, account) != 0) {
                    if (modeSeed % 2 == 0) {
                        calls["withdraw"]++;
                        _withdraw(account, token, account);
                    } else {
                        calls["withdrawTo"]++;
                        if (modeSeed % 4 == 1) _probeZeroRecipient(account, token);
                        _withdraw(account, token, coldWalletOf[account]);
                    }
                    return;
                }
            }
        }
        calls["withdrawNoop"]++;
    }

    /// @notice The curator (or the agent's developer) changes an agent's price and max duration, so
    /// credits of one agent come to exist at several unit prices. Some prices are tiny so that the
    /// platform fee rounds down to zero; most come from a short menu so that ids recur.
    function setPrice(uint256 agentSeed, uint256 priceSeed, uint256 durationSeed, bool byDeveloper) external {
        calls["setPrice"]++;
        uint256 agentId = _agentIds[agentSeed % _agentIds.length];
        AgentModel storage a = _agents[agentId];
        uint96 price = _pickPrice(a.token, priceSeed);
        uint32 maxDuration = uint32(_bound(durationSeed, 1 minutes, 2 days));
        address caller = byDeveloper ? a.developer : admin;
        vm.prank(caller);
        registry.updateAgent(
            agentId, price, maxDuration, keccak256(abi.encode(agentId, price)), "ipfs://agent"
        );
        a.price = price;
        a.maxDuration = maxDuration;
    }

    /// @notice The admin changes the platform fee (0..10%); it applies to later settlements.
    function setFee(uint256 feeSeed) external {
        calls["setFee"]++;
        uint16 feeBps = uint16(_bound(feeSeed, 0, 1_000));
        vm.prank(admin);
        market.setFeeBps(feeBps);
        ghost_feeBps = feeBps;
    }

    /// @notice Toggles the marketplace pause or one agent's Active/Paused status. Purchases and
    /// requests check (and lift) pauses before going on; settle/reclaim/cancel/withdraw run paused.
    function togglePause(uint256 seed) external {
        calls["togglePause"]++;
        if (seed % 2 == 0) {
            vm.prank(admin);
            if (ghost_marketPaused) market.unpause();
            else market.pause();
            ghost_marketPaused = !ghost_marketPaused;
        } else {
            uint256 agentId = _agentIds[(seed >> 1) % _agentIds.length];
            AgentModel storage a = _agents[agentId];
            vm.prank(admin);
            registry.setStatus(
                agentId, a.paused ? IAgentRegistry.Status.Active : IAgentRegistry.Status.Paused
            );
            a.paused = !a.paused;
        }
    }

    /// @notice Time passes (1 second to 2 days), expiring some open requests.
    function warp(uint256 delay) external {
        calls["warp"]++;
        vm.warp(block.timestamp + _bound(delay, 1, 2 days));
    }

    /// @notice Tries to settle or reclaim an already closed request; it must revert with RequestNotOpen.
    function closeAgain(uint256 requestSeed, uint256 mode) external {
        calls["closeAgain"]++;
        if (_closedIds.length == 0) {
            (address holder, uint256 creditId) = _heldCreditOrBuy(requestSeed, requestSeed >> 8);
            _settle(_requestFor(holder, creditId), mode % 3 == 0, bytes32(0));
        }
        uint256 requestId = _closedIds[requestSeed % _closedIds.length];
        IAgentMarketplace.Execution memory execution = _requests[requestId].execution;
        bytes memory expected = abi.encodeWithSelector(IAgentMarketplace.RequestNotOpen.selector, requestId);
        ghost_doubleCloseAttempts++;
        if (mode % 2 == 0) {
            vm.prank(relayer);
            try market.settle(requestId, execution, (mode >> 1) % 2 == 0, bytes32(mode)) {
                ghost_doubleCloseSucceeded = true;
                _violation("a closed request was settled again");
            } catch (bytes memory err) {
                _expectError(err, expected, "settle of a closed request: wrong error");
            }
        } else {
            vm.prank(execution.requester);
            try market.reclaim(requestId, execution) {
                ghost_doubleCloseSucceeded = true;
                _violation("a closed request was reclaimed again");
            } catch (bytes memory err) {
                _expectError(err, expected, "reclaim of a closed request: wrong error");
            }
        }
    }

    /// @notice Someone tries to take an open request's escrow, or to be paid other than the request
    /// committed to: a stranger reclaims it (real or forged requester), a non-relayer settles it, the
    /// relayer settles a forged execution that would refund a stranger or pay a stranger as
    /// developer, or the requester reclaims it in the other token. Each must revert with the exact
    /// expected error; a success is recorded (and breaks invariant (4)).
    function strangerAttack(uint256 requestSeed, uint256 attackerSeed, uint256 mode) external {
        calls["strangerAttack"]++;
        uint256 requestId;
        if (_openIds.length == 0) {
            (address holder, uint256 creditId) = _heldCreditOrBuy(requestSeed, requestSeed >> 8);
            requestId = _requestFor(holder, creditId);
        } else {
            requestId = _openIds[requestSeed % _openIds.length];
        }
        IAgentMarketplace.Execution memory execution = _requests[requestId].execution;
        mode = mode % 6;
        // In mode 4 the attacker poses as the developer, so it must not be the real one.
        address attacker =
            _attacker(attackerSeed, execution.requester, mode == 4 ? execution.developer : relayer);
        IAgentMarketplace.Execution memory forged = IAgentMarketplace.Execution({
            requester: execution.requester,
            developer: execution.developer,
            token: execution.token,
            creditId: execution.creditId,
            deadline: execution.deadline
        });
        // Whether before or after the deadline, a forged execution fails the commitment check.
        bytes memory expected = abi.encodeWithSelector(IAgentMarketplace.RequestMismatch.selector, requestId);
        address caller = relayer;
        bool viaSettle = true;
        bool success;
        if (mode == 0) {
            // the real execution, reclaimed by someone else
            expected = abi.encodeWithSelector(IAgentMarketplace.NotRequester.selector, requestId, attacker);
            (caller, viaSettle) = (attacker, false);
        } else if (mode == 1) {
            // reclaimed by someone else, claiming to be the requester
            forged.requester = attacker;
            (caller, viaSettle) = (attacker, false);
        } else if (mode == 2) {
            // the real execution, settled by someone without the relayer role
            expected = abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, attacker, market.RELAYER_ROLE()
            );
            (caller, success) = (attacker, true);
        } else if (mode == 3) {
            // the relayer refunds a forged requester
            forged.requester = attacker;
        } else if (mode == 4) {
            // the relayer pays a forged developer
            forged.developer = attacker;
            success = true;
        } else {
            // the requester reclaims in the other token (USDC credits paid out in ETH, or vice versa)
            forged.token = execution.token == address(0) ? address(usdc) : address(0);
            if (block.timestamp <= execution.deadline) vm.warp(uint256(execution.deadline) + 1);
            (caller, viaSettle) = (execution.requester, false);
        }

        ghost_strangerAttempts++;
        bool succeeded;
        bytes memory err;
        IAgentMarketplace.Execution memory sent = mode == 0 || mode == 2 ? execution : forged;
        vm.prank(caller);
        if (viaSettle) {
            try market.settle(requestId, sent, success, bytes32(0)) {
                succeeded = true;
            } catch (bytes memory e) {
                err = e;
            }
        } else {
            try market.reclaim(requestId, sent) {
                succeeded = true;
            } catch (bytes memory e) {
                err = e;
            }
        }
        if (succeeded) {
            ghost_strangerSucceeded = true;
            _violation("a request paid out other than it committed to");
        } else {
            _expectError(err, expected, "stranger attack: wrong error");
        }
    }

    // ================================================================== end-of-run drain (not fuzzed)

    /// @notice Ends every open request by reclaim, cancels every unspent credit and withdraws every
    /// balance, all without unpausing: nothing may stay locked in the marketplace.
    function drain() external {
        uint256 latest = block.timestamp;
        for (uint256 i; i < _openIds.length; ++i) {
            uint40 deadline = _requests[_openIds[i]].execution.deadline;
            if (deadline >= latest) latest = uint256(deadline) + 1;
        }
        vm.warp(latest);
        while (_openIds.length != 0) {
            _reclaim(_openIds[_openIds.length - 1]);
        }
        for (uint256 i; i < _buyers.length; ++i) {
            for (uint256 j; j < _creditIds.length; ++j) {
                uint256 units = ghost_units[_buyers[i]][_creditIds[j]];
                if (units != 0) _cancel(_buyers[i], _creditIds[j], units);
            }
        }
        for (uint256 i; i < _payees.length; ++i) {
            for (uint256 j; j < 2; ++j) {
                if (market.withdrawable(_tokens[j], _payees[i]) != 0) {
                    _withdraw(_payees[i], _tokens[j], _payees[i]);
                }
            }
        }
    }

    // ================================================================== operations + model updates

    function _buy(address buyer, uint256 agentId, uint256 units) internal returns (uint256 creditId) {
        AgentModel storage a = _agents[agentId];
        uint256 cost = uint256(a.price) * units;
        uint256 expectedId = CreditId.encode(agentId, a.price);
        if (a.token == address(0)) {
            vm.deal(buyer, buyer.balance + cost);
            ghost_funded[buyer][address(0)] += cost;
            vm.prank(buyer);
            creditId = market.purchase{value: cost}(agentId, units, a.price);
        } else {
            usdc.mint(buyer, cost);
            ghost_funded[buyer][a.token] += cost;
            vm.prank(buyer);
            usdc.approve(address(market), cost);
            vm.prank(buyer);
            creditId = market.purchase(agentId, units, a.price);
        }
        if (creditId != expectedId) {
            _violation("purchase: credit id does not encode agent and current price");
        }

        if (!_knownCredit[expectedId]) {
            _knownCredit[expectedId] = true;
            _creditIds.push(expectedId);
        }
        ghost_units[buyer][expectedId] += units;
        ghost_creditPaid[expectedId] += cost;
        ghost_unspentCreditValue[a.token] += cost;
        ghost_deposited[a.token] += cost;
        ghost_spent[buyer][a.token] += cost;
        return expectedId;
    }

    function _requestFor(address holder, uint256 creditId) internal returns (uint256 requestId) {
        (uint256 agentId, uint96 unitPrice) = CreditId.decode(creditId);
        _resumeBusiness(holder, agentId, creditId);
        AgentModel storage a = _agents[agentId];
        uint40 expectedDeadline = uint40(block.timestamp) + a.maxDuration + grace;
        bytes32 inputHash = keccak256(abi.encode(holder, creditId, ghost_nextRequestId));

        vm.recordLogs();
        vm.prank(holder);
        requestId = market.requestExecution(creditId, inputHash);
        uint40 deadline =
            _deadlineFromEvent(vm.getRecordedLogs(), requestId, agentId, holder, a, creditId, inputHash);

        if (requestId != ghost_nextRequestId) _violation("request ids are not sequential");
        if (deadline != expectedDeadline) _violation("deadline != now + maxDuration + grace");
        ghost_nextRequestId = requestId + 1;

        IAgentMarketplace.Execution memory execution = IAgentMarketplace.Execution({
            requester: holder, developer: a.developer, token: a.token, creditId: creditId, deadline: deadline
        });
        if (market.requestCommitment(requestId) != keccak256(abi.encode(execution))) {
            _violation("stored commitment does not match the emitted execution");
        }
        _requests[requestId] = RequestModel({
            execution: execution,
            agentId: agentId,
            token: a.token,
            unitPrice: unitPrice,
            state: RequestState.Open,
            closes: 0
        });
        _requestIds.push(requestId);
        _openIds.push(requestId);
        _openPos[requestId] = _openIds.length;

        ghost_units[holder][creditId] -= 1;
        ghost_creditPaid[creditId] -= unitPrice;
        ghost_unspentCreditValue[a.token] -= unitPrice;
        ghost_openEscrow[a.token] += unitPrice;
    }

    function _settle(uint256 requestId, bool success, bytes32 outputHash) internal {
        RequestModel storage r = _requests[requestId];
        vm.prank(relayer);
        market.settle(requestId, r.execution, success, outputHash);

        uint256 price = r.unitPrice;
        if (success) {
            uint256 fee = price * ghost_feeBps / BPS;
            ghost_owed[_agents[r.agentId].developer][r.token] += price - fee;
            ghost_owed[treasury][r.token] += fee;
        } else {
            ghost_owed[r.execution.requester][r.token] += price;
        }
        _closeModel(requestId, success ? RequestState.SettledSuccess : RequestState.SettledFailure);
    }

    function _reclaim(uint256 requestId) internal {
        RequestModel storage r = _requests[requestId];
        vm.prank(r.execution.requester);
        market.reclaim(requestId, r.execution);
        ghost_owed[r.execution.requester][r.token] += r.unitPrice;
        _closeModel(requestId, RequestState.Reclaimed);
    }

    function _cancel(address holder, uint256 creditId, uint256 units) internal {
        (uint256 agentId, uint96 unitPrice) = CreditId.decode(creditId);
        address token = _agents[agentId].token;
        vm.prank(holder);
        market.cancel(creditId, units);
        uint256 amount = uint256(unitPrice) * units;
        ghost_units[holder][creditId] -= units;
        ghost_creditPaid[creditId] -= amount;
        ghost_unspentCreditValue[token] -= amount;
        ghost_owed[holder][token] += amount;
    }

    function _withdraw(address account, address token, address to) internal {
        uint256 amount = market.withdrawable(token, account);
        if (amount != ghost_owed[account][token] - ghost_withdrawn[account][token]) {
            _violation("withdrawable balance differs from what the model says is owed");
        }
        uint256 before = _walletBalance(token, to);
        vm.prank(account);
        if (to == account) market.withdraw(token);
        else market.withdrawTo(token, payable(to));
        if (_walletBalance(token, to) != before + amount) _violation("withdrawal did not pay the balance");
        if (market.withdrawable(token, account) != 0) _violation("withdrawal left a balance behind");
        ghost_withdrawn[account][token] += amount;
        ghost_withdrawnTotal[token] += amount;
        ghost_received[to][token] += amount;
    }

    function _closeModel(uint256 requestId, RequestState state) internal {
        RequestModel storage r = _requests[requestId];
        if (r.state != RequestState.Open) _violation("model closed a request that was not open");
        r.state = state;
        r.closes += 1;
        ghost_openEscrow[r.token] -= r.unitPrice;
        _closedIds.push(requestId);
        // swap-and-pop out of the open set
        uint256 pos = _openPos[requestId];
        uint256 lastId = _openIds[_openIds.length - 1];
        _openIds[pos - 1] = lastId;
        _openPos[lastId] = pos;
        _openIds.pop();
        delete _openPos[requestId];
    }

    // ================================================================== helpers

    /// @dev Lifts a marketplace pause or an agent pause before a purchase/request, first checking
    /// that the paused operation reverts with the exact error. `creditId` zero probes `purchase`.
    function _resumeBusiness(address actor, uint256 agentId, uint256 creditId) internal {
        if (ghost_marketPaused) {
            ghost_pauseProbes++;
            bytes memory expected = abi.encodeWithSelector(IAgentMarketplace.MarketplacePaused.selector);
            _probe(actor, agentId, creditId, expected, "paused marketplace accepted a call");
            vm.prank(admin);
            market.unpause();
            ghost_marketPaused = false;
        }
        AgentModel storage a = _agents[agentId];
        if (a.paused) {
            ghost_pauseProbes++;
            bytes memory expected = abi.encodeWithSelector(IAgentMarketplace.AgentNotActive.selector, agentId);
            _probe(actor, agentId, creditId, expected, "paused agent accepted a call");
            vm.prank(admin);
            registry.setStatus(agentId, IAgentRegistry.Status.Active);
            a.paused = false;
        }
    }

    /// @dev The bound is checked before any payment, so the probe needs no funds.
    function _probeStalePrice(address buyer, uint256 agentId, uint256 units) internal {
        ghost_priceBoundProbes++;
        uint96 price = _agents[agentId].price;
        vm.prank(buyer);
        try market.purchase(agentId, units, price - 1) {
            _violation("purchase above maxUnitPrice succeeded");
        } catch (bytes memory err) {
            _expectError(
                err,
                abi.encodeWithSelector(IAgentMarketplace.PriceAboveMax.selector, price, price - 1),
                "stale price: wrong error"
            );
        }
    }

    function _probe(
        address actor,
        uint256 agentId,
        uint256 creditId,
        bytes memory expected,
        string memory what
    ) internal {
        vm.prank(actor);
        if (creditId == 0) {
            try market.purchase(agentId, 1, type(uint256).max) {
                _violation(what);
            } catch (bytes memory err) {
                _expectError(err, expected, what);
            }
        } else {
            try market.requestExecution(creditId, bytes32(0)) {
                _violation(what);
            } catch (bytes memory err) {
                _expectError(err, expected, what);
            }
        }
    }

    function _probeZeroRecipient(address account, address token) internal {
        vm.prank(account);
        try market.withdrawTo(token, payable(address(0))) {
            _violation("withdrawTo(address(0)) succeeded");
        } catch (bytes memory err) {
            _expectError(
                err,
                abi.encodeWithSelector(IAgentMarketplace.InvalidRecipient.selector),
                "withdrawTo(address(0)): wrong error"
            );
        }
    }

    function _probeExpiredSettle(uint256 requestId) internal {
        ghost_expiredSettleProbes++;
        IAgentMarketplace.Execution memory execution = _requests[requestId].execution;
        vm.prank(relayer);
        try market.settle(requestId, execution, true, bytes32(0)) {
            _violation("an expired request was settled");
        } catch (bytes memory err) {
            _expectError(
                err,
                abi.encodeWithSelector(
                    IAgentMarketplace.RequestExpired.selector, requestId, execution.deadline
                ),
                "settle after the deadline: wrong error"
            );
        }
    }

    /// @dev A buyer holding credits (scanning from the seeds); buys one credit when nobody holds any.
    function _heldCreditOrBuy(uint256 holderSeed, uint256 creditSeed)
        internal
        returns (address holder, uint256 creditId)
    {
        uint256 nb = _buyers.length;
        uint256 nc = _creditIds.length;
        for (uint256 i; i < nb; ++i) {
            holder = _buyers[(holderSeed % nb + i) % nb];
            for (uint256 j; j < nc; ++j) {
                creditId = _creditIds[(creditSeed % nc + j) % nc];
                if (ghost_units[holder][creditId] != 0) return (holder, creditId);
            }
        }
        holder = _buyers[holderSeed % nb];
        uint256 agentId = _agentIds[creditSeed % _agentIds.length];
        _resumeBusiness(holder, agentId, 0);
        creditId = _buy(holder, agentId, 1);
    }

    /// @dev Anyone but `requester`, `alsoNot` and the relayer: a buyer, a developer, the treasury or a
    /// stranger.
    function _attacker(uint256 seed, address requester, address alsoNot)
        internal
        view
        returns (address attacker)
    {
        uint256 n = _payees.length + _strangers.length;
        for (uint256 i; i < n; ++i) {
            uint256 k = (seed % n + i) % n;
            attacker = k < _payees.length ? _payees[k] : _strangers[k - _payees.length];
            if (attacker != requester && attacker != alsoNot && attacker != relayer) return attacker;
        }
    }

    function _pickPrice(address token, uint256 seed) internal pure returns (uint96) {
        uint256 kind = seed % 4;
        seed >>= 2;
        if (kind == 0) return uint96(_bound(seed, 1, 99)); // fee rounds to (almost) nothing
        if (token == address(0)) {
            if (kind == 1) return uint96(_bound(seed, 1e9, 1 ether));
            uint96[3] memory menu = [uint96(0.01 ether), uint96(0.002 ether), uint96(1e15 + 7)];
            return menu[seed % 3];
        }
        if (kind == 1) return uint96(_bound(seed, 1e4, 1_000e6));
        uint96[3] memory usdcMenu = [uint96(5e6), uint96(25e4), uint96(1_234_567)];
        return usdcMenu[seed % 3];
    }

    function _deadlineFromEvent(
        Vm.Log[] memory logs,
        uint256 requestId,
        uint256 agentId,
        address requester,
        AgentModel storage agent,
        uint256 creditId,
        bytes32 inputHash
    ) internal returns (uint40 deadline) {
        for (uint256 i; i < logs.length; ++i) {
            Vm.Log memory log = logs[i];
            if (
                log.emitter != address(market)
                    || log.topics[0] != IAgentMarketplace.ExecutionRequested.selector
            ) {
                continue;
            }
            (
                address evDeveloper,
                address evToken,
                uint256 evCreditId,
                uint96 evPrice,
                bytes32 evInput,
                uint40 evDeadline
            ) = abi.decode(log.data, (address, address, uint256, uint96, bytes32, uint40));
            (, uint96 unitPrice) = CreditId.decode(creditId);
            if (
                uint256(log.topics[1]) != requestId || uint256(log.topics[2]) != agentId
                    || address(uint160(uint256(log.topics[3]))) != requester || evDeveloper != agent.developer
                    || evToken != agent.token || evCreditId != creditId || evPrice != unitPrice
                    || evInput != inputHash
            ) _violation("ExecutionRequested fields do not match the request");
            return evDeadline;
        }
        _violation("no ExecutionRequested event");
    }

    function _walletBalance(address token, address account) internal view returns (uint256) {
        return token == address(0) ? account.balance : usdc.balanceOf(account);
    }

    function _expectError(bytes memory err, bytes memory expected, string memory what) internal {
        if (keccak256(err) != keccak256(expected)) _violation(what);
    }

    function _violation(string memory what) internal {
        if (ghost_violations == 0) ghost_firstViolation = what;
        ghost_violations++;
    }

    // ================================================================== views for the invariants

    function buyers() external view returns (address[] memory) {
        return _buyers;
    }

    function developers() external view returns (address[] memory) {
        return _developers;
    }

    function payees() external view returns (address[] memory) {
        return _payees;
    }

    function coldWallets() external view returns (address[] memory) {
        return _coldWallets;
    }

    function strangers() external view returns (address[] memory) {
        return _strangers;
    }

    function tokens() external view returns (address[] memory) {
        return _tokens;
    }

    function agentIds() external view returns (uint256[] memory) {
        return _agentIds;
    }

    function agentToken(uint256 agentId) external view returns (address) {
        return _agents[agentId].token;
    }

    function creditIds() external view returns (uint256[] memory) {
        return _creditIds;
    }

    function requestIds() external view returns (uint256[] memory) {
        return _requestIds;
    }

    function openRequestIds() external view returns (uint256[] memory) {
        return _openIds;
    }

    function closedRequestCount() external view returns (uint256) {
        return _closedIds.length;
    }

    function requestModel(uint256 requestId) external view returns (RequestModel memory) {
        return _requests[requestId];
    }

    /// @notice Every credit id ever minted, its payment token (per the model) and the amount paid
    /// for its still-unspent units.
    function creditBook()
        external
        view
        returns (uint256[] memory ids, address[] memory tokenOf, uint256[] memory paid)
    {
        uint256 n = _creditIds.length;
        ids = _creditIds;
        tokenOf = new address[](n);
        paid = new uint256[](n);
        for (uint256 i; i < n; ++i) {
            (uint256 agentId,) = CreditId.decode(ids[i]);
            tokenOf[i] = _agents[agentId].token;
            paid[i] = ghost_creditPaid[ids[i]];
        }
    }

    /// @notice The open requests of the model with their token and escrowed unit price.
    function openBook()
        external
        view
        returns (uint256[] memory ids, address[] memory tokenOf, uint256[] memory unitPrice)
    {
        uint256 n = _openIds.length;
        ids = _openIds;
        tokenOf = new address[](n);
        unitPrice = new uint256[](n);
        for (uint256 i; i < n; ++i) {
            RequestModel storage r = _requests[ids[i]];
            tokenOf[i] = r.token;
            unitPrice[i] = r.unitPrice;
        }
    }

    /// @notice Every request ever made: whether the model has it open, how many closing calls
    /// succeeded, and the commitment the marketplace must hold for it (zero once closed).
    function requestBook()
        external
        view
        returns (
            uint256[] memory ids,
            bool[] memory open,
            uint256[] memory closes,
            bytes32[] memory commitment
        )
    {
        uint256 n = _requestIds.length;
        ids = _requestIds;
        open = new bool[](n);
        closes = new uint256[](n);
        commitment = new bytes32[](n);
        for (uint256 i; i < n; ++i) {
            RequestModel storage r = _requests[ids[i]];
            open[i] = r.state == RequestState.Open;
            closes[i] = r.closes;
            if (open[i]) commitment[i] = keccak256(abi.encode(r.execution));
        }
    }

    /// @notice The model's per-token totals in one call.
    function tokenTotals(address token)
        external
        view
        returns (uint256 deposited, uint256 withdrawnTotal, uint256 unspentCreditValue, uint256 openEscrow)
    {
        return (
            ghost_deposited[token],
            ghost_withdrawnTotal[token],
            ghost_unspentCreditValue[token],
            ghost_openEscrow[token]
        );
    }

    /// @notice The model's per-account ledger for `token` in one call: cumulative amount owed, amount
    /// withdrawn (wherever to), amount the handler funded it with, amount it spent on purchases,
    /// amount withdrawals paid into this wallet.
    function ledger(address token, address[] calldata accounts)
        external
        view
        returns (
            uint256[] memory owed,
            uint256[] memory withdrawn,
            uint256[] memory funded,
            uint256[] memory spent,
            uint256[] memory received
        )
    {
        uint256 n = accounts.length;
        owed = new uint256[](n);
        withdrawn = new uint256[](n);
        funded = new uint256[](n);
        spent = new uint256[](n);
        received = new uint256[](n);
        for (uint256 i; i < n; ++i) {
            address a = accounts[i];
            owed[i] = ghost_owed[a][token];
            withdrawn[i] = ghost_withdrawn[a][token];
            funded[i] = ghost_funded[a][token];
            spent[i] = ghost_spent[a][token];
            received[i] = ghost_received[a][token];
        }
    }

    /// @notice The model's unit balances, laid out like `balanceOfBatch(accounts, ids)`.
    function unitsBatch(address[] calldata accounts, uint256[] calldata ids)
        external
        view
        returns (uint256[] memory units)
    {
        units = new uint256[](accounts.length);
        for (uint256 i; i < accounts.length; ++i) {
            units[i] = ghost_units[accounts[i]][ids[i]];
        }
    }
}
