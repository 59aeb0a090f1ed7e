//! The API's object types, read from the indexer's projections.
//!
//! Each type is a plain row plus resolvers. Rows decode once, through `nexus_store`'s column
//! types (NUMERIC as text and addresses/hashes as bytes, cast explicitly in SQL because the
//! schema's domains are not the base types' OIDs; statuses as the store's enums), so a value
//! that is not what its column promises fails the query instead of reading as zero or as a
//! default status. The execution row is the store's, shared with the relayer. References between objects (an execution's agent, an agent's stats) go through
//! per-request [`DataLoader`]s, so a page of 100 executions costs one agent query, not 100.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{ComplexObject, Context, Enum, Json, Object, SimpleObject};
use nexus_store::codec::{Addr, Hash32, Uint256};
use nexus_store::{self as store, ExecutionRow};
use sqlx::PgPool;

use crate::auth::Viewer;
use crate::error::{DbResult, forbidden, unauthenticated};
use crate::scalars::{Address, BigInt, Bytes32, DateTime};

// ---------------------------------------------------------------- enums

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum Category {
    General,
    Crypto,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum AgentStatus {
    Active,
    Paused,
    Retired,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum MetadataStatus {
    Pending,
    Ok,
    Failed,
}

// Not a doc comment: those become the schema's descriptions. Also `Deserialize` from the
// schema's names (`SUCCEEDED`, ...), so clients in this workspace (the `nexus` CLI) read the
// status the API sends as this type instead of comparing strings.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionStatus {
    Requested,
    Succeeded,
    Failed,
    Reclaimed,
}

// The API's enums are GraphQL types of their own (their names are the schema's), converted from
// the store's enums exhaustively: a new store value is a compile error here, not a fallback.
macro_rules! from_store {
    ($api:ident, $store:ty, { $($variant:ident => $store_variant:ident),+ $(,)? }) => {
        impl From<$store> for $api {
            fn from(v: $store) -> Self {
                match v { $(<$store>::$store_variant => $api::$variant),+ }
            }
        }

        impl From<$api> for $store {
            fn from(v: $api) -> Self {
                match v { $($api::$variant => <$store>::$store_variant),+ }
            }
        }

        impl $api {
            /// The value as the database stores it (for filters).
            pub fn as_str(self) -> &'static str {
                <$store>::from(self).as_str()
            }
        }
    };
}

from_store!(Category, store::Category, { General => General, Crypto => Crypto });
from_store!(AgentStatus, store::AgentStatus, { Active => Active, Paused => Paused, Retired => Retired });
from_store!(MetadataStatus, store::MetadataStatus, { Pending => Pending, Ok => Ok, Failed => Failed });
from_store!(ExecutionStatus, store::ExecutionStatus, {
    Requested => Requested,
    Succeeded => Succeeded,
    Failed => Failed,
    Reclaimed => Reclaimed,
});

fn json_column(text: Option<String>) -> Option<Json<serde_json::Value>> {
    text.and_then(|t| serde_json::from_str(&t).ok()).map(Json)
}

// ---------------------------------------------------------------- agents

/// Columns of [`AgentRow`], for `SELECT ... FROM agents a`.
pub const AGENT_COLUMNS: &str = "a.agent_id::text AS agent_id, a.developer::bytea AS developer, \
    a.payment_token::bytea AS payment_token, a.price::text AS price, a.max_duration, a.category, a.status, \
    a.image_digest::bytea AS image_digest, a.metadata_uri, a.registered_block, a.registered_tx::bytea AS registered_tx, \
    extract(epoch FROM a.registered_at)::bigint AS registered_at, a.updated_block, \
    extract(epoch FROM a.updated_at)::bigint AS updated_at, a.name, a.description, a.tags, \
    a.input_schema::text AS input_schema, a.output_schema::text AS output_schema, a.metadata_status, a.metadata_error";

