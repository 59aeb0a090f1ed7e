-- AgentNexus GraphQL server: `agentUpdated` subscribers also learn when an agent's metadata is
-- resolved (the indexer's resolver fills name, description, tags and schemas after the fact,
-- outside the indexer's per-block NOTIFY). A channel of its own, so listeners of the indexer's
-- `nexus_agents` keep their meaning ("on-chain fields changed").

CREATE FUNCTION graphql_agent_metadata_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('nexus_agent_metadata', json_build_object('agentId', NEW.agent_id::text)::text);
    RETURN NULL;
END $$;

CREATE TRIGGER graphql_agent_metadata_notify AFTER UPDATE ON agents
    FOR EACH ROW
    WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.description IS DISTINCT FROM NEW.description
          OR OLD.tags IS DISTINCT FROM NEW.tags OR OLD.input_schema IS DISTINCT FROM NEW.input_schema
          OR OLD.output_schema IS DISTINCT FROM NEW.output_schema
          OR OLD.metadata_status IS DISTINCT FROM NEW.metadata_status)
    EXECUTE FUNCTION graphql_agent_metadata_notify();
