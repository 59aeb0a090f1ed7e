//! The AgentNexus relayer: requested executions → locked-down containers → `settle` on-chain.
//!
//! The indexer records `ExecutionRequested` in PostgreSQL and NOTIFYs `nexus_executions`
//! (`nexus_store::Channel::Executions`); the
//! relayer wakes on that (and sweeps every [`Config::sweep_interval`], which also picks up
//! expired leases of crashed relayers), claims requests with a lease ([`db::claim`]), checks the
//! request on-chain and its input blob, runs the agent's pinned image ([`docker::run`]), stores
//! the output blob and settles ([`chain::Chain::settle`]). Every failure of the agent (bad input,
//! timeout, OOM, oversized or invalid output, non-zero exit) settles with `success = false`, so
//! the requester is refunded; failures of the relayer's own dependencies (database, node,
//! Docker engine) release the claim for a retry instead.
//!
//! Several relayers can share one database: claims never overlap, and a settle that finds the
//! request already closed counts as done.

pub mod chain;
pub mod db;
pub mod docker;
pub mod egress;
pub mod error;
pub mod logs;
mod proposals;
pub mod schema;
pub mod status;
mod warm;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use alloy::primitives::{B256, keccak256};
use alloy::signers::local::PrivateKeySigner;
use futures::TryFutureExt;
use nexus_bindings::Deployments;
use nexus_store::{Channel, ExecutionStatus, Outcome};
use sqlx::PgPool;
use sqlx::postgres::{PgListener, PgPoolOptions};
use tokio::sync::{Notify, Semaphore, mpsc, watch};

pub use chain::{Chain, ChainConfig, ChainError, Settled};
pub use docker::{Failure, Limits};
pub use error::{DockerError, RelayerError, RpcErrorKind};
pub use status::Metrics;
use warm::{WARM_GRACE_SECS, WARM_TTL, WarmSlot, discard, drop_warm, refill, take_warm};

/// Everything the relayer needs; [`Config::local`] gives defaults for the local stack.
#[derive(Debug, Clone)]
pub struct Config {
    pub rpc_url: String,
    pub database_url: String,
    pub deployments: Deployments,
    /// The relayer key (RELAYER_ROLE only). Never passed to a container.
    pub key: PrivateKeySigner,
    /// Name in `relayer_claims.owner`; unique per process.
    pub owner: String,
    /// Requests worked on at once.
    pub concurrency: usize,
    /// Claim lease; renewed every third of it while working.
    pub lease: Duration,
    /// Sweep for claimable requests this often even without a NOTIFY.
    pub sweep_interval: Duration,
    /// A missing input blob is waited for this long after the request before failing it (the
    /// requester may upload after requesting).
    pub input_grace: Duration,
    /// Time kept before the deadline for the settle transaction.
    pub settle_margin: Duration,
    /// A request claimed this many times (its relayer died each time) is settled as failure.
    pub max_attempts: i32,
    /// Retry delay after a relayer-side error (database, node, Docker engine).
    pub retry_delay: Duration,
    /// Keep pre-started containers (up to `WARM_DEPTH`, for `WARM_TTL` each) for an agent image
    /// whose last run succeeded ([`docker::Warm`]): a request then skips the container create
    /// and start. Off: every run creates and starts its own container.
    pub warm_start: bool,
    pub limits: Limits,
    pub chain: ChainConfig,
    /// The agents' egress proxy ([`egress`]); `None`: no agent gets a socket (every container
    /// has no network at all, as before issue 15).
    pub egress: Option<nexus_egress::EgressConfig>,
}