#[derive(sqlx::FromRow, Debug, Clone)]
pub struct AgentRow {
    agent_id: Uint256,
    developer: Addr,
    payment_token: Addr,
    price: Uint256,
    max_duration: i64,
    category: store::Category,
    status: store::AgentStatus,
    image_digest: Hash32,
    metadata_uri: String,
    registered_block: i64,
    registered_tx: Hash32,
    registered_at: i64,
    updated_block: i64,
    updated_at: i64,
    name: Option<String>,
    description: Option<String>,
    tags: Vec<String>,
    input_schema: Option<String>,
    output_schema: Option<String>,
    metadata_status: store::MetadataStatus,
    metadata_error: Option<String>,
    /// Statistics joined into the same query ([`AGENT_STATS_COLUMNS`]) when the listing joins
    /// `agent_stats` anyway; absent columns decode as `None` and the stats loader is used.
    #[sqlx(default)]
    stats_executions: Option<i64>,
    #[sqlx(default)]
    stats_succeeded: Option<i64>,
    #[sqlx(default)]
    stats_failed: Option<i64>,
    #[sqlx(default)]
    stats_reclaimed: Option<i64>,
    #[sqlx(default)]
    stats_success_rate: Option<f64>,
    #[sqlx(default)]
    stats_revenue: Option<Uint256>,
}

/// Columns of `agent_stats s` that [`AgentRow`] picks up (saves the stats loader's query).
pub const AGENT_STATS_COLUMNS: &str = "s.executions AS stats_executions, s.succeeded AS stats_succeeded, \
    s.failed AS stats_failed, s.reclaimed AS stats_reclaimed, s.success_rate AS stats_success_rate, \
    s.revenue::text AS stats_revenue";

impl AgentRow {
    /// The statistics joined into this row, if they were.
    fn joined_stats(&self) -> Option<AgentStats> {
        Some(AgentStats {
            agent_id: BigInt::from(self.agent_id),
            executions: self.stats_executions?,
            succeeded: self.stats_succeeded?,
            failed: self.stats_failed?,
            reclaimed: self.stats_reclaimed?,
            success_rate: self.stats_success_rate,
            revenue: BigInt::from(self.stats_revenue?),
        })
    }

    /// The agent id.
    pub fn agent_id(&self) -> alloy::primitives::U256 {
        self.agent_id.0
    }
}

/// An agent in the catalog: its on-chain terms, its resolved metadata and usage statistics.
pub struct Agent(pub AgentRow);

#[Object]
impl Agent {
    /// The registry's agent id.
    async fn id(&self) -> BigInt {
        BigInt::from(self.0.agent_id)
    }
    /// Who is paid for successful executions.
    async fn developer(&self) -> Address {
        Address::from(self.0.developer)
    }
    /// ERC-20 the agent is paid in; the zero address means ETH.
    async fn payment_token(&self) -> Address {
        Address::from(self.0.payment_token)
    }
    /// Current price per execution, in the payment token's smallest unit.
    async fn price(&self) -> BigInt {
        BigInt::from(self.0.price)
    }
    /// Longest an execution may run, in seconds.
    async fn max_duration(&self) -> i64 {
        self.0.max_duration
    }
    async fn category(&self) -> Category {
        self.0.category.into()
    }
    async fn status(&self) -> AgentStatus {
        self.0.status.into()
    }
    /// sha256 of the container image the relayer runs.
    async fn image_digest(&self) -> Bytes32 {
        Bytes32::from(self.0.image_digest)
    }
    async fn metadata_uri(&self) -> &str {
        &self.0.metadata_uri
    }
    async fn registered_block(&self) -> i64 {
        self.0.registered_block
    }
    async fn registered_tx(&self) -> Bytes32 {
        Bytes32::from(self.0.registered_tx)
    }
    async fn registered_at(&self) -> DateTime {
        DateTime::from_secs(self.0.registered_at)
    }
    /// Last block that changed any on-chain field.
    async fn updated_block(&self) -> i64 {
        self.0.updated_block
    }
    async fn updated_at(&self) -> DateTime {
        DateTime::from_secs(self.0.updated_at)
    }
    /// From the metadata document; null until it is resolved.
    async fn name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    async fn tags(&self) -> &[String] {
        &self.0.tags
    }
    /// JSON Schema of the input the agent accepts, when its metadata declares one.
    async fn input_schema(&self) -> Option<Json<serde_json::Value>> {
        json_column(self.0.input_schema.clone())
    }
    /// JSON Schema of the output the agent produces, when its metadata declares one.
    async fn output_schema(&self) -> Option<Json<serde_json::Value>> {
        json_column(self.0.output_schema.clone())
    }
    /// Whether the metadata document has been fetched and parsed.
    async fn metadata_status(&self) -> MetadataStatus {
        self.0.metadata_status.into()
    }
    async fn metadata_error(&self) -> Option<&str> {
        self.0.metadata_error.as_deref()
    }
    /// Usage statistics over all of the agent's executions.
    async fn stats(&self, ctx: &Context<'_>) -> async_graphql::Result<AgentStats> {
        if let Some(stats) = self.0.joined_stats() {
            return Ok(stats);
        }
        let loader = ctx.data::<DataLoader<StatsLoader>>()?;
        let id = BigInt::from(self.0.agent_id);
        Ok(loader.load_one(id).await?.unwrap_or_else(|| AgentStats::empty(id)))
    }
}

