//! Live updates: PostgreSQL LISTEN/NOTIFY → one listener per server → tokio broadcast → every
//! subscription.
//!
//! Why one listener: a `LISTEN` holds a database connection for as long as it lives; one per
//! websocket client would let clients exhaust the database's connections. The listener task also
//! loads the changed row once per notification, so a thousand subscribers to the same requester
//! cost one query, not a thousand. Subscribers filter the broadcast themselves; a subscriber that
//! falls more than [`CHANNEL_CAPACITY`] events behind skips ahead (logged) instead of slowing
//! the others.
//!
//! Notifications only fire at commit, so a subscriber never sees a change the database does not
//! have. A reorg rolls rows back without per-row notifications (`nexus_reorg` only): execution
//! subscriptions re-read their row on a reorg and emit it if it changed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_graphql::{Context, Subscription};
use futures::{Stream, StreamExt};
use nexus_store::codec::Uint256;
use nexus_store::notify::{AgentNotification, Channel, Notification};
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::broadcast;

use crate::count_cache::CountCache;
use crate::error::{DbResult, bad_input};
use crate::model::{AGENT_COLUMNS, Agent, AgentRow, Execution, ExecutionLog, LOG_COLUMNS, LogRow, require_requester};
use crate::scalars::{Address, BigInt};
use nexus_store::ExecutionRow;

/// Events buffered per subscriber before it is considered lagging. A settlement burst of a busy
/// block (hundreds of executions) fits; a stalled client does not hold memory unboundedly.
pub const CHANNEL_CAPACITY: usize = 4096;

/// Channels the listener follows: the indexer's, plus [`Channel::ExecutionLogs`] and
/// [`Channel::AgentMetadata`] from the migrations' triggers (on `execution_logs` and `agents`).
const CHANNELS: &[Channel] = &[
    Channel::Executions,
    Channel::Agents,
    Channel::AgentMetadata,
    Channel::Blocks,
    Channel::Reorg,
    Channel::ExecutionLogs,
];

/// Channels announcing a change to some agent row, which may change a catalog count.
const CATALOG_CHANNELS: &[Channel] = &[Channel::Agents, Channel::AgentMetadata, Channel::Reorg];

/// A committed change, with the changed row already loaded.
#[derive(Clone, Debug)]
pub enum Event {
    Execution(Arc<ExecutionRow>),
    Agent(Arc<AgentRow>),
    /// Lines one INSERT added to one attempt's log, in order.
    Logs(Arc<Vec<LogRow>>),
    Block(i64),
    Reorg,
}

/// The fan-out point. Cloning shares it.
#[derive(Clone)]
pub struct Notifier {
    tx: broadcast::Sender<Event>,
    connected: Arc<AtomicBool>,
    counts: Arc<CountCache>,
}

impl Default for Notifier {
    fn default() -> Self {
        Self::new()
    }
}

impl Notifier {
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(CHANNEL_CAPACITY);
        Notifier { tx, connected: Arc::new(AtomicBool::new(false)), counts: Arc::default() }
    }

    /// Catalog counts, invalidated by this listener's notifications.
    pub fn counts(&self) -> &Arc<CountCache> {
        &self.counts
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }

    /// Whether the LISTEN connection is up (part of `/ready`).
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    /// Subscribers currently attached.
    pub fn subscribers(&self) -> usize {
        self.tx.receiver_count()
    }

    /// Listens until `shutdown`; reconnects with backoff when the connection drops.
    pub async fn run(self, pool: PgPool, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut backoff = Duration::from_millis(100);
        loop {
            let listener = async {
                let mut l = PgListener::connect_with(&pool).await?;
                l.listen_all(CHANNELS.iter().map(|c| c.name())).await?;
                Ok::<_, sqlx::Error>(l)
            };
            let mut listener = tokio::select! {
                _ = &mut shutdown => return,
                l = listener => match l {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "LISTEN failed");
                        tokio::select! {
                            _ = &mut shutdown => return,
                            _ = tokio::time::sleep(backoff) => {}
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                        continue;
                    }
                },
            };
            self.connected.store(true, Ordering::Relaxed);
            self.counts.set_live(true);
            backoff = Duration::from_millis(100);
            tracing::info!("listening for database notifications");
            loop {
                let n = tokio::select! {
                    _ = &mut shutdown => {
                        self.counts.set_live(false);
                        return;
                    }
                    n = listener.recv() => n,
                };
                match n {
                    Ok(n) => {
                        if CATALOG_CHANNELS.iter().any(|c| c.name() == n.channel()) {
                            self.counts.invalidate();
                        }
                        if let Some(event) = load(&pool, n.channel(), n.payload()).await {
                            // No receivers is fine: nobody is subscribed right now.
                            let _ = self.tx.send(event);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "notification connection lost; reconnecting");
                        self.connected.store(false, Ordering::Relaxed);
                        self.counts.set_live(false);
                        break;
                    }
                }
            }
        }
    }
}

/// The row a notification names, loaded once for every subscriber.
async fn load(pool: &PgPool, channel: &str, payload: &str) -> Option<Event> {
    let notification = match Notification::parse(channel, payload) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(channel, payload, error = %e, "unreadable notification");
            return None;
        }
    };
    let result = match notification {
        Notification::Execution(n) => {
            ExecutionRow::fetch(pool, n.request_id).await.map(|r| r.map(|r| Event::Execution(Arc::new(r))))
        }
        Notification::Agent(AgentNotification { agent_id })
        | Notification::AgentMetadata(AgentNotification { agent_id }) => {
            let sql = format!("SELECT {AGENT_COLUMNS} FROM agents a WHERE a.agent_id = $1::numeric");
            sqlx::query_as::<_, AgentRow>(sqlx::AssertSqlSafe(sql))
                .bind(Uint256(agent_id))
                .fetch_optional(pool)
                .await
                .map(|r| r.map(|r| Event::Agent(Arc::new(r))))
        }
        Notification::ExecutionLogs(n) => {
            /// Lines loaded per notification; the relayer writes at most 200 per INSERT.
            const MAX_LINES: i64 = 1000;
            let last = n.last().min(n.seq.saturating_add(MAX_LINES - 1));
            let sql = format!(
                "SELECT {LOG_COLUMNS} FROM execution_logs l
                 WHERE l.request_id = $1::numeric AND l.attempt = $2 AND l.seq BETWEEN $3 AND $4
                 ORDER BY l.seq"
            );
            sqlx::query_as::<_, LogRow>(sqlx::AssertSqlSafe(sql))
                .bind(Uint256(n.request_id))
                .bind(n.attempt)
                .bind(n.seq)
                .bind(last)
                .fetch_all(pool)
                .await
                .map(|rows| (!rows.is_empty()).then(|| Event::Logs(Arc::new(rows))))
        }
        Notification::Block(n) => Ok(i64::try_from(n.block).ok().map(Event::Block)),
        Notification::Reorg(_) => Ok(Some(Event::Reorg)),
        // Not listened to (nothing here shows balances live).
        Notification::Balance(_) => Ok(None),
    };
    match result {
        Ok(event) => event,
        Err(e) => {
            tracing::warn!(channel, error = %e, "could not load the notified row");
            None
        }
    }
}

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