impl Config {
    pub fn local(
        deployments: Deployments,
        rpc_url: impl Into<String>,
        database_url: impl Into<String>,
        key: PrivateKeySigner,
    ) -> Self {
        Self {
            rpc_url: rpc_url.into(),
            database_url: database_url.into(),
            deployments,
            key,
            owner: format!("relayer-{}-{}", std::process::id(), unique()),
            // Two shared cores in development; containers are CPU-capped at one core each.
            concurrency: 4,
            // Long enough that renewals (every 10 s) survive a slow database; short enough that
            // a crashed relayer's requests are picked up well before typical deadlines.
            lease: Duration::from_secs(30),
            sweep_interval: Duration::from_secs(2),
            input_grace: Duration::from_secs(30),
            // A settle is one transaction; 15 s covers a few blocks plus a fee bump on a real chain.
            settle_margin: Duration::from_secs(15),
            max_attempts: 3,
            retry_delay: Duration::from_secs(2),
            warm_start: true,
            limits: Limits::default(),
            chain: ChainConfig::default(),
            // On: an agent whose content-addressed metadata lists nothing still gets no socket,
            // and the default budget and empty address allowlist are the safe ones.
            egress: Some(nexus_egress::EgressConfig::default()),
        }
    }
}

fn unique() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Parses a hex private key (with or without `0x`, surrounding whitespace ignored).
pub fn parse_key(hex: &str) -> Result<PrivateKeySigner, RelayerError> {
    hex.trim().parse().map_err(|_| RelayerError::Key)
}

/// `tracing` target of the per-run timing event (`claim_to_exit_us`, `run_us`), kept apart so a
/// benchmark or a profiler can subscribe to it alone.
pub const TIMING_TARGET: &str = "nexus_relayer::timing";

/// How often containers left by dead runs are looked for. A relayer killed mid-run leaves its
/// container behind (running, or exited and never removed); its lease expires within
/// [`Config::lease`], after which the container is unwanted. Every 10 s bounds how long such
/// leftovers hold memory and pids without listing containers on every claim.
const ORPHAN_SWEEP: Duration = Duration::from_secs(10);

struct Shared {
    /// Pre-started containers by image id (see [`Config::warm_start`]).
    warm: std::sync::Mutex<std::collections::HashMap<String, std::collections::VecDeque<WarmSlot>>>,
    /// Numbers pre-started containers' names.
    warm_seq: std::sync::atomic::AtomicU64,
    config: Config,
    /// [`docker::scope`] of our database: labels our containers, finds our group's orphans.
    scope: String,
    /// Image ids already inspected and found (content-addressed: the check never changes).
    verified: docker::VerifiedImages,
    pool: PgPool,
    chain: Chain,
    docker: bollard::Docker,
    metrics: Arc<Metrics>,
    shutdown: watch::Receiver<bool>,
    /// The egress proxy and run directories (see [`Config::egress`]).
    egress: Option<egress::Runtime>,
}

pub struct Relayer {
    shared: Arc<Shared>,
    shutdown_tx: watch::Sender<bool>,
}

impl Relayer {
    /// Connects to PostgreSQL (migrating), the node and Docker.
    pub async fn connect(config: Config) -> Result<Self, RelayerError> {
        let pool = PgPoolOptions::new()
            .max_connections((config.concurrency as u32) * 2 + 2)
            .connect(&config.database_url)
            .await?;
        nexus_store::migrate(&pool).await?;
        let c = &config.deployments.contracts;
        let chain = Chain::new(
            &config.rpc_url,
            config.key.clone(),
            c.agent_marketplace,
            c.agent_registry,
            config.chain.clone(),
        )?;
        let docker = docker::connect().await?;
        let (shutdown_tx, shutdown) = watch::channel(false);
        let metrics = Arc::new(Metrics::default());
        let scope = docker::scope(&config.database_url);
        let egress = config.egress.clone().map(egress::Runtime::new).transpose()?;
        Ok(Self {
            shared: Arc::new(Shared {
                warm: std::sync::Mutex::new(std::collections::HashMap::new()),
                warm_seq: std::sync::atomic::AtomicU64::new(0),
                config,
                scope,
                verified: docker::VerifiedImages::default(),
                pool,
                chain,
                docker,
                metrics,
                shutdown,
                egress,
            }),
            shutdown_tx,
        })
    }

