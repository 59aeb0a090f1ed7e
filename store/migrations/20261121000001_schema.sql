-- AgentNexus: the one schema every service shares (indexer writes projections; GraphQL reads
-- them and writes blobs; the relayer claims executions and writes execution logs).
--
-- Conventions (invariants every writer keeps):
--   * Money is NUMERIC(78,0): exact, and wide enough for any uint256. Never floats.
--   * Addresses are BYTEA of exactly 20 bytes, hashes BYTEA of exactly 32; never hex text.
--     The zero address stands for ETH wherever a token is named.
--   * uint256 ids (agent ids, request ids, credit ids) are NUMERIC(78,0) too.
--   * Times from the chain are block timestamps (timestamptz, UTC). Block numbers are BIGINT.
--   * Every projection row written by the indexer is keyed by an on-chain identity (agent id,
--     request id, (holder, credit id), (token, account)) or by chain position
--     (block_number, log_index), so replaying a block can never create a duplicate.
--   * Projections and the cursor change only inside one transaction per block batch: the
--     database always equals "the chain applied up to chain_cursor.block_number".

CREATE DOMAIN address AS BYTEA CHECK (octet_length(VALUE) = 20);
CREATE DOMAIN hash32 AS BYTEA CHECK (octet_length(VALUE) = 32);
-- The bound is 2^256 written out: a literal costs nothing per row, `2::NUMERIC ^ 256` is a
-- numeric power evaluated for every value checked.
CREATE DOMAIN uint256 AS NUMERIC(78, 0)
    CHECK (VALUE >= 0 AND VALUE < 115792089237316195423570985008687907853269984665640564039457584007913129639936);

-- ---------------------------------------------------------------- chain position

