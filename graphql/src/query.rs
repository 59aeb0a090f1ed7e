//! The query root: lookups by id and filtered, sorted Relay connections over the projections.
//!
//! Every listing is built as `SELECT <columns> FROM <table> WHERE <filters> ORDER BY <order>,
//! <primary key> LIMIT/OFFSET` with bound parameters only (filters never interpolate client
//! text). `totalCount` re-runs the same FROM/WHERE as `count(*)`, lazily: a client that does not
//! select it does not pay for it.

use std::sync::Arc;
use std::time::Duration;

use alloy::providers::Provider;
use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, InputObject, Object};
use sqlx::{PgPool, Postgres, QueryBuilder};

use crate::count_cache::CountCache;
use crate::error::{DbResult, bad_input};
use nexus_store::ExecutionRow;
use nexus_store::codec::Hash32;

use crate::model::*;
use crate::notifier::Notifier;
use crate::pagination::{OffsetCursor, PageArgs, Window, page_complexity};
use crate::scalars::{Address, BigInt, Bytes32, DateTime};
use crate::state::AppState;

/// Pushes `FROM ... WHERE ...`; the flag says whether the query only counts (joins that add
/// columns for ordering or display can then be left out).
type PushSql = dyn Fn(&mut QueryBuilder<Postgres>, bool) + Send + Sync;

/// Pushes a listing's `FROM ... WHERE ...` onto a query; catalog listings also carry the key
/// their count is cached under (see [`crate::count_cache`]).
#[derive(Clone)]
pub struct Listing {
    push: Arc<PushSql>,
    count_cache: Option<(Arc<CountCache>, String)>,
}

impl Listing {
    fn new(f: impl Fn(&mut QueryBuilder<Postgres>) + Send + Sync + 'static) -> Self {
        Listing { push: Arc::new(move |qb, _| f(qb)), count_cache: None }
    }

    /// A listing over `agents` columns only, whose count may be served from `cache` under `key`
    /// (which must identify the filter completely).
    fn catalog(
        cache: Arc<CountCache>,
        key: String,
        f: impl Fn(&mut QueryBuilder<Postgres>, bool) + Send + Sync + 'static,
    ) -> Self {
        Listing { push: Arc::new(f), count_cache: Some((cache, key)) }
    }
}

/// Extra fields of every connection.
pub struct ConnectionFields {
    pool: PgPool,
    from: Listing,
}

#[Object]
impl ConnectionFields {
    /// How many items match the filters (all pages).
    async fn total_count(&self) -> async_graphql::Result<i64> {
        count(&self.pool, &self.from).await
    }
}

async fn count(pool: &PgPool, from: &Listing) -> async_graphql::Result<i64> {
    let generation = match &from.count_cache {
        Some((cache, key)) => match cache.get(key) {
            Some(n) => return Ok(n),
            None => Some(cache.generation()),
        },
        None => None,
    };
    let mut qb = QueryBuilder::new("SELECT count(*) ");
    (from.push)(&mut qb, true);
    let n = qb.build_query_scalar::<i64>().fetch_one(pool).await.db()?;
    if let (Some((cache, key)), Some(generation)) = (&from.count_cache, generation) {
        cache.store(key.clone(), generation, n);
    }
    Ok(n)
}

type Conn<N> = Connection<OffsetCursor, N, ConnectionFields>;

/// Runs one page of a listing and wraps it as a connection.
async fn page<R, N>(
    pool: &PgPool,
    args: PageArgs,
    columns: &str,
    from: Listing,
    order: &str,
    wrap: impl Fn(R) -> N,
) -> async_graphql::Result<Conn<N>>
where
    R: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
    N: async_graphql::OutputType,
{
    let window: Window = args.window(|| async { count(pool, &from).await.map(|n| n.max(0) as u64) }).await?;
    let mut qb = QueryBuilder::new(format!("SELECT {columns} "));
    (from.push)(&mut qb, false);
    qb.push(format!(" ORDER BY {order} LIMIT "));
    qb.push_bind(window.fetch());
    qb.push(" OFFSET ");
    qb.push_bind(window.offset as i64);
    let rows: Vec<R> = if window.limit == 0 && args.last.is_some() {
        Vec::new()
    } else {
        qb.build_query_as::<R>().fetch_all(pool).await.db()?
    };
    let nodes = rows.into_iter().map(wrap).collect();
    Ok(window.connection(nodes, ConnectionFields { pool: pool.clone(), from }))
}

