//! An agent's usage statistics: the counters the `agent_stats` triggers maintain, and the median
//! settle time computed on demand; both batched per request.

use std::collections::HashMap;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{ComplexObject, Context, SimpleObject};
use nexus_store::codec::Uint256;
use sqlx::PgPool;

use super::loader::{LoadError, keys_text};
use crate::scalars::BigInt;

/// An agent's execution statistics. Executions are counted from the request; the success rate is
/// over settled executions (succeeded / (succeeded + failed)), reclaims excluded.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(complex)]
pub struct AgentStats {
    #[graphql(skip)]
    pub(super) agent_id: BigInt,
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
    pub(super) fn empty(agent_id: BigInt) -> Self {
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