    pub fn metrics(&self) -> Arc<Metrics> {
        self.shared.metrics.clone()
    }

    pub fn pool(&self) -> &PgPool {
        &self.shared.pool
    }

    /// Works until `shutdown` resolves, then stops claiming, lets jobs finish (a job that has not
    /// started its container releases its claim) and returns.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) -> Result<(), RelayerError> {
        let s = self.shared.clone();
        let mut listener = PgListener::connect_with(&s.pool).await?;
        listener.listen(Channel::Executions.name()).await?;
        s.metrics.ready.store(true, Ordering::Relaxed);
        let orphan_sweeper = {
            let s = s.clone();
            tokio::spawn(async move {
                loop {
                    match remove_orphans(&s).await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(removed = n, "removed containers of dead runs"),
                        Err(e) => tracing::warn!(error = %e, "looking for containers of dead runs failed"),
                    }
                    tokio::time::sleep(ORPHAN_SWEEP).await;
                }
            })
        };
        let slots = Arc::new(Semaphore::new(s.config.concurrency));
        let freed = Arc::new(Notify::new());
        tokio::pin!(shutdown);
        loop {
            // Fill every free slot.
            while let Ok(permit) = slots.clone().try_acquire_owned() {
                match db::claim(&s.pool, &s.config.owner, s.config.lease).await {
                    Ok(Some(claim)) => {
                        let (s, freed) = (s.clone(), freed.clone());
                        tokio::spawn(async move {
                            s.metrics.running.increment(1.0);
                            work(&s, claim).await;
                            s.metrics.running.decrement(1.0);
                            drop(permit);
                            freed.notify_one();
                        });
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "claim failed");
                        s.metrics.errors.increment(1);
                        break;
                    }
                }
            }
            if let Ok(depth) = db::queue_depth(&s.pool).await {
                s.metrics.queue_depth.set(depth as f64);
            }
            tokio::select! {
                _ = &mut shutdown => break,
                n = listener.recv() => {
                    if let Err(e) = n {
                        // PgListener reconnects on the next recv; do not spin meanwhile.
                        tracing::warn!(error = %e, "LISTEN connection lost");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
                _ = freed.notified() => {}
                _ = tokio::time::sleep(s.config.sweep_interval) => {}
            }
        }
        tracing::info!("relayer stopping: finishing running requests");
        s.metrics.ready.store(false, Ordering::Relaxed);
        let _ = self.shutdown_tx.send(true);
        let all = u32::try_from(s.config.concurrency).unwrap_or(u32::MAX);
        let _ = slots.acquire_many(all).await;
        orphan_sweeper.abort();
        // Pre-started containers are ours alone: remove them before returning.
        let slots: Vec<WarmSlot> =
            s.warm.lock().map(|mut m| m.drain().flat_map(|(_, v)| v).collect()).unwrap_or_default();
        for slot in slots {
            discard(&s, slot).await;
        }
        Ok(())
    }
}

