-- AgentNexus GraphQL server: every agent gets an `agent_stats` row from registration on (zeros
-- until its first execution), so the catalog's "most executions" and "highest success rate"
-- orders are an index scan over `agent_stats` joined to `agents`, not a sort of the whole
-- catalog per request (measured: 39 ms for 10k agents without, under 1 ms with).
--
-- A separate migration rather than an edit of 20261122000001: applied migrations are
-- checksummed and must never change.

CREATE FUNCTION graphql_agent_stats_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO agent_stats (agent_id) VALUES (NEW.agent_id) ON CONFLICT (agent_id) DO NOTHING;
    RETURN NULL;
END $$;

-- On insert only: a reorg that deletes an agent leaves its (zero or rolled-back) counters, which
-- every query reaches through a join with `agents` and which a replayed registration reuses.
CREATE TRIGGER graphql_agent_stats_row AFTER INSERT ON agents
    FOR EACH ROW EXECUTE FUNCTION graphql_agent_stats_row();

INSERT INTO agent_stats (agent_id) SELECT agent_id FROM agents ON CONFLICT (agent_id) DO NOTHING;

CREATE INDEX graphql_agent_stats_executions ON agent_stats (executions DESC, agent_id DESC);
CREATE INDEX graphql_agent_stats_success ON agent_stats (success_rate DESC NULLS LAST, agent_id DESC);
CREATE INDEX graphql_agents_price ON agents (price, agent_id);
-- Catalog counts by the common filters (index-only once autovacuum has run).
CREATE INDEX graphql_agents_category ON agents (category);
CREATE INDEX graphql_agents_status ON agents (status);
CREATE INDEX graphql_agents_payment_token ON agents (payment_token);
