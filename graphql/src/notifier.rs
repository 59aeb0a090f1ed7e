//! The server's one database listener: PostgreSQL LISTEN/NOTIFY → [`Notifier`] → tokio
//! broadcast → every subscription (the `subscriptions` root) and the catalog count cache.
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
//!
//! It sits below the GraphQL roots and the shared state (which hold it) and above the model
//! (whose rows it loads), so neither the query root nor the subscription root imports the other.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nexus_store::ExecutionRow;
use nexus_store::codec::Uint256;
use nexus_store::notify::{AgentNotification, Channel, Notification};
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::broadcast;

use crate::count_cache::CountCache;
use crate::model::{AGENT_COLUMNS, AgentRow, LOG_COLUMNS, LogRow};

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