/// An agent's execution statistics. Executions are counted from the request; the success rate is
/// over settled executions (succeeded / (succeeded + failed)), reclaims excluded.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(complex)]
pub struct AgentStats {
    #[graphql(skip)]
    agent_id: BigInt,
    /// Every execution ever requested.
    pub executions: i64,
    pub succeeded: i64,
    pub failed: i64,
    /// Requests the requester took back after the deadline.
    pub reclaimed: i64,
    /// Between 0 and 1; null until an execution has settled.
    pub success_rate: Option<f64>,
    /// Sum paid to the developer for succeeded executions, in the payment token.
    pub revenue: BigInt,
}

#[ComplexObject]
impl AgentStats {
    /// Median seconds from request to settlement over settled executions; null if none.
    async fn median_duration_seconds(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<f64>> {
        let loader = ctx.data::<DataLoader<MedianDurationLoader>>()?;
        Ok(loader.load_one(self.agent_id).await?)
    }
}

impl AgentStats {
    fn empty(agent_id: BigInt) -> Self {
        AgentStats {
            agent_id,
            executions: 0,
            succeeded: 0,
            failed: 0,
            reclaimed: 0,
            success_rate: None,
            revenue: BigInt(Default::default()),
        }
    }
}

/// The database error as a cloneable loader error.
type LoadError = Arc<sqlx::Error>;

fn keys_text(keys: &[BigInt]) -> Vec<String> {
    keys.iter().map(BigInt::decimal).collect()
}

/// Agents by id, batched.
pub struct AgentLoader(pub PgPool);

impl Loader<BigInt> for AgentLoader {
    type Value = Arc<AgentRow>;
    type Error = LoadError;

    async fn load(&self, keys: &[BigInt]) -> Result<HashMap<BigInt, Self::Value>, Self::Error> {
        let sql = format!("SELECT {AGENT_COLUMNS} FROM agents a WHERE a.agent_id = ANY($1::text[]::numeric[])");
        let rows: Vec<AgentRow> =
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(keys_text(keys)).fetch_all(&self.0).await?;
        Ok(rows.into_iter().map(|r| (BigInt::from(r.agent_id), Arc::new(r))).collect())
    }
}

/// Agent statistics by agent id, batched (counters maintained by the `agent_stats` triggers).
pub struct StatsLoader(pub PgPool);

impl Loader<BigInt> for StatsLoader {
    type Value = AgentStats;
    type Error = LoadError;

    async fn load(&self, keys: &[BigInt]) -> Result<HashMap<BigInt, Self::Value>, Self::Error> {
        type Row = (Uint256, i64, i64, i64, i64, Option<f64>, Uint256);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT agent_id::text, executions, succeeded, failed, reclaimed, success_rate, revenue::text
             FROM agent_stats WHERE agent_id = ANY($1::text[]::numeric[])",
        )
        .bind(keys_text(keys))
        .fetch_all(&self.0)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, executions, succeeded, failed, reclaimed, success_rate, revenue)| {
                let agent_id = BigInt::from(id);
                let stats = AgentStats {
                    agent_id,
                    executions,
                    succeeded,
                    failed,
                    reclaimed,
                    success_rate,
                    revenue: BigInt::from(revenue),
                };
                (agent_id, stats)
            })
            .collect())
    }
}

/// Median settle time by agent id, batched. Computed on demand (a median is not incremental).
pub struct MedianDurationLoader(pub PgPool);

impl Loader<BigInt> for MedianDurationLoader {
    type Value = f64;
    type Error = LoadError;

    async fn load(&self, keys: &[BigInt]) -> Result<HashMap<BigInt, Self::Value>, Self::Error> {
        let rows: Vec<(Uint256, Option<f64>)> = sqlx::query_as(
            "SELECT agent_id::text,
                    percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM settled_at - requested_at)::float8)
             FROM executions
             WHERE agent_id = ANY($1::text[]::numeric[]) AND status IN ('Succeeded', 'Failed')
             GROUP BY agent_id",
        )
        .bind(keys_text(keys))
        .fetch_all(&self.0)
        .await?;
        Ok(rows.into_iter().filter_map(|(id, m)| Some((BigInt::from(id), m?))).collect())
    }
}

