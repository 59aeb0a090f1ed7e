//! The subscription root: live updates over graphql-transport-ws.
//!
//! Every subscription reads the [`Notifier`]'s broadcast (one database listener per server, see
//! [`crate::notifier`]) and filters it itself; a subscriber that lags skips ahead instead of
//! slowing the others. Notifications only fire at commit, so a subscriber never sees a change the
//! database does not have; on a reorg, execution subscriptions re-read their row and emit it if
//! it changed.

use std::sync::Arc;

use async_graphql::{Context, Subscription};
use futures::{Stream, StreamExt};
use sqlx::PgPool;
use tokio::sync::broadcast;

use crate::error::{DbResult, bad_input};
use crate::model::{Agent, Execution, ExecutionLog, LOG_COLUMNS, LogRow, require_requester};
use crate::notifier::{Event, Notifier};
use crate::scalars::{Address, BigInt};
use nexus_store::ExecutionRow;

/// The broadcast as a stream; a lagging subscriber skips what it missed.
fn receiver_stream(rx: broadcast::Receiver<Event>) -> impl Stream<Item = Event> + Send {
    futures::stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(e) => return Some((e, rx)),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(skipped = n, "subscriber lagging; events skipped");
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
}

pub struct SubscriptionRoot;

#[Subscription]
impl SubscriptionRoot {
    /// The execution now, then again every time it changes (settled, reclaimed, rolled back).
    async fn execution_updated(
        &self,
        ctx: &Context<'_>,
        id: BigInt,
    ) -> async_graphql::Result<impl Stream<Item = Execution> + use<>> {
        let notifier = ctx.data::<Notifier>()?;
        let pool = ctx.data::<PgPool>()?.clone();
        // Subscribe before reading the current state, so no change can fall in between.
        let rx = notifier.subscribe();
        let current = ExecutionRow::fetch(&pool, id.0).await.db()?.map(Arc::new);
        let key = id.0;
        let last = Arc::new(std::sync::Mutex::new(current.as_ref().map(|r| r.status)));
        let initial = futures::stream::iter(current.map(Execution));
        let updates = receiver_stream(rx).filter_map(move |event| {
            let (pool, last) = (pool.clone(), last.clone());
            async move {
                let row = match event {
                    Event::Execution(row) if row.request_id == key => Some(row),
                    Event::Reorg => {
                        let row = ExecutionRow::fetch(&pool, key).await.ok()??;
                        let mut seen = last.lock().ok()?;
                        if *seen == Some(row.status) {
                            return None;
                        }
                        *seen = Some(row.status);
                        return Some(Execution(Arc::new(row)));
                    }
                    _ => None,
                }?;
                if let Ok(mut seen) = last.lock() {
                    *seen = Some(row.status);
                }
                Some(Execution(row))
            }
        });
        Ok(initial.chain(updates))
    }

    /// The execution's log lines: those already written, then new ones as the relayer appends
    /// them. Requester only (sign in; pass the token in the `connection_init` payload).
    async fn execution_logs(
        &self,
        ctx: &Context<'_>,
        id: BigInt,
    ) -> async_graphql::Result<impl Stream<Item = ExecutionLog> + use<>> {
        let notifier = ctx.data::<Notifier>()?;
        let pool = ctx.data::<PgPool>()?.clone();
        let rx = notifier.subscribe();
        let row = ExecutionRow::fetch(&pool, id.0).await.db()?.ok_or_else(|| bad_input("no such execution"))?;
        require_requester(ctx, row.requester)?;
        /// Backlog sent on subscribe; the rest is available through `Execution.logs`.
        const BACKLOG: i64 = 1000;
        let sql = format!(
            "SELECT * FROM (SELECT {LOG_COLUMNS} FROM execution_logs l WHERE l.request_id = $1::numeric
             ORDER BY l.attempt DESC, l.seq DESC LIMIT $2) t ORDER BY attempt, seq"
        );
        let backlog: Vec<LogRow> =
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id.decimal()).bind(BACKLOG).fetch_all(&pool).await.db()?;
        let mut high = backlog.last().map(|r| (r.attempt, r.seq));
        let key = id.0;
        let initial = futures::stream::iter(backlog.into_iter().map(ExecutionLog::from));
        let updates = receiver_stream(rx).flat_map(move |event| {
            let mut out = Vec::new();
            if let Event::Logs(lines) = event {
                // Lines at or below the backlog's last one were already sent.
                for line in lines.iter().filter(|l| l.request_id.0 == key) {
                    if high.is_none_or(|h| (line.attempt, line.seq) > h) {
                        high = Some((line.attempt, line.seq));
                        out.push(ExecutionLog::from(line.clone()));
                    }
                }
            }
            futures::stream::iter(out)
        });
        Ok(initial.chain(updates))
    }

    /// Every change to any execution of `requester` (new requests, settlements, reclaims).
    async fn requester_executions(
        &self,
        ctx: &Context<'_>,
        requester: Address,
    ) -> async_graphql::Result<impl Stream<Item = Execution> + use<>> {
        let rx = ctx.data::<Notifier>()?.subscribe();
        let who = requester.0;
        Ok(receiver_stream(rx).filter_map(move |event| {
            let out = match event {
                Event::Execution(row) if row.requester == who => Some(Execution(row)),
                _ => None,
            };
            async move { out }
        }))
    }

    /// Agents as they are registered or changed (terms, status, resolved metadata); `id`
    /// narrows to one agent.
    async fn agent_updated(
        &self,
        ctx: &Context<'_>,
        id: Option<BigInt>,
    ) -> async_graphql::Result<impl Stream<Item = Agent> + use<>> {
        let rx = ctx.data::<Notifier>()?.subscribe();
        let key = id.map(|i| i.0);
        Ok(receiver_stream(rx).filter_map(move |event| {
            let out = match event {
                Event::Agent(row) if key.is_none_or(|k| k == row.agent_id()) => Some(Agent((*row).clone())),
                _ => None,
            };
            async move { out }
        }))
    }
}