/// Force-removes our group's containers whose creator no longer holds a live lease on their
/// request (it died, or gave the request up): their result can never be used, and another
/// relayer may be running the request again. Returns how many were removed.
///
/// Pre-started containers follow their own rule: ours are discarded once older than
/// [`WARM_TTL`]; anyone's (any scope: see [`docker::LABEL_WARM_UNTIL`]) are removed
/// [`WARM_GRACE_SECS`] after their `warm_until`.
async fn remove_orphans(s: &Shared) -> Result<usize, RelayerError> {
    let expired: Vec<WarmSlot> = s
        .warm
        .lock()
        .map(|mut m| {
            let mut old = Vec::new();
            for slots in m.values_mut() {
                // Oldest first: the expired ones are a prefix.
                while slots.front().is_some_and(|slot| slot.born.elapsed() >= WARM_TTL) {
                    old.extend(slots.pop_front());
                }
            }
            m.retain(|_, slots| !slots.is_empty());
            old
        })
        .unwrap_or_default();
    for slot in expired {
        discard(s, slot).await;
    }
    let mut removed = 0;
    for c in docker::labelled(&s.docker, docker::LABEL_WARM_UNTIL).await? {
        if c.warm_until.is_none_or(|until| until + WARM_GRACE_SECS < unix_now()) {
            tracing::info!(container = %c.id, owner = %c.owner, "removing an expired pre-started container");
            docker::remove(&s.docker, &c.id).await?;
            removed += 1;
        }
    }
    let scope = format!("{}={}", docker::LABEL_SCOPE, s.scope);
    for c in docker::labelled(&s.docker, &scope).await? {
        if c.request_id == docker::WARM_REQUEST {
            continue;
        }
        // A label we cannot read is still our group's container, and nobody can want it.
        let wanted = match c.request_id.parse::<alloy::primitives::U256>() {
            Ok(id) => db::holds_lease(&s.pool, id, &c.owner).await?,
            Err(_) => false,
        };
        if !wanted {
            tracing::info!(container = %c.id, owner = %c.owner, request = %c.request_id, "removing a dead run's container");
            docker::remove(&s.docker, &c.id).await?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Whether a job ends the request, hands it back, or lost it.
enum Step {
    Done(Outcome),
    Release {
        retry_after: Duration,
        uncount: bool,
    },
    /// The lease was taken over while the container ran (this relayer stalled past it): another
    /// relayer may be running the request, so the run was stopped and nothing is recorded.
    LeaseLost,
}

/// One claimed request, start to finish, with the lease renewed meanwhile.
async fn work(s: &Arc<Shared>, claim: db::Claim) {
    let span = tracing::info_span!("request", id = %claim.request_id, attempt = claim.attempt);
    let _ = tracing::Instrument::instrument(
        async {
            let (lost_tx, lost) = watch::channel(false);
            let renew = {
                let s = s.clone();
                tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(s.config.lease / 3).await;
                        match db::renew(&s.pool, claim, &s.config.owner, s.config.lease).await {
                            Ok(true) => {}
                            Ok(false) => {
                                tracing::warn!(request = %claim.request_id, "lease lost");
                                let _ = lost_tx.send(true);
                                // Keep the sender alive: `lost` must stay readable as lost.
                                std::future::pending::<()>().await;
                            }
                            Err(e) => tracing::warn!(error = %e, "lease renewal failed"),
                        }
                    }
                })
            };
            let step = match process(s, claim, lost).await {
                Ok(step) => step,
                Err(e) => {
                    // Not the request's fault, so not counted towards `max_attempts` (which is
                    // for requests whose relayers keep dying): it is retried until it succeeds
                    // or its deadline comes close, when it settles as a failure. Retryable or
                    // not, it is released: one that needs an operator (a revert we cannot
                    // explain, a refused transaction, bad data) may be fixed before the
                    // deadline, and it is logged as an error so that someone looks.
                    if e.is_retryable() {
                        tracing::warn!(error = %e, "request failed on the relayer side; releasing for a retry");
                    } else {
                        tracing::error!(error = %e, "request failed on the relayer side in a way that needs an operator; releasing for a retry");
                    }
                    s.metrics.errors.increment(1);
                    Step::Release { retry_after: s.config.retry_delay, uncount: true }
                }
            };
            renew.abort();
            let result = match &step {
                Step::Done(outcome) => {
                    s.metrics.outcome(&outcome.as_str());
                    tracing::info!(outcome = %outcome, "request done");
                    db::complete(&s.pool, claim, &s.config.owner, outcome).await
                }
                Step::Release { retry_after, uncount } => {
                    db::release(&s.pool, claim, &s.config.owner, *retry_after, *uncount).await
                }
                Step::LeaseLost => {
                    s.metrics.outcome("lease_lost");
                    Ok(())
                }
            };
            if let Err(e) = result {
                // The lease expires on its own; another sweep picks the request up.
                tracing::warn!(error = %e, "recording the claim's end failed");
            }
        },
        span,
    )
    .await;
}

