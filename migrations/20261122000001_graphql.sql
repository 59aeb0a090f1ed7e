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

CREATE FUNCTION graphql_agent_stats() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE agent_stats SET
            executions = executions - 1,
            succeeded  = succeeded - (OLD.status = 'Succeeded')::int,
            failed     = failed - (OLD.status = 'Failed')::int,
            reclaimed  = reclaimed - (OLD.status = 'Reclaimed')::int,
            revenue    = revenue - CASE WHEN OLD.status = 'Succeeded' THEN coalesce(OLD.payout, 0) ELSE 0 END
        WHERE agent_id = OLD.agent_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO agent_stats AS s (agent_id, executions, succeeded, failed, reclaimed, revenue)
        VALUES (NEW.agent_id, 1, (NEW.status = 'Succeeded')::int, (NEW.status = 'Failed')::int,
                (NEW.status = 'Reclaimed')::int,
                CASE WHEN NEW.status = 'Succeeded' THEN coalesce(NEW.payout, 0) ELSE 0 END)
        ON CONFLICT (agent_id) DO UPDATE SET
            executions = s.executions + 1,
            succeeded  = s.succeeded + EXCLUDED.succeeded,
            failed     = s.failed + EXCLUDED.failed,
            reclaimed  = s.reclaimed + EXCLUDED.reclaimed,
            revenue    = s.revenue + EXCLUDED.revenue;
    END IF;
    UPDATE agent_stats SET success_rate = CASE WHEN succeeded + failed > 0
                                               THEN succeeded::float8 / (succeeded + failed) END
    WHERE agent_id IN (CASE WHEN TG_OP <> 'INSERT' THEN OLD.agent_id END,
                       CASE WHEN TG_OP <> 'DELETE' THEN NEW.agent_id END);
    RETURN NULL;
END $$;

CREATE TRIGGER graphql_agent_stats AFTER INSERT OR UPDATE OR DELETE ON executions
    FOR EACH ROW EXECUTE FUNCTION graphql_agent_stats();

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