fn pool<'a>(ctx: &'a Context<'_>) -> async_graphql::Result<&'a PgPool> {
    ctx.data::<PgPool>()
}

// ---------------------------------------------------------------- filters

/// Catalog filters; all given conditions must hold.
#[derive(InputObject, Clone, Default, Debug)]
pub struct AgentFilter {
    pub category: Option<Category>,
    pub status: Option<AgentStatus>,
    /// The zero address selects agents paid in ETH.
    pub payment_token: Option<Address>,
    pub developer: Option<Address>,
    /// Price at least this (inclusive), in the payment token's smallest unit.
    pub min_price: Option<BigInt>,
    /// Price at most this (inclusive).
    pub max_price: Option<BigInt>,
    /// Words to find in the name, description and tags (prefixes match: `ech` finds `Echo`).
    pub search: Option<String>,
}

/// Catalog orders. Ties are broken by agent id.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, Default)]
pub enum AgentSort {
    /// Most recently registered first.
    #[default]
    Newest,
    Oldest,
    PriceAsc,
    PriceDesc,
    /// Most executions first.
    Executions,
    /// Highest success rate first; agents with nothing settled last.
    SuccessRate,
    /// Best text match first (with `filter.search`; otherwise newest).
    Relevance,
}

/// Longest `filter.search` accepted, in characters. Catalog searches are a few words; the bound
/// keeps a client from making every catalog count key (and plan) as large as the request body.
pub const MAX_SEARCH_CHARS: usize = 200;

/// Search words → a prefix `tsquery` (`w1:* & w2:*`). Only letters and digits survive, so the
/// text can never be tsquery syntax; the value is bound, never interpolated.
fn tsquery(search: &str) -> Option<String> {
    /// Words beyond this add nothing to a catalog search and cost planning time.
    const MAX_WORDS: usize = 8;
    let words: Vec<String> = search
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(MAX_WORDS)
        .map(|w| format!("{}:*", w.to_lowercase()))
        .collect();
    (!words.is_empty()).then(|| words.join(" & "))
}

#[derive(InputObject, Clone, Default, Debug)]
pub struct ExecutionFilter {
    pub requester: Option<Address>,
    pub agent_id: Option<BigInt>,
    pub developer: Option<Address>,
    pub status: Option<ExecutionStatus>,
    pub token: Option<Address>,
}

#[derive(InputObject, Clone, Default, Debug)]
pub struct PurchaseFilter {
    pub buyer: Option<Address>,
    pub agent_id: Option<BigInt>,
    /// Purchases of this developer's agents.
    pub developer: Option<Address>,
    pub token: Option<Address>,
}

#[derive(InputObject, Clone, Default, Debug)]
pub struct EntitlementFilter {
    pub holder: Option<Address>,
    pub agent_id: Option<BigInt>,
    /// Include spent-out credits (balance 0); default false.
    pub include_empty: Option<bool>,
}

#[derive(InputObject, Clone, Default, Debug)]
pub struct BalanceFilter {
    pub account: Option<Address>,
    pub token: Option<Address>,
    /// Include balances already withdrawn to zero; default false.
    pub include_empty: Option<bool>,
}

/// Newest or oldest first, for event-like listings.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, Default)]
pub enum Order {
    #[default]
    Newest,
    Oldest,
}

// ---------------------------------------------------------------- the root

pub struct QueryRoot;