/// `lost` turns true when the lease renewal finds the claim taken over.
async fn process(s: &Arc<Shared>, claim: db::Claim, mut lost: watch::Receiver<bool>) -> Result<Step, RelayerError> {
    let cfg = &s.config;
    let Some(e) = db::request(&s.pool, claim.request_id).await? else {
        // Rolled back by a reorg meanwhile: nothing to do until it is indexed again.
        return Ok(Step::Release { retry_after: cfg.retry_delay, uncount: true });
    };
    if e.status != ExecutionStatus::Requested {
        return Ok(Step::Done(Outcome::AlreadySettled));
    }
    // Independent reads, at once: each is a round trip, and they sit on every request's path
    // between the claim and the container start.
    let (open, chain_now, input, agent) = tokio::try_join!(
        s.chain.is_open(e.request_id).err_into::<RelayerError>(),
        s.chain.now().err_into(),
        db::blob(&s.pool, e.input_hash),
        s.chain.agent(e.agent_id).err_into(),
    )?;
    if !open {
        return Ok(Step::Done(Outcome::AlreadySettled));
    }
    let now = chain_now.max(unix_now());
    if now + cfg.settle_margin.as_secs() >= e.deadline() {
        // Too late to run; settle as failure while settling is still allowed.
        return settle(s, claim, &e, Err("deadline too close".into()), "deadline").await;
    }
    if claim.attempt > cfg.max_attempts {
        return settle(s, claim, &e, Err(format!("gave up after {} attempts", claim.attempt - 1)), "attempts").await;
    }
    let Some(input) = input else {
        if now < e.requested_at + cfg.input_grace.as_secs() {
            return Ok(Step::Release { retry_after: Duration::from_secs(1), uncount: true });
        }
        return settle(s, claim, &e, Err("input blob missing".into()), "input_missing").await;
    };
    if keccak256(&input) != e.input_hash {
        return settle(s, claim, &e, Err("input blob hash mismatch".into()), "input_hash").await;
    }
    let input_json: serde_json::Value = match serde_json::from_slice(&input) {
        Ok(v) => v,
        Err(err) => return settle(s, claim, &e, Err(format!("input is not JSON: {err}")), "input_invalid").await,
    };
    if *s.shutdown.borrow() {
        return Ok(Step::Release { retry_after: Duration::ZERO, uncount: true });
    }
    let left = Duration::from_secs(e.deadline().saturating_sub(now)).saturating_sub(cfg.settle_margin);
    let wall_clock = agent.max_duration.min(left);
    let envelope = serde_json::json!({
        "requestId": e.request_id.to_string(),
        "agentId": e.agent_id.to_string(),
        "requester": e.execution.requester.to_checksum(None),
        "input": input_json,
    });
    let stdin = serde_json::to_vec(&envelope).map_err(RelayerError::Envelope)?;
    let image = format!("sha256:{}", alloy::hex::encode(agent.image_digest));

    let (log_tx, log_rx) = mpsc::channel::<docker::LogLine>(256);
    let logger = tokio::spawn(write_logs(s.pool.clone(), claim, log_rx));
    // The egress session comes before any container: a listing naming a secret this operator
    // does not hold cannot run here, and is refunded without touching the engine.
    let mut serving = match start_egress(s, &e, &log_tx).await {
        Ok(serving) => serving,
        Err(err) => {
            let reason = format!("egress: {err}");
            let _ = log_tx.send(docker::LogLine::System(format!("[relayer] {reason}"))).await;
            drop(log_tx);
            let _ = logger.await;
            return settle(s, claim, &e, Err(reason), "egress_secret").await;
        }
    };
    let started = Instant::now();
    let name = format!("nexus-{}-r{}-a{}", cfg.owner, e.request_id, claim.attempt);
    let request_id = e.request_id.to_string();
    let spec = docker::RunSpec {
        name: &name,
        image_id: &image,
        stdin: &stdin,
        scope: &s.scope,
        owner: &cfg.owner,
        request_id: &request_id,
        verified: &s.verified,
        egress_dir: None,
    };
    let mut warm = if cfg.warm_start { take_warm(s, &image).await } else { None };
    if warm.is_some() {
        // Used one: have the next ready by the time the next request for this agent comes.
        refill(s, &image);
    }
    let container = warm.as_ref().map_or_else(|| name.clone(), |w| w.id().to_string());
    // A pre-started container brings the directory it was created with; a cold one gets its own.
    let egress_dir = match (&s.egress, warm.as_mut()) {
        (None, _) => None,
        (Some(_), Some(w)) => w.take_egress_dir(),
        (Some(rt), None) => Some(rt.dirs.create().map_err(RelayerError::EgressDir)?),
    };
    if let (Some(serving), Some(dir)) = (serving.as_mut(), &egress_dir)
        && let Err(err) = serving.bind(dir)
    {
        if let Some(w) = &warm {
            let _ = docker::remove(&s.docker, w.id()).await;
        }
        drop(log_tx);
        let _ = logger.await;
        return Err(RelayerError::EgressDir(err));
    }
    let spec = docker::RunSpec { egress_dir: egress_dir.as_ref(), ..spec };
    let lease_lost = async move {
        if lost.wait_for(|lost| *lost).await.is_err() {
            std::future::pending::<()>().await; // the renewal ended without losing the lease
        }
    };
    let run = tokio::select! {
        run = docker::run(&s.docker, &spec, warm, &cfg.limits, wall_clock, log_tx.clone()) => run,
        () = lease_lost => {
            // Its result could never be used, and the request may be running elsewhere now:
            // stop the container instead of letting it use its slot until its wall clock ends.
            tracing::warn!(container, "lease lost while the container ran; removing it");
            if let Err(e) = docker::remove(&s.docker, &container).await {
                tracing::warn!(container, error = %e, "removing the container failed; the orphan sweep will");
            }
            drop(serving);
            drop(log_tx);
            let _ = logger.await;
            return Ok(Step::LeaseLost);
        }
    };
    // The container has exited (or was killed): its proxy stops, its last calls are logged.
    if let Some(serving) = serving {
        serving.finish(&log_tx, &s.metrics).await;
    }
    drop(egress_dir);
    s.metrics.run_seconds.record(started.elapsed());
    // Read by the relayer benchmark (relayer.container_overhead_ms): claim → container exited.
    tracing::debug!(
        target: TIMING_TARGET,
        claim_to_exit_us = claim.claimed_at.elapsed().as_micros() as u64,
        run_us = started.elapsed().as_micros() as u64,
        "container exited"
    );
    // Exit 0 with one JSON document; it must also fit the agent's declared output schema.
    let run = match (run, &e.output_schema) {
        (Ok(stdout), Some(output_schema)) => schema::check(output_schema, &stdout).map(|()| stdout),
        (run, _) => run,
    };
    let run = run.and_then(|stdout| proposals::check(&stdout).map(|()| stdout));
    // Only an agent that just succeeded gets a pre-started container: a failing (or hostile)
    // one never has a process of ours running while no request needs it.
    match &run {
        Ok(_) => refill(s, &image),
        Err(_) => drop_warm(s, &image),
    }
    let result = match run {
        Ok(stdout) => Ok(stdout),
        Err(Failure::Engine(engine)) => {
            // The engine, not the agent, failed: retry rather than refund.
            drop(log_tx);
            let _ = logger.await;
            s.metrics.container_failure("engine");
            return Err(RelayerError::Docker(engine));
        }
        Err(f) => {
            tracing::info!(cause = f.cause(), error = %f, elapsed = ?started.elapsed(), "container run failed");
            s.metrics.container_failure(f.cause());
            let _ = log_tx.send(docker::LogLine::System(format!("[relayer] run failed: {f}"))).await;
            Err(f)
        }
    };
    drop(log_tx);
    let _ = logger.await;
    match result {
        Ok(stdout) => settle(s, claim, &e, Ok(stdout), "succeeded").await,
        Err(f) => {
            let cause = f.cause();
            settle(s, claim, &e, Err(f.to_string()), cause).await
        }
    }
}

