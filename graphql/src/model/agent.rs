//! Agents in the catalog: the agent object, its row and columns, its enums, and the batched
//! agent loader every object that names an agent goes through ([`load_agent`]).

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{Context, Enum, Json, Object};
use nexus_store as store;
use nexus_store::codec::{Addr, Hash32, Uint256};
use sqlx::PgPool;

use super::agent_stats::{AgentStats, StatsLoader};
use super::loader::{LoadError, keys_text};
use crate::scalars::{Address, BigInt, Bytes32, DateTime};

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

from_store!(Category, store::Category, { General => General, Crypto => Crypto });
from_store!(AgentStatus, store::AgentStatus, { Active => Active, Paused => Paused, Retired => Retired });
from_store!(MetadataStatus, store::MetadataStatus, { Pending => Pending, Ok => Ok, Failed => Failed });

fn json_column(text: Option<String>) -> Option<Json<serde_json::Value>> {
    text.and_then(|t| serde_json::from_str(&t).ok()).map(Json)
}

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

pub(super) async fn load_agent(ctx: &Context<'_>, id: BigInt) -> async_graphql::Result<Option<Agent>> {
    let loader = ctx.data::<DataLoader<AgentLoader>>()?;
    Ok(loader.load_one(id).await?.map(|row| Agent((*row).clone())))
}
