// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {StdInvariant} from "forge-std/StdInvariant.sol";
import {console2} from "forge-std/console2.sol";

import {AgentMarketplace} from "../../contracts/AgentMarketplace.sol";
import {AgentRegistry} from "../../contracts/AgentRegistry.sol";
import {IAgentRegistry} from "../../contracts/interfaces/IAgentRegistry.sol";
import {CreditId} from "../../contracts/libraries/CreditId.sol";
import {TestUSDC} from "../../contracts/mocks/TestUSDC.sol";
import {MarketplaceHandler} from "./MarketplaceHandler.sol";

/// @title MarketplaceInvariants
/// @notice Stateful fuzzing of AgentMarketplace through MarketplaceHandler. After every call:
///  1. solvency: per token the marketplace holds exactly unspent credits' value + open escrow +
///     withdrawable balances;
///  2. credits: every credit id in circulation is backed by exactly its unit price per unit;
///  3. no request is ever settled or reclaimed twice, and the on-chain open set is the model's;
///  4. only the requester, the developer and the treasury gain from a request: every actor's
///     withdrawable + withdrawn equals exactly what the model says it is owed; strangers get nothing.
/// Each check also asserts that every expectation the handler verifies inline held.
/// At the end of every run, `afterInvariant` drains the marketplace (reclaims, cancels, withdrawals,
/// without lifting any pause) and checks it ends empty with every wallet reconciled.
contract MarketplaceInvariants is StdInvariant, Test {
    uint32 internal constant GRACE = 1 hours;

    AgentRegistry internal registry;
    AgentMarketplace internal market;
    TestUSDC internal usdc;
    MarketplaceHandler internal handler;

    address[] internal _tokens; // address(0) = ETH, then USDC
    address[] internal _payees; // buyers, developers, treasury
    address[] internal _strangers; // relayer, admin, outsider
    address[] internal _accounts; // payees then strangers: every address the handler acts as
    address[] internal _ledgerAccounts; // _accounts, then each payee's cold wallet (same order as _payees)

    address internal admin = makeAddr("admin");
    address internal relayer = makeAddr("relayer");
    address internal treasury = makeAddr("treasury");
    address internal outsider = makeAddr("outsider");

    function setUp() public {
        registry = new AgentRegistry(1 days, admin);
        market = new AgentMarketplace(registry, 1 days, admin, treasury, GRACE);
        usdc = new TestUSDC();

        bytes32 relayerRole = market.RELAYER_ROLE();
        vm.prank(admin);
        market.grantRole(relayerRole, relayer);

        address[] memory buyers = new address[](4);
        buyers[0] = makeAddr("buyer0");
        buyers[1] = makeAddr("buyer1");
        buyers[2] = makeAddr("buyer2");
        buyers[3] = makeAddr("buyer3");
        address[] memory developers = new address[](2);
        developers[0] = makeAddr("developer0");
        developers[1] = makeAddr("developer1");
        address[] memory strangers = new address[](3);
        strangers[0] = relayer;
        strangers[1] = admin;
        strangers[2] = outsider;

        // Two agents per developer, one in ETH and one in USDC (6 decimals), at various prices/durations.
        uint256[] memory agentIds = new uint256[](4);
        agentIds[0] = _register(developers[0], address(0), 0.01 ether, 1 hours);
        agentIds[1] = _register(developers[0], address(usdc), 5e6, 30 minutes);
        agentIds[2] = _register(developers[1], address(0), 1e15, 1 days);
        agentIds[3] = _register(developers[1], address(usdc), 25e4, 6 hours);

        handler = new MarketplaceHandler(
            market, registry, usdc, admin, relayer, treasury, buyers, developers, strangers, agentIds
        );

        _tokens = handler.tokens();
        _payees = handler.payees();
        _strangers = handler.strangers();
        _accounts = handler.payees();
        for (uint256 i; i < strangers.length; ++i) {
            _accounts.push(strangers[i]);
        }
        _ledgerAccounts = _accounts;
        for (uint256 i; i < _payees.length; ++i) {
            _ledgerAccounts.push(handler.coldWalletOf(_payees[i]));
        }

        // Only the handler is fuzzed, and only through these actions.
        targetContract(address(handler));
        bytes4[] memory selectors = new bytes4[](13);
        selectors[0] = MarketplaceHandler.purchase.selector;
        selectors[1] = MarketplaceHandler.requestExecution.selector;
        selectors[2] = MarketplaceHandler.settle.selector;
        selectors[3] = MarketplaceHandler.settle.selector; // settlements weigh double
        selectors[4] = MarketplaceHandler.reclaim.selector;
        selectors[5] = MarketplaceHandler.cancel.selector;
        selectors[6] = MarketplaceHandler.withdraw.selector;
        selectors[7] = MarketplaceHandler.setPrice.selector;
        selectors[8] = MarketplaceHandler.setFee.selector;
        selectors[9] = MarketplaceHandler.togglePause.selector;
        selectors[10] = MarketplaceHandler.warp.selector;
        selectors[11] = MarketplaceHandler.closeAgain.selector;
        selectors[12] = MarketplaceHandler.strangerAttack.selector;
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));

        // The handler pranks its own actors; keep the fuzzer's senders away from every role and contract.
        excludeSender(address(handler));
        excludeSender(address(market));
        excludeSender(address(registry));
        excludeSender(address(usdc));
        excludeSender(admin);
        excludeSender(relayer);
        excludeSender(treasury);
        excludeSender(outsider);
        for (uint256 i; i < buyers.length; ++i) {
            excludeSender(buyers[i]);
        }
        for (uint256 i; i < developers.length; ++i) {
            excludeSender(developers[i]);
        }
    }

    function _register(address developer, address token, uint96 price, uint32 maxDuration)
        internal
        returns (uint256 agentId)
    {
        vm.prank(admin);
        agentId = registry.registerAgent(
            IAgentRegistry.AgentParams({
                developer: developer,
                paymentToken: token,
                price: price,
                maxDuration: maxDuration,
                category: IAgentRegistry.Category.General,
                imageDigest: keccak256(abi.encode("image", developer, token)),
                metadataURI: "ipfs://agent"
            })
        );
    }

    // ================================================================== (1) solvency

    /// @notice For each token, the marketplace holds exactly (==) the value of unspent credits (on-chain
    /// ERC-1155 balances × the unit price in each id), plus open escrow (the unit price of every
    /// request open in the model, whose on-chain commitments invariant (3) checks), plus every
    /// withdrawable balance. Also equals deposits - withdrawals, and each part equals its ghost sum.
    function invariant_solvency() public view {
        _assertHandlerExpectations();
        (uint256[] memory ids, address[] memory creditToken,) = handler.creditBook();
        uint256[] memory supply = _supplies(ids);
        (, address[] memory openToken, uint256[] memory openPrice) = handler.openBook();
        for (uint256 t; t < _tokens.length; ++t) {
            address token = _tokens[t];

            uint256 credits;
            for (uint256 i; i < ids.length; ++i) {
                if (creditToken[i] != token) continue;
                (, uint96 unitPrice) = CreditId.decode(ids[i]);
                credits += supply[i] * unitPrice;
            }
            uint256 escrow;
            for (uint256 i; i < openToken.length; ++i) {
                if (openToken[i] == token) escrow += openPrice[i];
            }
            uint256 owed;
            for (uint256 i; i < _accounts.length; ++i) {
                owed += market.withdrawable(token, _accounts[i]);
            }

            uint256 held = _held(token, address(market));
            (uint256 deposited, uint256 withdrawnTotal, uint256 ghostCredits, uint256 ghostEscrow) =
                handler.tokenTotals(token);
            _eq(held, credits + escrow + owed, "solvency: held != credits + escrow + withdrawable");
            _eq(credits, ghostCredits, "solvency: unspent credit value != ghost");
            _eq(escrow, ghostEscrow, "solvency: open escrow != ghost");
            _eq(held, deposited - withdrawnTotal, "solvency: held != deposited - withdrawn");
        }
    }

    // ================================================================== (2) credits

    /// @notice Every credit id in circulation is backed by exactly its unit price: total supply ×
    /// unit price equals what was paid for the credits of that id still unspent, and each account's
    /// balance is what the model says it bought and has neither spent nor cancelled (zero for
    /// developers, treasury and strangers, who never buy).
    function invariant_creditsBackedByUnitPrice() public view {
        _assertHandlerExpectations();
        (uint256[] memory ids,, uint256[] memory paid) = handler.creditBook();
        (address[] memory accounts, uint256[] memory flatIds) = _grid(ids);
        uint256[] memory balances = market.balanceOfBatch(accounts, flatIds);
        uint256[] memory units = handler.unitsBatch(accounts, flatIds);
        uint256 na = _accounts.length;
        for (uint256 i; i < ids.length; ++i) {
            (, uint96 unitPrice) = CreditId.decode(ids[i]);
            uint256 supply;
            for (uint256 j; j < na; ++j) {
                uint256 k = i * na + j;
                _eq(balances[k], units[k], "credits: holder balance != model");
                supply += balances[k];
            }
            _eq(supply * unitPrice, paid[i], "credits: supply x unit price != paid for unspent credits");
        }
    }

    // ================================================================== (3) requests close once

    /// @notice No request was ever settled or reclaimed twice: every attempt on a closed request
    /// reverted with exactly RequestNotOpen(id), each request closed at most once, and the requests
    /// open on chain are exactly the model's open requests, each committed to the Execution emitted
    /// in its ExecutionRequested event.
    function invariant_requestsCloseAtMostOnce() public view {
        _assertHandlerExpectations();
        _false(handler.ghost_doubleCloseSucceeded(), "a request was settled or reclaimed twice");
        (uint256[] memory ids, bool[] memory open, uint256[] memory closes, bytes32[] memory commitment) =
            handler.requestBook();
        _eq(ids.length + 1, market.nextRequestId(), "request counter");
        for (uint256 i; i < ids.length; ++i) {
            _le(closes[i], 1, "a request closed more than once");
            _eq(closes[i], open[i] ? 0 : 1, "closes do not match the request's state");
            _eq(market.requestCommitment(ids[i]), commitment[i], "commitment differs from the model");
            _eq(market.isOpen(ids[i]), open[i], "open flag differs from the model");
        }
    }

    // ================================================================== (4) nobody else gains

    /// @notice Per actor and token, withdrawable + withdrawn equals exactly what the model says it
    /// is owed (developer: payouts net of fee on its agents' successful settlements; treasury: fees;
    /// requester: failure refunds, reclaims and cancels). Strangers (relayer, admin, an outsider)
    /// are owed nothing, have nothing withdrawable and no funds, and none of their attempts to close
    /// someone else's request succeeded. Every wallet reconciles: funded - spent + withdrawn.
    function invariant_nobodyElseGains() public view {
        _assertHandlerExpectations();
        _false(handler.ghost_strangerSucceeded(), "a request paid out other than it committed to");
        uint256 np = _payees.length;
        for (uint256 t; t < _tokens.length; ++t) {
            address token = _tokens[t];
            (
                uint256[] memory owed,
                uint256[] memory withdrawn,
                uint256[] memory funded,
                uint256[] memory spent,
                uint256[] memory received
            ) = handler.ledger(token, _ledgerAccounts);
            uint256 na = _accounts.length;
            for (uint256 i; i < _accounts.length; ++i) {
                address a = _accounts[i];
                uint256 withdrawable = market.withdrawable(token, a);
                if (i < np) {
                    _eq(withdrawable + withdrawn[i], owed[i], "withdrawable + withdrawn != owed");
                    _eq(
                        _held(token, a),
                        funded[i] - spent[i] + received[i],
                        "wallet != funded - spent + received"
                    );
                    _eq(
                        _held(token, _ledgerAccounts[na + i]),
                        received[na + i],
                        "cold wallet != what withdrawTo paid into it"
                    );
                } else {
                    _eq(withdrawable, 0, "a stranger has a withdrawable balance");
                    _eq(
                        owed[i] + withdrawn[i] + funded[i] + received[i],
                        0,
                        "the model owes or paid a stranger"
                    );
                    _eq(_held(token, a), 0, "a stranger's wallet changed");
                }
            }
        }
    }

    // ================================================================== end of run

    /// @notice Ends every request and returns every credit and balance, with pauses left in place:
    /// the marketplace must end empty and each actor with exactly what the model owed it.
    /// Set INVARIANT_SUMMARY=true (with -vv) to log each run's call counts.
    function afterInvariant() public {
        if (vm.envOr("INVARIANT_SUMMARY", false)) _callSummary();
        handler.drain();
        _assertHandlerExpectations();
        _eq(handler.openRequestIds().length, 0, "drain left open requests");
        for (uint256 t; t < _tokens.length; ++t) {
            address token = _tokens[t];
            _eq(_held(token, address(market)), 0, "drained marketplace still holds funds");
            _eq(handler.ghost_withdrawnTotal(token), handler.ghost_deposited(token), "withdrawn != deposited");
            uint256 paidOut;
            for (uint256 i; i < _payees.length; ++i) {
                address a = _payees[i];
                address cold = handler.coldWalletOf(a);
                _eq(market.withdrawable(token, a), 0, "drain left a balance");
                _eq(handler.ghost_withdrawn(a, token), handler.ghost_owed(a, token), "paid != owed");
                // Everything the account was owed landed in its own wallet or its cold wallet.
                _eq(
                    handler.ghost_received(a, token) + handler.ghost_received(cold, token),
                    handler.ghost_owed(a, token),
                    "received != owed"
                );
                _eq(
                    _held(token, a),
                    handler.ghost_funded(a, token) - handler.ghost_spent(a, token)
                        + handler.ghost_received(a, token),
                    "final wallet"
                );
                _eq(_held(token, cold), handler.ghost_received(cold, token), "final cold wallet");
                paidOut += _held(token, cold) + handler.ghost_received(a, token);
            }
            _eq(paidOut, handler.ghost_deposited(token), "paid out != deposited");
        }
    }

    function _callSummary() internal view {
        console2.log("purchase         ", handler.calls("purchase"));
        console2.log("requestExecution ", handler.calls("requestExecution"));
        console2.log("settle success   ", handler.calls("settleSuccess"));
        console2.log("settle failure   ", handler.calls("settleFailure"));
        console2.log("reclaim          ", handler.calls("reclaim"));
        console2.log("cancel           ", handler.calls("cancel"));
        console2.log("withdraw         ", handler.calls("withdraw"));
        console2.log("withdrawTo       ", handler.calls("withdrawTo"));
        console2.log("withdraw (no-op) ", handler.calls("withdrawNoop"));
        console2.log("setPrice         ", handler.calls("setPrice"));
        console2.log("setFee           ", handler.calls("setFee"));
        console2.log("togglePause      ", handler.calls("togglePause"));
        console2.log("warp             ", handler.calls("warp"));
        console2.log("closeAgain       ", handler.calls("closeAgain"));
        console2.log("strangerAttack   ", handler.calls("strangerAttack"));
        console2.log("price bound probes", handler.ghost_priceBoundProbes());
        console2.log("requests made    ", handler.requestIds().length);
        console2.log("requests closed  ", handler.closedRequestCount());
        console2.log("credit ids       ", handler.creditIds().length);
    }

    // ================================================================== helpers

    /// @dev Comparisons run in plain Solidity and reach the (much slower) assertion cheatcode only on
    /// a mismatch, which then reports both values and the message as usual. This keeps the ci
    /// profile's 1,000 runs × 20 calls × 4 invariants fast.
    function _eq(uint256 a, uint256 b, string memory message) internal pure {
        if (a != b) assertEq(a, b, message);
    }

    function _eq(bytes32 a, bytes32 b, string memory message) internal pure {
        if (a != b) assertEq(a, b, message);
    }

    function _eq(bool a, bool b, string memory message) internal pure {
        if (a != b) assertEq(a, b, message);
    }

    function _le(uint256 a, uint256 b, string memory message) internal pure {
        if (a > b) assertLe(a, b, message);
    }

    function _false(bool a, string memory message) internal pure {
        if (a) assertFalse(a, message);
    }

    /// @dev Every inline expectation of the handler (exact revert errors of double closes, strangers'
    /// attempts, pause and expiry probes; event fields; deadlines; withdrawal amounts) held.
    function _assertHandlerExpectations() internal view {
        if (handler.ghost_violations() != 0) {
            assertEq(handler.ghost_violations(), 0, handler.ghost_firstViolation());
        }
    }

    /// @dev accounts × ids laid out for balanceOfBatch: entry i * accounts + j is (account j, id i).
    function _grid(uint256[] memory ids)
        internal
        view
        returns (address[] memory accounts, uint256[] memory flat)
    {
        uint256 na = _accounts.length;
        accounts = new address[](ids.length * na);
        flat = new uint256[](ids.length * na);
        for (uint256 i; i < ids.length; ++i) {
            for (uint256 j; j < na; ++j) {
                accounts[i * na + j] = _accounts[j];
                flat[i * na + j] = ids[i];
            }
        }
    }

    /// @dev Total supply of each id. Credits cannot be transferred, so only accounts the handler
    /// acts as (all of them are summed) can hold any.
    function _supplies(uint256[] memory ids) internal view returns (uint256[] memory supply) {
        (address[] memory accounts, uint256[] memory flat) = _grid(ids);
        uint256[] memory balances = market.balanceOfBatch(accounts, flat);
        uint256 na = _accounts.length;
        supply = new uint256[](ids.length);
        for (uint256 i; i < balances.length; ++i) {
            supply[i / na] += balances[i];
        }
    }

    function _held(address token, address account) internal view returns (uint256) {
        return token == address(0) ? account.balance : usdc.balanceOf(account);
    }
}