async fn load_agent(ctx: &Context<'_>, id: BigInt) -> async_graphql::Result<Option<Agent>> {
    let loader = ctx.data::<DataLoader<AgentLoader>>()?;
    Ok(loader.load_one(id).await?.map(|row| Agent((*row).clone())))
}

// ---------------------------------------------------------------- purchases and credits

pub const PURCHASE_COLUMNS: &str = "p.block_number, p.log_index, p.tx_hash::bytea AS tx_hash, \
    extract(epoch FROM p.block_time)::bigint AS block_time, p.buyer::bytea AS buyer, p.agent_id::text AS agent_id, \
    p.credit_id::text AS credit_id, p.token::bytea AS token, p.unit_price::text AS unit_price, \
    p.units::text AS units, p.amount::text AS amount";

#[derive(sqlx::FromRow, Debug, Clone)]
pub struct PurchaseRow {
    block_number: i64,
    log_index: i64,
    tx_hash: Hash32,
    block_time: i64,
    buyer: Addr,
    agent_id: Uint256,
    credit_id: Uint256,
    token: Addr,
    unit_price: Uint256,
    units: Uint256,
    amount: Uint256,
}

/// A purchase of execution credits (one `Purchased` event).
pub struct Purchase(pub PurchaseRow);

#[Object]
impl Purchase {
    /// `<block number>-<log index>`: the event's position on chain.
    async fn id(&self) -> String {
        format!("{}-{}", self.0.block_number, self.0.log_index)
    }
    async fn block_number(&self) -> i64 {
        self.0.block_number
    }
    async fn log_index(&self) -> i64 {
        self.0.log_index
    }
    async fn tx_hash(&self) -> Bytes32 {
        Bytes32::from(self.0.tx_hash)
    }
    async fn time(&self) -> DateTime {
        DateTime::from_secs(self.0.block_time)
    }
    async fn buyer(&self) -> Address {
        Address::from(self.0.buyer)
    }
    async fn agent_id(&self) -> BigInt {
        BigInt::from(self.0.agent_id)
    }
    async fn agent(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Agent>> {
        load_agent(ctx, BigInt::from(self.0.agent_id)).await
    }
    /// The ERC-1155 id of the credits bought (`agentId << 96 | unitPrice`).
    async fn credit_id(&self) -> BigInt {
        BigInt::from(self.0.credit_id)
    }
    async fn token(&self) -> Address {
        Address::from(self.0.token)
    }
    async fn unit_price(&self) -> BigInt {
        BigInt::from(self.0.unit_price)
    }
    async fn units(&self) -> BigInt {
        BigInt::from(self.0.units)
    }
    /// What was paid: unitPrice × units.
    async fn amount(&self) -> BigInt {
        BigInt::from(self.0.amount)
    }
}

pub const ENTITLEMENT_COLUMNS: &str = "n.holder::bytea AS holder, n.credit_id::text AS credit_id, \
    n.agent_id::text AS agent_id, n.unit_price::text AS unit_price, n.balance::text AS balance";

#[derive(sqlx::FromRow, Debug, Clone)]
pub struct EntitlementRow {
    holder: Addr,
    credit_id: Uint256,
    agent_id: Uint256,
    unit_price: Uint256,
    balance: Uint256,
}

/// Execution credits a holder owns for one (agent, unit price): an ERC-1155 balance.
pub struct Entitlement(pub EntitlementRow);

#[Object]
impl Entitlement {
    async fn holder(&self) -> Address {
        Address::from(self.0.holder)
    }
    async fn credit_id(&self) -> BigInt {
        BigInt::from(self.0.credit_id)
    }
    async fn agent_id(&self) -> BigInt {
        BigInt::from(self.0.agent_id)
    }
    async fn agent(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Agent>> {
        load_agent(ctx, BigInt::from(self.0.agent_id)).await
    }
    async fn unit_price(&self) -> BigInt {
        BigInt::from(self.0.unit_price)
    }
    /// Credits left: executions the holder can still request.
    async fn balance(&self) -> BigInt {
        BigInt::from(self.0.balance)
    }
}

pub const BALANCE_COLUMNS: &str = "b.token::bytea AS token, b.account::bytea AS account, \
    b.credited::text AS credited, b.withdrawn::text AS withdrawn, (b.credited - b.withdrawn)::text AS withdrawable";

#[derive(sqlx::FromRow, Debug, Clone)]
pub struct BalanceRow {
    token: Addr,
    account: Addr,
    credited: Uint256,
    withdrawn: Uint256,
    withdrawable: Uint256,
}

/// What the marketplace owes an account in one token (pull payments).
pub struct WithdrawableBalance(pub BalanceRow);

#[Object]
impl WithdrawableBalance {
    /// Zero address: ETH.
    async fn token(&self) -> Address {
        Address::from(self.0.token)
    }
    async fn account(&self) -> Address {
        Address::from(self.0.account)
    }
    /// Everything ever credited.
    async fn credited(&self) -> BigInt {
        BigInt::from(self.0.credited)
    }
    /// Everything ever withdrawn.
    async fn withdrawn(&self) -> BigInt {
        BigInt::from(self.0.withdrawn)
    }
    /// What `withdraw(token)` would pay now.
    async fn withdrawable(&self) -> BigInt {
        BigInt::from(self.0.withdrawable)
    }
}

// ---------------------------------------------------------------- executions

pub use nexus_store::EXECUTION_COLUMNS;

/// One execution request and its settlement. Everything is public except the output and the
/// logs, which only the requester (signed in) may read.
#[derive(Clone)]
pub struct Execution(pub Arc<ExecutionRow>);

/// The signed-in viewer must be this execution's requester.
pub fn require_requester(ctx: &Context<'_>, requester: alloy::primitives::Address) -> async_graphql::Result<()> {
    match ctx.data_opt::<Viewer>().and_then(|v| v.0) {
        None => Err(unauthenticated("sign in (bearer token) to read an execution's output and logs")),
        Some(a) if a == requester => Ok(()),
        Some(_) => Err(forbidden("only the execution's requester may read its output and logs")),
    }
}

#[Object]
impl Execution {
    /// The marketplace's request id.
    async fn id(&self) -> BigInt {
        BigInt::from(self.0.request_id)
    }
    async fn agent_id(&self) -> BigInt {
        BigInt::from(self.0.agent_id)
    }
    async fn agent(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Agent>> {
        load_agent(ctx, BigInt::from(self.0.agent_id)).await
    }
    async fn requester(&self) -> Address {
        Address::from(self.0.requester)
    }
    async fn developer(&self) -> Address {
        Address::from(self.0.developer)
    }
    async fn token(&self) -> Address {
        Address::from(self.0.token)
    }
    /// The credit spent on this execution.
    async fn credit_id(&self) -> BigInt {
        BigInt::from(self.0.credit_id)
    }
    /// The escrowed amount.
    async fn unit_price(&self) -> BigInt {
        BigInt::from(self.0.unit_price)
    }
    /// keccak256 of the input blob (see `PUT /v1/blobs`).
    async fn input_hash(&self) -> Bytes32 {
        Bytes32::from(self.0.input_hash)
    }
    /// Settle before, reclaim after.
    async fn deadline(&self) -> DateTime {
        DateTime::from_secs(self.0.deadline)
    }
    async fn status(&self) -> ExecutionStatus {
        self.0.status.into()
    }
    /// The settlement's verdict; null while requested and when reclaimed.
    async fn success(&self) -> Option<bool> {
        self.0.success
    }
    /// keccak256 of the output blob (zero hash when there is none); set on settlement.
    async fn output_hash(&self) -> Option<Bytes32> {
        self.0.output_hash.map(Bytes32::from)
    }
    /// Who was credited on settlement or reclaim.
    async fn payee(&self) -> Option<Address> {
        self.0.payee.map(Address::from)
    }
    async fn payout(&self) -> Option<BigInt> {
        self.0.payout.map(BigInt::from)
    }
    /// Platform fee taken on success.
    async fn fee(&self) -> Option<BigInt> {
        self.0.fee.map(BigInt::from)
    }
    async fn requested_block(&self) -> i64 {
        self.0.requested_block
    }
    async fn requested_tx(&self) -> Bytes32 {
        Bytes32::from(self.0.requested_tx)
    }
    async fn requested_at(&self) -> DateTime {
        DateTime::from_secs(self.0.requested_at)
    }
    async fn settled_block(&self) -> Option<i64> {
        self.0.settled_block
    }
    async fn settled_tx(&self) -> Option<Bytes32> {
        self.0.settled_tx.map(Bytes32::from)
    }
    async fn settled_at(&self) -> Option<DateTime> {
        self.0.settled_at.map(DateTime::from_secs)
    }
    /// Seconds from request to settlement (block times); null while open.
    async fn duration_seconds(&self) -> Option<i64> {
        self.0.settled_at.map(|s| s - self.0.requested_at)
    }
    /// The output document as text. Requester only (sign in first); null while there is none.
    async fn output(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<String>> {
        require_requester(ctx, self.0.requester)?;
        let Some(hash) = self.0.output_blob() else { return Ok(None) };
        let pool = ctx.data::<PgPool>()?;
        let bytes: Option<Vec<u8>> = sqlx::query_scalar("SELECT bytes FROM blobs WHERE hash = $1")
            .bind(hash.as_slice())
            .fetch_optional(pool)
            .await
            .db()?;
        Ok(bytes.map(|b| String::from_utf8_lossy(&b).into_owned()))
    }
    /// The container's log lines in order. Requester only.
    async fn logs(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only lines of this attempt (a request a relayer gave up on runs again as the next \
                          attempt). Default: every attempt, in order.")]
        attempt: Option<i32>,
        #[graphql(desc = "Only lines after this sequence number. Sequence numbers start at 0 in each \
                          attempt, so page with `attempt` set.")]
        after_seq: Option<i64>,
        #[graphql(desc = "At most this many lines (default and maximum 1000).")] limit: Option<i32>,
    ) -> async_graphql::Result<Vec<ExecutionLog>> {
        require_requester(ctx, self.0.requester)?;
        let pool = ctx.data::<PgPool>()?;
        let limit = limit.unwrap_or(MAX_LOG_LINES).clamp(0, MAX_LOG_LINES);
        let rows: Vec<LogRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {LOG_COLUMNS} FROM execution_logs l
             WHERE l.request_id = $1::numeric AND l.seq > $2 AND ($4::integer IS NULL OR l.attempt = $4)
             ORDER BY l.attempt, l.seq LIMIT $3"
        )))
        .bind(Uint256(self.0.request_id))
        .bind(after_seq.unwrap_or(-1))
        .bind(i64::from(limit))
        .bind(attempt)
        .fetch_all(pool)
        .await
        .db()?;
        Ok(rows.into_iter().map(ExecutionLog::from).collect())
    }
}

/// Log lines one `logs` field returns at most: container stderr can be long, a page is enough.
const MAX_LOG_LINES: i32 = 1000;

pub const LOG_COLUMNS: &str = "l.request_id::text AS request_id, l.attempt, l.seq, l.stream, l.line, \
    (extract(epoch FROM l.logged_at) * 1000)::bigint AS logged_at";

#[derive(sqlx::FromRow, Debug, Clone)]
pub struct LogRow {
    pub request_id: Uint256,
    pub attempt: i32,
    pub seq: i64,
    pub stream: String,
    pub line: String,
    pub logged_at: i64,
}

/// One line an execution's container wrote.
#[derive(SimpleObject, Clone, Debug)]
pub struct ExecutionLog {
    pub request_id: BigInt,
    /// The relayer's attempt number (a retried run starts a new attempt).
    pub attempt: i32,
    pub seq: i64,
    /// `stdout`, `stderr` or `system` (the relayer's own notes).
    pub stream: String,
    pub line: String,
    pub logged_at: DateTime,
}

impl From<LogRow> for ExecutionLog {
    fn from(r: LogRow) -> Self {
        ExecutionLog {
            request_id: BigInt::from(r.request_id),
            attempt: r.attempt,
            seq: r.seq,
            stream: r.stream,
            line: r.line,
            logged_at: DateTime(r.logged_at),
        }
    }
}

// ---------------------------------------------------------------- indexer status

/// How far the indexer is behind the chain.
#[derive(SimpleObject, Clone, Debug)]
pub struct IndexerStatus {
    /// The chain's latest block as the configured node reports it; null if it cannot be reached.
    pub head: Option<i64>,
    /// The last block whose events are in the database; null before the first.
    pub indexed_block: Option<i64>,
    pub indexed_block_hash: Option<Bytes32>,
    /// head − indexedBlock; null when either is unknown.
    pub lag: Option<i64>,
    /// When the indexer last committed.
    pub updated_at: Option<DateTime>,
}
