-- Relayer work claims. A separate table rather than columns on `executions`: that table is the
-- indexer's projection of the chain, whose rows the reorg journal restores; the relayer's
-- bookkeeping must neither be rolled back by a reorg nor trip the indexer's journal triggers.
--
-- A row is a lease: `owner` may work on the request until `lease_until`. Relayers claim with
-- `FOR UPDATE SKIP LOCKED` on the open execution and an `ON CONFLICT ... WHERE lease_until < now()`
-- guard, so two relayers never hold the same request; a crashed relayer's lease simply expires
-- and the next sweep takes the request over. `attempts` counts claims, so a request that keeps
-- killing its relayer is settled as failure after a bounded number of tries.
CREATE TABLE relayer_claims (
    request_id  uint256 PRIMARY KEY,
    owner       TEXT,                          -- NULL once released or done
    lease_until TIMESTAMPTZ NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    done_at     TIMESTAMPTZ,                   -- settled (or found settled) by a relayer
    outcome     TEXT,                          -- 'succeeded', 'failed:<cause>', 'already-settled', 'expired'
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX relayer_claims_pending ON relayer_claims (lease_until) WHERE done_at IS NULL;
