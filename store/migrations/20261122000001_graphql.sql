-- AgentNexus GraphQL server: what the read API adds to the shared schema. Nothing here is a
-- projection of the chain; the indexer never writes these tables directly.

-- ---------------------------------------------------------------- agent statistics

-- Per-agent execution counters, maintained by a trigger on `executions`, so the catalog can sort
-- by executions count and success rate without aggregating every execution on each request
-- (100k executions would cost tens of milliseconds per page). Because the trigger fires for
-- every row change, including the DELETE/INSERT replays of `nexus_rollback`, the counters follow
-- reorgs exactly. It is derived data: the reorg journal does not cover it and does not need to.
-- Median duration is not incremental and is computed on demand from `executions`.
CREATE TABLE agent_stats (
    agent_id   uint256 PRIMARY KEY,
    executions BIGINT NOT NULL DEFAULT 0,
    succeeded  BIGINT NOT NULL DEFAULT 0,
    failed     BIGINT NOT NULL DEFAULT 0,
    reclaimed  BIGINT NOT NULL DEFAULT 0,
    revenue    NUMERIC(78, 0) NOT NULL DEFAULT 0,   -- sum of payouts of succeeded executions
    -- succeeded / (succeeded + failed); NULL until something settled. Kept as a column so
    -- "sort by success rate" is an index-free but cheap ORDER BY over at most one row per agent.
    success_rate DOUBLE PRECISION
);

-- Statement-level, over the statement's transition tables: one upsert per agent per statement.
-- (A row-level version updated the same agent_stats row once per execution row; inside one
-- transaction every such update must walk the row's chain of versions written before it, so an
-- indexer batch of 1,000 executions of one agent took a second and 4,000 took 28 s.)
CREATE FUNCTION graphql_agent_stats() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    -- Each row leaving (old_rows) counts -1, each row arriving (new_rows) +1.
    changed TEXT := CASE TG_OP
        WHEN 'INSERT' THEN 'SELECT agent_id, 1 AS n, status, payout FROM new_rows'
        WHEN 'DELETE' THEN 'SELECT agent_id, -1 AS n, status, payout FROM old_rows'
        ELSE 'SELECT agent_id, 1 AS n, status, payout FROM new_rows
              UNION ALL SELECT agent_id, -1 AS n, status, payout FROM old_rows'
    END;
BEGIN
    EXECUTE format($q$
        INSERT INTO agent_stats AS s (agent_id, executions, succeeded, failed, reclaimed, revenue, success_rate)
        SELECT agent_id, e, ok, ko, rc, rev, CASE WHEN ok + ko > 0 THEN ok::float8 / (ok + ko) END
        FROM (SELECT agent_id, sum(n) AS e,
                     sum(n * (status = 'Succeeded')::int) AS ok,
                     sum(n * (status = 'Failed')::int) AS ko,
                     sum(n * (status = 'Reclaimed')::int) AS rc,
                     sum(n * CASE WHEN status = 'Succeeded' THEN coalesce(payout, 0) ELSE 0 END) AS rev
              FROM (%s) c GROUP BY agent_id) d
        ON CONFLICT (agent_id) DO UPDATE SET
            executions   = s.executions + EXCLUDED.executions,
            succeeded    = s.succeeded + EXCLUDED.succeeded,
            failed       = s.failed + EXCLUDED.failed,
            reclaimed    = s.reclaimed + EXCLUDED.reclaimed,
            revenue      = s.revenue + EXCLUDED.revenue,
            success_rate = CASE WHEN s.succeeded + EXCLUDED.succeeded + s.failed + EXCLUDED.failed > 0
                                THEN (s.succeeded + EXCLUDED.succeeded)::float8
                                     / (s.succeeded + EXCLUDED.succeeded + s.failed + EXCLUDED.failed) END
    $q$, changed);
    RETURN NULL;
END $$;

CREATE TRIGGER graphql_agent_stats_insert AFTER INSERT ON executions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION graphql_agent_stats();
CREATE TRIGGER graphql_agent_stats_update AFTER UPDATE ON executions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION graphql_agent_stats();
CREATE TRIGGER graphql_agent_stats_delete AFTER DELETE ON executions
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION graphql_agent_stats();

INSERT INTO agent_stats (agent_id, executions, succeeded, failed, reclaimed, revenue, success_rate)
SELECT agent_id, count(*), count(*) FILTER (WHERE status = 'Succeeded'),
       count(*) FILTER (WHERE status = 'Failed'), count(*) FILTER (WHERE status = 'Reclaimed'),
       coalesce(sum(payout) FILTER (WHERE status = 'Succeeded'), 0),
       CASE WHEN count(*) FILTER (WHERE status IN ('Succeeded', 'Failed')) > 0
            THEN (count(*) FILTER (WHERE status = 'Succeeded'))::float8
                 / count(*) FILTER (WHERE status IN ('Succeeded', 'Failed')) END
FROM executions GROUP BY agent_id;

-- Catalog and per-user listings page newest first; these keep the common pages index-only.
CREATE INDEX IF NOT EXISTS graphql_agents_registered ON agents (registered_block DESC, agent_id DESC);
CREATE INDEX IF NOT EXISTS graphql_executions_requester_id ON executions (requester, request_id DESC);
CREATE INDEX IF NOT EXISTS graphql_executions_agent_id ON executions (agent_id, request_id DESC);

-- ---------------------------------------------------------------- live log lines

-- The relayer appends container log lines to `execution_logs`; subscribers learn about them
-- through NOTIFY (delivered at commit, like the indexer's channels), never by polling. The
-- payload names the row; the server reads the line itself (NOTIFY payloads cap at 8000 bytes).
CREATE FUNCTION graphql_execution_log_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('nexus_execution_logs',
        json_build_object('requestId', NEW.request_id::text, 'attempt', NEW.attempt, 'seq', NEW.seq)::text);
    RETURN NULL;
END $$;

CREATE TRIGGER graphql_execution_log_notify AFTER INSERT ON execution_logs
    FOR EACH ROW EXECUTE FUNCTION graphql_execution_log_notify();

-- ---------------------------------------------------------------- sign-in with Ethereum

-- Nonces handed out for EIP-4361 messages. A sign-in consumes its nonce atomically
-- (UPDATE ... WHERE used_at IS NULL), so a signed message can be exchanged for a token once.
CREATE TABLE siwe_nonces (
    nonce      TEXT PRIMARY KEY,
    issued_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ
);
CREATE INDEX siwe_nonces_expiry ON siwe_nonces (expires_at);