/// The run's egress session (`None` when egress is off or the agent's policy allows nothing),
/// after telling the buyer in a system line why an agent has no network.
async fn start_egress(
    s: &Arc<Shared>,
    e: &db::Request,
    logs: &mpsc::Sender<docker::LogLine>,
) -> Result<Option<egress::Serving>, nexus_egress::SecretError> {
    let Some(rt) = &s.egress else {
        if e.metadata.network.is_some() {
            let line = "[relayer] egress: off on this relayer: no network".to_string();
            let _ = logs.send(docker::LogLine::System(line)).await;
        }
        return Ok(None);
    };
    let run = egress::policy(&e.metadata);
    if let Some(why) = run.none_because {
        let _ = logs.send(docker::LogLine::System(format!("[relayer] {why}"))).await;
        return Ok(None);
    }
    egress::Serving::start(&rt.proxy, run.policy, logs.clone(), s.metrics.clone()).map(Some)
}

/// Stores the output (on success) and settles. `label` names the outcome for metrics.
async fn settle(
    s: &Arc<Shared>,
    _claim: db::Claim,
    e: &db::Request,
    result: Result<Vec<u8>, String>,
    label: &str,
) -> Result<Step, RelayerError> {
    let (success, output_hash) = match &result {
        Ok(stdout) => (true, db::store_blob(&s.pool, stdout).await?),
        Err(reason) => {
            tracing::info!(reason, "settling as failure (refund)");
            (false, B256::ZERO)
        }
    };
    match s.chain.settle(e.request_id, &e.execution, success, output_hash).await? {
        Settled::Mined { tx, latency } => {
            s.metrics.settle_seconds.record(latency);
            tracing::info!(%tx, success, "settled");
            Ok(Step::Done(if success { Outcome::Succeeded } else { Outcome::Failed(label.to_string()) }))
        }
        Settled::AlreadyClosed => Ok(Step::Done(Outcome::AlreadySettled)),
        Settled::Expired => Ok(Step::Done(Outcome::Expired)),
    }
}

/// Batches stderr lines into `execution_logs`: one INSERT per [`LOG_BATCH`] lines or
/// [`LOG_FLUSH`], whichever comes first, so subscribers see lines live without a round trip per
/// line.
async fn write_logs(pool: PgPool, claim: db::Claim, mut rx: mpsc::Receiver<docker::LogLine>) {
    /// Lines per INSERT.
    const LOG_BATCH: usize = 200;
    /// Longest a line waits before it is written.
    const LOG_FLUSH: Duration = Duration::from_millis(100);
    let mut batch: Vec<(nexus_store::LogStream, String)> = Vec::new();
    let mut open = true;
    while open {
        let deadline = tokio::time::sleep(LOG_FLUSH);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                line = rx.recv() => match line {
                    Some(l) => {
                        batch.push(l.into_parts());
                        if batch.len() >= LOG_BATCH { break; }
                    }
                    None => { open = false; break; }
                },
                _ = &mut deadline => break,
            }
        }
        if !batch.is_empty() {
            if let Err(e) = db::append_logs(&pool, claim.request_id, claim.attempt, &batch).await {
                tracing::warn!(error = %e, "writing log lines failed");
            }
            batch.clear();
        }
    }
}
