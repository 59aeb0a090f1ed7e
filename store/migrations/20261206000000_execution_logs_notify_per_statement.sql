-- Log-line notifications per INSERT statement, not per row.
--
-- The relayer writes an execution's stderr in batches (up to 200 lines per INSERT). One NOTIFY
-- per row made a chatty agent cost one notification, and one SELECT in every API server, per
-- line; one per statement and (request, attempt) names the range of sequence numbers it
-- added, and the server loads the range in one query. Payload:
-- {"requestId": "...", "attempt": n, "seq": first, "lastSeq": last}.
DROP TRIGGER graphql_execution_log_notify ON execution_logs;
DROP FUNCTION graphql_execution_log_notify();

CREATE FUNCTION graphql_execution_logs_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r RECORD;
BEGIN
    FOR r IN
        SELECT request_id, attempt, min(seq) AS first_seq, max(seq) AS last_seq
        FROM new_rows GROUP BY request_id, attempt
    LOOP
        PERFORM pg_notify('nexus_execution_logs',
            json_build_object('requestId', r.request_id::text, 'attempt', r.attempt,
                              'seq', r.first_seq, 'lastSeq', r.last_seq)::text);
    END LOOP;
    RETURN NULL;
END $$;

-- The transition table holds only the rows actually inserted (ON CONFLICT DO NOTHING skips the
-- rest), so a replayed batch notifies nothing.
CREATE TRIGGER graphql_execution_logs_notify AFTER INSERT ON execution_logs
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION graphql_execution_logs_notify();