-- Exactly one row: the last block whose logs are fully applied. Absent = nothing indexed yet.
CREATE TABLE chain_cursor (
    singleton    BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    chain_id     BIGINT NOT NULL,
    block_number BIGINT NOT NULL,
    block_hash   hash32 NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Hashes of recently applied blocks, kept until final (older than the reorg depth limit), so a
-- new block whose parent hash does not match can be traced back to the common ancestor.
-- In the final range (backfill) only the last block of each batch is recorded.
CREATE TABLE chain_blocks (
    block_number BIGINT PRIMARY KEY,
    block_hash   hash32 NOT NULL,
    parent_hash  hash32 NOT NULL,
    block_time   TIMESTAMPTZ NOT NULL
);

-- Undo journal for unfinalized blocks (the reorg mechanism; see indexer/src/lib.rs). An AFTER
-- trigger on every projection table records each row change made while the transaction-local
-- setting `nexus.journal_block` names a block: the row before (NULL for an insert) and after
-- (NULL for a delete). `nexus_rollback(ancestor)` replays the entries of later blocks newest
-- first, restoring every projection exactly. Entries of final blocks are pruned.
CREATE TABLE reorg_journal (
    id           BIGSERIAL PRIMARY KEY,
    block_number BIGINT NOT NULL,
    table_name   TEXT NOT NULL,
    op           CHAR(1) NOT NULL CHECK (op IN ('I', 'U', 'D')),
    old_row      JSONB,
    new_row      JSONB,
    CHECK ((op = 'I') = (old_row IS NULL) AND (op = 'D') = (new_row IS NULL))
);
CREATE INDEX reorg_journal_block ON reorg_journal (block_number);

CREATE FUNCTION nexus_journal() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    block TEXT := current_setting('nexus.journal_block', true);
BEGIN
    IF block IS NULL OR block = '' THEN
        RETURN NULL;  -- a final block (or a rollback in progress): nothing to undo later
    END IF;
    INSERT INTO reorg_journal (block_number, table_name, op, old_row, new_row)
    VALUES (block::BIGINT, TG_TABLE_NAME, left(TG_OP, 1),
            CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END,
            CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END);
    RETURN NULL;
END $$;

-- Undoes every journaled change of blocks after `ancestor`, newest first, and drops those
-- entries. Generic over tables: rows round-trip through JSONB (exact for NUMERIC and BYTEA) and
-- are matched by their primary key. Projection tables therefore have no generated columns.
CREATE FUNCTION nexus_rollback(ancestor BIGINT) RETURNS BIGINT LANGUAGE plpgsql AS $$
DECLARE
    entry RECORD;
    keys  TEXT;
    undone BIGINT := 0;
BEGIN
    PERFORM set_config('nexus.journal_block', '', true);
    FOR entry IN SELECT * FROM reorg_journal WHERE block_number > ancestor ORDER BY id DESC LOOP
        SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO keys
        FROM pg_index i
        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
        WHERE i.indrelid = entry.table_name::regclass AND i.indisprimary;
        IF entry.op IN ('I', 'U') THEN
            EXECUTE format('DELETE FROM %I WHERE (%s) = (SELECT %s FROM jsonb_populate_record(NULL::%I, $1))',
                           entry.table_name, keys, keys, entry.table_name)
            USING entry.new_row;
        END IF;
        IF entry.op IN ('U', 'D') THEN
            EXECUTE format('INSERT INTO %I SELECT * FROM jsonb_populate_record(NULL::%I, $1)',
                           entry.table_name, entry.table_name)
            USING entry.old_row;
        END IF;
        undone := undone + 1;
    END LOOP;
    DELETE FROM reorg_journal WHERE block_number > ancestor;
    RETURN undone;
END $$;

-- ---------------------------------------------------------------- raw events

-- Every log of the AgentNexus contracts, verbatim, in chain order. Lets any projection be
-- re-derived or audited without the node.
CREATE TABLE chain_events (
    block_number BIGINT NOT NULL,
    log_index    BIGINT NOT NULL,
    tx_index     BIGINT NOT NULL,
    tx_hash      hash32 NOT NULL,
    block_hash   hash32 NOT NULL,
    address      address NOT NULL,
    topics       BYTEA[] NOT NULL,
    data         BYTEA NOT NULL,
    PRIMARY KEY (block_number, log_index)
);

-- ---------------------------------------------------------------- marketplace configuration

-- One row: the marketplace's settings as of the cursor. The treasury starts as the deployments
-- file says (the constructor emits no event); later changes come from TreasuryUpdated.
CREATE TABLE marketplace_config (
    singleton        BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    treasury         address NOT NULL,
    fee_bps          INTEGER NOT NULL CHECK (fee_bps BETWEEN 0 AND 10000),
    settlement_grace BIGINT NOT NULL CHECK (settlement_grace >= 0),
    paused           BOOLEAN NOT NULL
);

-- ---------------------------------------------------------------- agents

CREATE TABLE agents (
    agent_id         uint256 PRIMARY KEY,
    developer        address NOT NULL,
    payment_token    address NOT NULL,          -- immutable; zero address = ETH
    price            uint256 NOT NULL,          -- current price per unit (uint96 on-chain)
    max_duration     BIGINT NOT NULL CHECK (max_duration >= 0),  -- seconds (uint32)
    category         TEXT NOT NULL CHECK (category IN ('General', 'Crypto')),
    status           TEXT NOT NULL CHECK (status IN ('Active', 'Paused', 'Retired')),
    image_digest     hash32 NOT NULL,
    metadata_uri     TEXT NOT NULL,
    registered_block BIGINT NOT NULL,
    registered_tx    hash32 NOT NULL,
    registered_at    TIMESTAMPTZ NOT NULL,
    updated_block    BIGINT NOT NULL,           -- last block that changed any field
    updated_at       TIMESTAMPTZ NOT NULL,
    -- Resolved metadata (from metadata_uri). NULL until fetched; a failed fetch never blocks
    -- indexing: it is recorded here and retried (metadata_next_attempt_at).
    name             TEXT,
    description      TEXT,
    tags             TEXT[] NOT NULL DEFAULT '{}',
    input_schema     JSONB,
    output_schema    JSONB,
    metadata_status  TEXT NOT NULL DEFAULT 'pending' CHECK (metadata_status IN ('pending', 'ok', 'failed')),
    metadata_error   TEXT,
    metadata_attempts INTEGER NOT NULL DEFAULT 0,
    metadata_next_attempt_at TIMESTAMPTZ,
    -- Full-text search over name, description and tags; written together with them (not a
    -- generated column: the reorg journal restores rows with INSERT ... SELECT *).
    search           TSVECTOR NOT NULL DEFAULT ''::tsvector
);
CREATE INDEX agents_search ON agents USING GIN (search);
CREATE INDEX agents_developer ON agents (developer);
CREATE INDEX agents_metadata_pending ON agents (metadata_next_attempt_at) WHERE metadata_status <> 'ok';

-- ---------------------------------------------------------------- purchases and credits

-- One row per Purchased event. amount = unit_price * units, exactly what was paid.
CREATE TABLE purchases (
    block_number BIGINT NOT NULL,
    log_index    BIGINT NOT NULL,
    tx_hash      hash32 NOT NULL,
    block_time   TIMESTAMPTZ NOT NULL,
    buyer        address NOT NULL,
    agent_id     uint256 NOT NULL,
    credit_id    uint256 NOT NULL,
    token        address NOT NULL,
    unit_price   uint256 NOT NULL,
    units        uint256 NOT NULL CHECK (units > 0),
    amount       uint256 NOT NULL CHECK (amount = unit_price * units),
    PRIMARY KEY (block_number, log_index)
);
CREATE INDEX purchases_buyer ON purchases (buyer);
CREATE INDEX purchases_agent ON purchases (agent_id);

-- One row per CreditsCancelled event: unused credits returned for their purchase price.
CREATE TABLE credit_cancellations (
    block_number BIGINT NOT NULL,
    log_index    BIGINT NOT NULL,
    tx_hash      hash32 NOT NULL,
    block_time   TIMESTAMPTZ NOT NULL,
    holder       address NOT NULL,
    agent_id     uint256 NOT NULL,
    credit_id    uint256 NOT NULL,
    units        uint256 NOT NULL,
    amount       uint256 NOT NULL,
    PRIMARY KEY (block_number, log_index)
);

-- ERC-1155 balances of the marketplace's credits, from TransferSingle/TransferBatch (the
-- standard's own record of mints and burns), so balance = balanceOf(holder, credit_id).
-- credit_id = agent_id << 96 | unit_price; the parts are stored for querying.
CREATE TABLE entitlements (
    holder     address NOT NULL,
    credit_id  uint256 NOT NULL,
    agent_id   uint256 NOT NULL,
    unit_price uint256 NOT NULL,
    balance    uint256 NOT NULL,
    PRIMARY KEY (holder, credit_id)
);
CREATE INDEX entitlements_agent ON entitlements (agent_id);

-- ---------------------------------------------------------------- executions

-- One row per request id. Lifecycle: Requested -> Succeeded | Failed (settle, relayer) or
-- Reclaimed (requester, after the deadline). Exactly one terminal transition ever happens.
CREATE TABLE executions (
    request_id      uint256 PRIMARY KEY,
    agent_id        uint256 NOT NULL,
    requester       address NOT NULL,
    developer       address NOT NULL,
    token           address NOT NULL,
    credit_id       uint256 NOT NULL,
    unit_price      uint256 NOT NULL,        -- the escrowed amount
    input_hash      hash32 NOT NULL,         -- keccak256 of the input blob
    deadline        TIMESTAMPTZ NOT NULL,    -- settle before, reclaim after
    status          TEXT NOT NULL CHECK (status IN ('Requested', 'Succeeded', 'Failed', 'Reclaimed')),
    success         BOOLEAN,                 -- NULL while Requested and when Reclaimed
    output_hash     hash32,                  -- set by settle (zero hash when there is no output)
    payee           address,                 -- who was credited on settlement/reclaim
    payout          uint256,                 -- amount credited to payee
    fee             uint256,                 -- platform fee credited to the treasury
    requested_block BIGINT NOT NULL,
    requested_tx    hash32 NOT NULL,
    requested_at    TIMESTAMPTZ NOT NULL,
    settled_block   BIGINT,                  -- settle or reclaim
    settled_tx      hash32,
    settled_at      TIMESTAMPTZ,
    CHECK ((status = 'Requested') = (settled_block IS NULL)),
    CHECK ((status IN ('Succeeded', 'Failed')) = (success IS NOT NULL)),
    CHECK (status <> 'Requested' OR payee IS NULL),
    CHECK (payout IS NULL OR payout + fee = unit_price)
);
CREATE INDEX executions_open ON executions (request_id) WHERE status = 'Requested';
CREATE INDEX executions_requester ON executions (requester);
CREATE INDEX executions_agent ON executions (agent_id);

-- ---------------------------------------------------------------- balances and withdrawals

-- The marketplace's pull-payment balances, mirrored as its two running totals:
-- withdrawable(token, account) = credited - withdrawn (see the view below).
CREATE TABLE balances (
    token     address NOT NULL,
    account   address NOT NULL,
    credited  uint256 NOT NULL,
    withdrawn uint256 NOT NULL,
    CHECK (withdrawn <= credited),
    PRIMARY KEY (token, account)
);

CREATE VIEW withdrawable_balances AS
    SELECT token, account, credited - withdrawn AS withdrawable FROM balances;

-- One row per Withdrawn event (withdraw and withdrawTo).
CREATE TABLE withdrawals (
    block_number BIGINT NOT NULL,
    log_index    BIGINT NOT NULL,
    tx_hash      hash32 NOT NULL,
    block_time   TIMESTAMPTZ NOT NULL,
    account      address NOT NULL,
    token        address NOT NULL,
    recipient    address NOT NULL,
    amount       uint256 NOT NULL,
    PRIMARY KEY (block_number, log_index)
);
CREATE INDEX withdrawals_account ON withdrawals (account);

-- ---------------------------------------------------------------- journaled tables

CREATE TRIGGER journal AFTER INSERT OR UPDATE OR DELETE ON chain_events FOR EACH ROW
    WHEN (current_setting('nexus.journal_block', true) <> '') EXECUTE FUNCTION nexus_journal();
CREATE TRIGGER journal AFTER INSERT OR UPDATE OR DELETE ON marketplace_config FOR EACH ROW
    WHEN (current_setting('nexus.journal_block', true) <> '') EXECUTE FUNCTION nexus_journal();
CREATE TRIGGER journal AFTER INSERT OR UPDATE OR DELETE ON agents FOR EACH ROW
    WHEN (current_setting('nexus.journal_block', true) <> '') EXECUTE FUNCTION nexus_journal();
CREATE TRIGGER journal AFTER INSERT OR UPDATE OR DELETE ON purchases FOR EACH ROW
    WHEN (current_setting('nexus.journal_block', true) <> '') EXECUTE FUNCTION nexus_journal();
CREATE TRIGGER journal AFTER INSERT OR UPDATE OR DELETE ON credit_cancellations FOR EACH ROW
    WHEN (current_setting('nexus.journal_block', true) <> '') EXECUTE FUNCTION nexus_journal();
CREATE TRIGGER journal AFTER INSERT OR UPDATE OR DELETE ON entitlements FOR EACH ROW
    WHEN (current_setting('nexus.journal_block', true) <> '') EXECUTE FUNCTION nexus_journal();
CREATE TRIGGER journal AFTER INSERT OR UPDATE OR DELETE ON executions FOR EACH ROW
    WHEN (current_setting('nexus.journal_block', true) <> '') EXECUTE FUNCTION nexus_journal();
CREATE TRIGGER journal AFTER INSERT OR UPDATE OR DELETE ON balances FOR EACH ROW
    WHEN (current_setting('nexus.journal_block', true) <> '') EXECUTE FUNCTION nexus_journal();
CREATE TRIGGER journal AFTER INSERT OR UPDATE OR DELETE ON withdrawals FOR EACH ROW
    WHEN (current_setting('nexus.journal_block', true) <> '') EXECUTE FUNCTION nexus_journal();

-- ---------------------------------------------------------------- off-chain data

-- Content-addressed blobs (execution inputs and outputs): hash = keccak256(bytes), the value
-- the chain commits to (inputHash, outputHash). Written by GraphQL uploads and the relayer;
-- immutable once written.
CREATE TABLE blobs (
    hash       hash32 PRIMARY KEY,
    bytes      BYTEA NOT NULL,
    size       BIGINT NOT NULL CHECK (size = octet_length(bytes)),
    media_type TEXT NOT NULL DEFAULT 'application/json',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Log lines of an execution's container (stderr), in order, written by the relayer.
-- Not tied by a foreign key to executions: a reorg may briefly remove the execution row.
CREATE TABLE execution_logs (
    request_id uint256 NOT NULL,
    attempt    INTEGER NOT NULL DEFAULT 1,
    seq        BIGINT NOT NULL,
    stream     TEXT NOT NULL DEFAULT 'stderr' CHECK (stream IN ('stdout', 'stderr', 'system')),
    line       TEXT NOT NULL,
    logged_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (request_id, attempt, seq)
);