#[Object]
impl QueryRoot {
    /// One agent by registry id.
    async fn agent(&self, ctx: &Context<'_>, id: BigInt) -> async_graphql::Result<Option<Agent>> {
        let sql = format!(
            "SELECT {AGENT_COLUMNS}, {AGENT_STATS_COLUMNS} FROM agents a
             LEFT JOIN agent_stats s ON s.agent_id = a.agent_id WHERE a.agent_id = $1::numeric"
        );
        let row: Option<AgentRow> =
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id.decimal()).fetch_optional(pool(ctx)?).await.db()?;
        Ok(row.map(Agent))
    }

    /// The catalog.
    #[graphql(complexity = "page_complexity(first, last, child_complexity)")]
    #[allow(clippy::too_many_arguments)]
    async fn agents(
        &self,
        ctx: &Context<'_>,
        filter: Option<AgentFilter>,
        sort: Option<AgentSort>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<Conn<Agent>> {
        let f = filter.unwrap_or_default();
        if let (Some(lo), Some(hi)) = (f.min_price, f.max_price)
            && lo > hi
        {
            return Err(bad_input("`minPrice` is greater than `maxPrice`"));
        }
        if f.search.as_ref().is_some_and(|s| s.chars().count() > MAX_SEARCH_CHARS) {
            return Err(bad_input(format!("`search` is at most {MAX_SEARCH_CHARS} characters")));
        }
        let query = f.search.as_deref().and_then(tsquery);
        let sort = sort.unwrap_or_default();
        let order = match sort {
            AgentSort::Newest => "a.registered_block DESC, a.agent_id DESC",
            AgentSort::Oldest => "a.registered_block ASC, a.agent_id ASC",
            AgentSort::PriceAsc => "a.price ASC, a.agent_id ASC",
            AgentSort::PriceDesc => "a.price DESC, a.agent_id DESC",
            AgentSort::Executions => "s.executions DESC, s.agent_id DESC",
            AgentSort::SuccessRate => "s.success_rate DESC NULLS LAST, s.agent_id DESC",
            AgentSort::Relevance if query.is_some() => "rank DESC, a.agent_id DESC",
            AgentSort::Relevance => "a.registered_block DESC, a.agent_id DESC",
        };
        let columns = match &query {
            Some(q) => format!(
                "{AGENT_COLUMNS}, {AGENT_STATS_COLUMNS}, ts_rank(a.search, to_tsquery('simple', '{}')) AS rank",
                q.replace('\'', "") // letters, digits, ':', '*', '&', ' ' only (see tsquery)
            ),
            None => format!("{AGENT_COLUMNS}, {AGENT_STATS_COLUMNS}"),
        };
        // The filter's Debug form names every field, so it identifies the listing's rows; the
        // search enters in its normalised form, so "Echo" and "echo!" share one entry.
        let count_key = format!("{:?} {query:?}", AgentFilter { search: None, ..f.clone() });
        let counts = ctx.data::<Notifier>()?.counts().clone();
        let from = Listing::catalog(counts, count_key, move |qb, counting| {
            // Every agent has a stats row (trigger on registration), so an inner join: the
            // executions and success-rate orders then walk agent_stats' indexes. Filters only
            // read `a`, so counting needs no join.
            if counting {
                qb.push("FROM agents a WHERE TRUE");
            } else {
                qb.push("FROM agents a JOIN agent_stats s ON s.agent_id = a.agent_id WHERE TRUE");
            }
            if let Some(c) = f.category {
                qb.push(" AND a.category = ").push_bind(c.as_str());
            }
            if let Some(s) = f.status {
                qb.push(" AND a.status = ").push_bind(s.as_str());
            }
            if let Some(t) = f.payment_token {
                qb.push(" AND a.payment_token = ").push_bind(t.bytes());
            }
            if let Some(d) = f.developer {
                qb.push(" AND a.developer = ").push_bind(d.bytes());
            }
            if let Some(p) = f.min_price {
                qb.push(" AND a.price >= ").push_bind(p.decimal()).push("::numeric");
            }
            if let Some(p) = f.max_price {
                qb.push(" AND a.price <= ").push_bind(p.decimal()).push("::numeric");
            }
            if let Some(q) = &query {
                qb.push(" AND a.search @@ to_tsquery('simple', ").push_bind(q.clone()).push(")");
            }
        });
        page(pool(ctx)?, PageArgs { after, before, first, last }, &columns, from, order, Agent).await
    }

    /// One execution by request id.
    async fn execution(&self, ctx: &Context<'_>, id: BigInt) -> async_graphql::Result<Option<Execution>> {
        let row = ExecutionRow::fetch(pool(ctx)?, id.0).await.db()?;
        Ok(row.map(|r| Execution(Arc::new(r))))
    }

    /// Executions, newest first by default.
    #[graphql(complexity = "page_complexity(first, last, child_complexity)")]
    #[allow(clippy::too_many_arguments)]
    async fn executions(
        &self,
        ctx: &Context<'_>,
        filter: Option<ExecutionFilter>,
        order: Option<Order>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<Conn<Execution>> {
        let f = filter.unwrap_or_default();
        let from = Listing::new(move |qb| {
            qb.push("FROM executions e WHERE TRUE");
            if let Some(a) = f.requester {
                qb.push(" AND e.requester = ").push_bind(a.bytes());
            }
            if let Some(id) = f.agent_id {
                qb.push(" AND e.agent_id = ").push_bind(id.decimal()).push("::numeric");
            }
            if let Some(a) = f.developer {
                qb.push(" AND e.developer = ").push_bind(a.bytes());
            }
            if let Some(s) = f.status {
                qb.push(" AND e.status = ").push_bind(s.as_str());
            }
            if let Some(t) = f.token {
                qb.push(" AND e.token = ").push_bind(t.bytes());
            }
        });
        let order = match order.unwrap_or_default() {
            Order::Newest => "e.request_id DESC",
            Order::Oldest => "e.request_id ASC",
        };
        page(pool(ctx)?, PageArgs { after, before, first, last }, EXECUTION_COLUMNS, from, order, |r| {
            Execution(Arc::new(r))
        })
        .await
    }

    /// One purchase by id (`<block number>-<log index>`).
    async fn purchase(&self, ctx: &Context<'_>, id: String) -> async_graphql::Result<Option<Purchase>> {
        let (block, log) = id
            .split_once('-')
            .and_then(|(b, l)| Some((b.parse::<i64>().ok()?, l.parse::<i64>().ok()?)))
            .ok_or_else(|| bad_input("a purchase id is `<block number>-<log index>`"))?;
        let sql = format!("SELECT {PURCHASE_COLUMNS} FROM purchases p WHERE p.block_number = $1 AND p.log_index = $2");
        let row: Option<PurchaseRow> =
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(block).bind(log).fetch_optional(pool(ctx)?).await.db()?;
        Ok(row.map(Purchase))
    }

    /// Purchases, newest first by default.
    #[graphql(complexity = "page_complexity(first, last, child_complexity)")]
    #[allow(clippy::too_many_arguments)]
    async fn purchases(
        &self,
        ctx: &Context<'_>,
        filter: Option<PurchaseFilter>,
        order: Option<Order>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<Conn<Purchase>> {
        let f = filter.unwrap_or_default();
        let from = Listing::new(move |qb| {
            qb.push("FROM purchases p WHERE TRUE");
            if let Some(a) = f.buyer {
                qb.push(" AND p.buyer = ").push_bind(a.bytes());
            }
            if let Some(id) = f.agent_id {
                qb.push(" AND p.agent_id = ").push_bind(id.decimal()).push("::numeric");
            }
            if let Some(a) = f.developer {
                qb.push(" AND p.agent_id IN (SELECT agent_id FROM agents WHERE developer = ")
                    .push_bind(a.bytes())
                    .push(")");
            }
            if let Some(t) = f.token {
                qb.push(" AND p.token = ").push_bind(t.bytes());
            }
        });
        let order = match order.unwrap_or_default() {
            Order::Newest => "p.block_number DESC, p.log_index DESC",
            Order::Oldest => "p.block_number ASC, p.log_index ASC",
        };
        page(pool(ctx)?, PageArgs { after, before, first, last }, PURCHASE_COLUMNS, from, order, Purchase).await
    }

    /// A holder's credits of one id (null if they never held any).
    async fn entitlement(
        &self,
        ctx: &Context<'_>,
        holder: Address,
        credit_id: BigInt,
    ) -> async_graphql::Result<Option<Entitlement>> {
        let sql = format!(
            "SELECT {ENTITLEMENT_COLUMNS} FROM entitlements n WHERE n.holder = $1 AND n.credit_id = $2::numeric"
        );
        let row: Option<EntitlementRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(holder.bytes())
            .bind(credit_id.decimal())
            .fetch_optional(pool(ctx)?)
            .await
            .db()?;
        Ok(row.map(Entitlement))
    }

    /// Credit balances, by agent then credit id.
    #[graphql(complexity = "page_complexity(first, last, child_complexity)")]
    async fn entitlements(
        &self,
        ctx: &Context<'_>,
        filter: Option<EntitlementFilter>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<Conn<Entitlement>> {
        let f = filter.unwrap_or_default();
        let from = Listing::new(move |qb| {
            qb.push("FROM entitlements n WHERE TRUE");
            if let Some(a) = f.holder {
                qb.push(" AND n.holder = ").push_bind(a.bytes());
            }
            if let Some(id) = f.agent_id {
                qb.push(" AND n.agent_id = ").push_bind(id.decimal()).push("::numeric");
            }
            if !f.include_empty.unwrap_or(false) {
                qb.push(" AND n.balance > 0");
            }
        });
        let order = "n.agent_id, n.credit_id, n.holder";
        page(pool(ctx)?, PageArgs { after, before, first, last }, ENTITLEMENT_COLUMNS, from, order, Entitlement).await
    }

    /// What the marketplace owes `account` in `token` (zero address: ETH); null if never credited.
    async fn withdrawable_balance(
        &self,
        ctx: &Context<'_>,
        token: Address,
        account: Address,
    ) -> async_graphql::Result<Option<WithdrawableBalance>> {
        let sql = format!("SELECT {BALANCE_COLUMNS} FROM balances b WHERE b.token = $1 AND b.account = $2");
        let row: Option<BalanceRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(token.bytes())
            .bind(account.bytes())
            .fetch_optional(pool(ctx)?)
            .await
            .db()?;
        Ok(row.map(WithdrawableBalance))
    }

    /// Withdrawable balances, by token then account.
    #[graphql(complexity = "page_complexity(first, last, child_complexity)")]
    async fn withdrawable_balances(
        &self,
        ctx: &Context<'_>,
        filter: Option<BalanceFilter>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<Conn<WithdrawableBalance>> {
        let f = filter.unwrap_or_default();
        let from = Listing::new(move |qb| {
            qb.push("FROM balances b WHERE TRUE");
            if let Some(a) = f.account {
                qb.push(" AND b.account = ").push_bind(a.bytes());
            }
            if let Some(t) = f.token {
                qb.push(" AND b.token = ").push_bind(t.bytes());
            }
            if !f.include_empty.unwrap_or(false) {
                qb.push(" AND b.credited > b.withdrawn");
            }
        });
        let order = "b.token, b.account";
        page(pool(ctx)?, PageArgs { after, before, first, last }, BALANCE_COLUMNS, from, order, WithdrawableBalance)
            .await
    }

    /// The indexer's progress against the chain.
    async fn indexer_status(&self, ctx: &Context<'_>) -> async_graphql::Result<IndexerStatus> {
        let state = ctx.data::<AppState>()?;
        let row: Option<(i64, Hash32, i64)> = sqlx::query_as(
            "SELECT block_number, block_hash::bytea, (extract(epoch FROM updated_at) * 1000)::bigint FROM chain_cursor",
        )
        .fetch_optional(&state.pool)
        .await
        .db()?;
        /// A status query must answer even when the node hangs.
        const HEAD_TIMEOUT: Duration = Duration::from_secs(2);
        let head = match &state.provider {
            Some(p) => match tokio::time::timeout(HEAD_TIMEOUT, p.get_block_number()).await {
                Ok(Ok(n)) => Some(n as i64),
                _ => None,
            },
            None => None,
        };
        let indexed = row.as_ref().map(|r| r.0);
        Ok(IndexerStatus {
            head,
            indexed_block: indexed,
            indexed_block_hash: row.as_ref().map(|r| Bytes32::from(r.1)),
            lag: head.zip(indexed).map(|(h, i)| (h - i).max(0)),
            updated_at: row.map(|r| DateTime(r.2)),
        })
    }
}
