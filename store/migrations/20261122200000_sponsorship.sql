-- Sponsorship service (nexus-graphql's ERC-7677 paymaster endpoint, graphql/src/sponsor.rs).
--
-- Every signed sponsorship reserves the operation's maximum gas cost (gas limits × maxFeePerGas)
-- in the same transaction that checks the caps, so caps hold across restarts and across several
-- API servers sharing this database. A reservation is keyed by the operation's (sender, nonce):
-- the paymaster signature covers both and the EntryPoint accepts each pair once, so at most one
-- of several signatures for the same key can ever be paid; signing it again (a client retry)
-- replaces the reservation instead of adding a second one.
CREATE TABLE sponsorship_reservations (
    chain_id      BIGINT NOT NULL,
    paymaster     address NOT NULL,
    sender        address NOT NULL,
    nonce         uint256 NOT NULL,
    day           DATE NOT NULL,                -- UTC day of the signature: per-account daily caps
    max_cost_wei  uint256 NOT NULL,
    paymaster_hash hash32 NOT NULL,             -- NexusPaymaster.getHash(...) the sponsor signed
    user_op_hash  hash32 NOT NULL,              -- the EntryPoint's userOpHash (its UserOperationEvent
                                                -- tells what the operation really cost)
    valid_until   BIGINT NOT NULL,              -- unix seconds, end of the sponsorship window
    signed_block  BIGINT NOT NULL,              -- chain head at signing: where to look for the event
    -- Reconciled once the operation's UserOperationEvent is found (what the paymaster really
    -- paid), or once its window closed without one (never included: 0, and it stops counting
    -- against the daily operations). NULL while pending: the caps count max_cost_wei.
    actual_cost_wei uint256,
    included      BOOLEAN,
    reserved_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (chain_id, paymaster, sender, nonce)
);
CREATE INDEX sponsorship_reservations_daily ON sponsorship_reservations (chain_id, paymaster, sender, day);
CREATE INDEX sponsorship_reservations_pending ON sponsorship_reservations (chain_id, paymaster, valid_until)
    WHERE included IS NULL;

-- The running total per paymaster of every reservation's cost (actual once reconciled, maximum
-- while pending): the global budget's counter, and the row
-- every signing locks (FOR UPDATE) so concurrent checks of the caps are serialised.
CREATE TABLE sponsorship_budget (
    chain_id   BIGINT NOT NULL,
    paymaster  address NOT NULL,
    spent_wei  uint256 NOT NULL DEFAULT 0,
    PRIMARY KEY (chain_id, paymaster)
);
