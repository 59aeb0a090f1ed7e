//! Running one agent container through the Docker Engine API (bollard).
//!
//! The container is hostile (`docs/ARCHITECTURE.md`, "The agent container contract"): every
//! limit is set here, none is left to the image.
//! Non-root `65534:65534` (a group too: with a user alone Docker puts a scratch image's process
//! in group 0), read-only root, a small `noexec` tmpfs on `/tmp`, all capabilities dropped,
//! `no-new-privileges`, no network, memory (no swap), CPU and pids caps, a wall clock, and caps
//! on what we read from stdout and stderr. The log driver is `none`: stderr is read from the
//! attach stream (cut into lines by [`crate::logs::LogSplitter`]), so a flooding container
//! cannot fill the host's disk with json logs. Pre-started containers ([`prestart`]) are pooled
//! by the relayer's warm pool (`warm.rs`).
//! The container is removed on every path (force-removed after a timeout or a cap).

use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::models::{ContainerCreateBody, HostConfig, HostConfigLogConfig};
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, CreateContainerOptionsBuilder, KillContainerOptionsBuilder,
    ListContainersOptionsBuilder, RemoveContainerOptionsBuilder, WaitContainerOptions,
};
use futures::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

pub use crate::error::DockerError;
pub use crate::logs::{LogLine, LogSplitter};

/// Resource limits for every container.
#[derive(Debug, Clone)]
pub struct Limits {
    pub memory_bytes: i64,
    /// CPU time in units of 1e-9 CPUs.
    pub nano_cpus: i64,
    pub pids: i64,
    /// Size of the `/tmp` tmpfs.
    pub tmpfs_bytes: u64,
    /// Bytes of stdout accepted: the output.
    pub stdout_bytes: usize,
    /// Bytes of stderr turned into log lines; the rest is dropped.
    pub log_bytes: usize,
    /// Log lines kept; the rest are dropped. Bounds the rows (and notifications) of an agent
    /// printing empty lines, which the byte cap alone would let reach one row per byte.
    pub log_lines: usize,
    /// Longest log line kept (longer ones are cut).
    pub log_line_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            // Enough for the catalog's agents on 16 MiB inputs; small enough that a handful of
            // concurrent hogs cannot pressure a small host.
            memory_bytes: 256 << 20,
            // One core: agents are single-threaded programs; a spinning one takes one core at most.
            nano_cpus: 1_000_000_000,
            // A static agent needs a few threads; 64 stops a fork bomb long before the host's limit.
            pids: 64,
            tmpfs_bytes: 16 << 20,
            // The default output cap.
            stdout_bytes: 1 << 20,
            // 256 KiB of log per run: plenty to debug, bounded for the database.
            log_bytes: 256 << 10,
            // About 128 bytes per line on average before the byte cap takes over.
            log_lines: 2048,
            log_line_bytes: 4096,
        }
    }
}

/// Why a run failed, as the metrics label it. Every failure but [`Failure::Engine`] is the
/// agent's (it settles as failure, refunding the requester); an engine failure is ours and
/// becomes a [`RelayerError::Docker`](crate::RelayerError::Docker), retried.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The pinned image is not present locally (or its id differs).
    #[error("image: {0}")]
    Image(String),
    #[error("wall-clock limit reached")]
    Timeout,
    #[error("out of memory")]
    OutOfMemory,
    #[error("output larger than the cap")]
    OutputTooLarge,
    #[error("exit code {0}")]
    ExitCode(i64),
    /// Exit 0 but stdout is not one JSON document.
    #[error("output is not one JSON document: {0}")]
    InvalidOutput(String),
    /// One JSON document that breaks the agent's declared output schema (or a declared schema
    /// that cannot be used); see [`crate::schema`].
    #[error("output does not match the agent's output schema: {0}")]
    OutputSchema(String),
    /// The engine refused or failed (inspect, create, attach, start, wait).
    #[error(transparent)]
    Engine(#[from] DockerError),
}

impl Failure {
    pub fn cause(&self) -> &'static str {
        match self {
            Failure::Image(_) => "image",
            Failure::Timeout => "timeout",
            Failure::OutOfMemory => "oom",
            Failure::OutputTooLarge => "output_too_large",
            Failure::ExitCode(_) => "exit_code",
            // The same cause as unparsable output: either way the agent broke its output contract.
            Failure::InvalidOutput(_) | Failure::OutputSchema(_) => "invalid_output",
            Failure::Engine(_) => "engine",
        }
    }
}

/// Connects to the local engine and negotiates the API version (Debian's Docker speaks 1.41,
/// bollard defaults to 1.53).
pub async fn connect() -> Result<Docker, DockerError> {
    let docker = Docker::connect_with_local_defaults().map_err(DockerError::api("connect"))?;
    docker.negotiate_version().await.map_err(DockerError::api("negotiate version"))
}

/// Time allowed on top of the wall clock for the engine calls around a run (inspect, create,
/// attach, start, kill, remove). A slow engine under load takes seconds; beyond this the run is
/// abandoned as a timeout and the container force-removed by name.
pub const ENGINE_SLACK: Duration = Duration::from_secs(20);

/// Bound on one kill or remove call: these normally take milliseconds; a hung one must not keep
/// the request (we observed a killed container whose remove never answered under heavy load).
const ENGINE_CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// Label naming the relayer group (one database) a container belongs to; see [`scope`].
pub const LABEL_SCOPE: &str = "agentnexus.relayer.scope";
/// Label naming the relayer process (`Config::owner`) that created a container.
pub const LABEL_OWNER: &str = "agentnexus.relayer.owner";
/// Label naming the request a container runs.
pub const LABEL_REQUEST: &str = "agentnexus.request";

/// One container run: what to run and the labels that let any relayer of the same group find
/// and remove it if its creator dies ([`orphans`]).
#[derive(Debug, Clone, Copy)]
pub struct RunSpec<'a> {
    /// Unique per run (request and attempt).
    pub name: &'a str,
    /// `sha256:<hex>`, the pinned image id.
    pub image_id: &'a str,
    pub stdin: &'a [u8],
    /// [`scope`] of the relayer's database.
    pub scope: &'a str,
    pub owner: &'a str,
    pub request_id: &'a str,
    pub verified: &'a VerifiedImages,
    /// Mounted read-only at `/run` (the egress socket goes in it; see [`crate::egress`]).
    /// `None`: egress is off and the container gets no mount.
    pub egress_dir: Option<&'a crate::egress::RunDir>,
}

/// Label of a pre-started container ([`prestart`]): unix seconds after which its owner will not
/// use it. Past that plus a grace any relayer on the host removes it, whatever its scope: an
/// expired pre-started container is wanted by nobody (its owner may be long dead, its database
/// gone with a test stack).
pub const LABEL_WARM_UNTIL: &str = "agentnexus.relayer.warm_until";
/// [`LABEL_REQUEST`] of a pre-started container: no request yet.
pub const WARM_REQUEST: &str = "warm";

/// A container created, attached and started ahead of its request: the agent is already
/// running and blocked reading stdin, so a request pays neither create nor start (the start, a
/// containerd shim plus runc, is most of a cold run's overhead: ~100 ms measured here). It is
/// used for one request only, exactly like a cold container; the wall clock starts when the
/// envelope is written.
pub struct Warm {
    id: String,
    attached: bollard::container::AttachContainerResults,
    /// The directory mounted at create time, handed to the run that takes this container.
    egress_dir: Option<crate::egress::RunDir>,
}

impl Warm {
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Keeps `dir` (mounted by [`prestart`]) with the container, for the run that takes it.
    pub fn with_egress_dir(mut self, dir: Option<crate::egress::RunDir>) -> Self {
        self.egress_dir = dir;
        self
    }

    /// The directory mounted at `/run`, now owned by the run (removed when it is dropped).
    pub fn take_egress_dir(&mut self) -> Option<crate::egress::RunDir> {
        self.egress_dir.take()
    }
}

impl std::fmt::Debug for Warm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Warm").field("id", &self.id).finish_non_exhaustive()
    }
}

/// Image ids already inspected and found locally. An image id is the hash of the image's
/// content, so once `sha256:<digest>` resolves to itself it always does: later runs skip the
/// inspect round trip. An image removed meanwhile shows up as a 404 from create, which forgets it.
#[derive(Debug, Default)]
pub struct VerifiedImages(std::sync::Mutex<std::collections::HashSet<String>>);

impl VerifiedImages {
    fn contains(&self, id: &str) -> bool {
        self.0.lock().is_ok_and(|set| set.contains(id))
    }

    fn insert(&self, id: &str) {
        if let Ok(mut set) = self.0.lock() {
            set.insert(id.to_string());
        }
    }

    fn forget(&self, id: &str) {
        if let Ok(mut set) = self.0.lock() {
            set.remove(id);
        }
    }
}

/// The relayer group's label value: a short hash of the database URL. Relayers sharing a
/// database (and so the claims table that says which containers are still wanted) share it;
/// relayers of other databases on the same Docker host (parallel test stacks, a second
/// deployment) have another and never remove each other's containers.
pub fn scope(database_url: &str) -> String {
    alloy::hex::encode(&alloy::primitives::keccak256(database_url.as_bytes())[..8])
}

/// A labelled container found by [`labelled`].
#[derive(Debug, Clone)]
pub struct Labelled {
    pub id: String,
    pub owner: String,
    pub request_id: String,
    /// Set on pre-started containers ([`LABEL_WARM_UNTIL`]).
    pub warm_until: Option<u64>,
}

/// Every container (running or not) carrying `label` (`key` or `key=value`).
pub async fn labelled(docker: &Docker, label: &str) -> Result<Vec<Labelled>, DockerError> {
    let filters: std::collections::HashMap<String, Vec<String>> =
        [("label".to_string(), vec![label.to_string()])].into_iter().collect();
    let options = ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
    let list = docker.list_containers(Some(options)).await.map_err(DockerError::api("list containers"))?;
    Ok(list
        .into_iter()
        .filter_map(|c| {
            let labels = c.labels.unwrap_or_default();
            Some(Labelled {
                id: c.id?,
                owner: labels.get(LABEL_OWNER)?.clone(),
                request_id: labels.get(LABEL_REQUEST)?.clone(),
                warm_until: labels.get(LABEL_WARM_UNTIL).and_then(|v| v.parse().ok()),
            })
        })
        .collect())
}

/// Force-removes a container (kills it if running); a container already gone is fine.
pub async fn remove(docker: &Docker, id: &str) -> Result<(), DockerError> {
    let options = RemoveContainerOptionsBuilder::default().force(true).build();
    match tokio::time::timeout(ENGINE_CALL_TIMEOUT, docker.remove_container(id, Some(options))).await {
        Ok(Ok(())) | Ok(Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. })) => Ok(()),
        Ok(Err(source)) => Err(DockerError::Api { call: "remove container", source }),
        Err(_) => Err(DockerError::TimedOut { call: "remove container" }),
    }
}

/// Runs `spec.image_id` with `spec.stdin`; stderr lines go to `logs`. Returns stdout on exit 0
/// with a JSON document, else why it failed. The container is removed in every case, and the
/// whole run is bounded by `wall_clock + ENGINE_SLACK`, so a stuck engine call can never keep a
/// request (and its claim) forever.
///
/// With `warm` (a [`prestart`]ed container of the same image), create and start are skipped.
pub async fn run(
    docker: &Docker,
    spec: &RunSpec<'_>,
    warm: Option<Warm>,
    limits: &Limits,
    wall_clock: Duration,
    logs: mpsc::Sender<LogLine>,
) -> Result<Vec<u8>, Failure> {
    let target = warm.as_ref().map_or_else(|| spec.name.to_string(), |w| w.id.clone());
    match tokio::time::timeout(wall_clock + ENGINE_SLACK, run_inner(docker, spec, warm, limits, wall_clock, logs)).await
    {
        Ok(result) => result,
        Err(_) => {
            tracing::warn!(
                container = target,
                "container run exceeded its wall clock plus engine slack; force-removing"
            );
            let remove = RemoveContainerOptionsBuilder::default().force(true).build();
            let _ = tokio::time::timeout(ENGINE_SLACK, docker.remove_container(&target, Some(remove))).await;
            Err(Failure::Timeout)
        }
    }
}

/// Creates, attaches and starts a container of `spec.image_id` with no request yet (labelled
/// [`WARM_REQUEST`], usable until `warm_until`); see [`Warm`]. Bounded by [`ENGINE_SLACK`].
pub async fn prestart(docker: &Docker, spec: &RunSpec<'_>, limits: &Limits, warm_until: u64) -> Result<Warm, Failure> {
    let started = tokio::time::timeout(ENGINE_SLACK, async {
        let id = create(docker, spec, limits, Some(warm_until)).await?;
        match attach_start(docker, &id).await {
            Ok(attached) => Ok(Warm { id, attached, egress_dir: None }),
            Err(f) => {
                let _ = remove(docker, &id).await;
                Err(f)
            }
        }
    })
    .await;
    match started {
        Ok(result) => result,
        Err(_) => {
            let remove = RemoveContainerOptionsBuilder::default().force(true).build();
            let _ = tokio::time::timeout(ENGINE_SLACK, docker.remove_container(spec.name, Some(remove))).await;
            Err(Failure::Engine(DockerError::TimedOut { call: "pre-start container" }))
        }
    }
}

async fn run_inner(
    docker: &Docker,
    spec: &RunSpec<'_>,
    warm: Option<Warm>,
    limits: &Limits,
    wall_clock: Duration,
    logs: mpsc::Sender<LogLine>,
) -> Result<Vec<u8>, Failure> {
    let begun = Instant::now();
    let (id, attached) = match warm {
        Some(w) => (w.id, w.attached), // its `egress_dir` was taken by the run
        None => {
            let id = create(docker, spec, limits, None).await?;
            match attach_start(docker, &id).await {
                Ok(attached) => (id, attached),
                Err(f) => {
                    let _ = remove(docker, &id).await;
                    return Err(f);
                }
            }
        }
    };
    let started_at = Instant::now();
    let result = drive(docker, &id, attached, spec.stdin, limits, wall_clock, logs).await;
    // Where a run's engine time goes (the benchmark and profiling read these; off by default).
    tracing::debug!(
        target: crate::TIMING_TARGET,
        create_start_us = started_at.duration_since(begun).as_micros() as u64,
        drive_us = started_at.elapsed().as_micros() as u64,
        "container phases"
    );
    // Removed in the background: the container has exited (or been killed) and everything we
    // need from it is read, so the settlement need not wait the tens of milliseconds a remove
    // takes. A relayer killed before the remove lands leaves it to the orphan sweep.
    let docker = docker.clone();
    tokio::spawn(async move {
        if let Err(e) = remove(&docker, &id).await {
            tracing::warn!(container = %id, error = %e, "removing the container failed");
        }
    });
    result
}

/// Creates the locked-down container (verifying the image first, once per image id).
async fn create(
    docker: &Docker,
    spec: &RunSpec<'_>,
    limits: &Limits,
    warm_until: Option<u64>,
) -> Result<String, Failure> {
    let image_id = spec.image_id;
    if !spec.verified.contains(image_id) {
        let inspected = docker.inspect_image(image_id).await.map_err(inspect_failure)?;
        if inspected.id.as_deref() != Some(image_id) {
            return Err(Failure::Image(format!(
                "local image id {:?} differs from the pinned {image_id}",
                inspected.id
            )));
        }
        spec.verified.insert(image_id);
    }
    let host = HostConfig {
        memory: Some(limits.memory_bytes),
        memory_swap: Some(limits.memory_bytes),
        nano_cpus: Some(limits.nano_cpus),
        pids_limit: Some(limits.pids),
        readonly_rootfs: Some(true),
        tmpfs: Some(
            [("/tmp".to_string(), format!("rw,noexec,nosuid,nodev,size={}", limits.tmpfs_bytes))].into_iter().collect(),
        ),
        cap_drop: Some(vec!["ALL".into()]),
        security_opt: Some(vec!["no-new-privileges".into()]),
        network_mode: Some("none".into()),
        log_config: Some(HostConfigLogConfig { typ: Some("none".into()), config: None }),
        // No `dns` either: with no network there is nothing to resolve with, and the proxy
        // resolves the names agents ask for.
        binds: spec.egress_dir.map(|dir| vec![dir.bind()]),
        ..Default::default()
    };
    let mut labels: std::collections::HashMap<String, String> =
        [(LABEL_SCOPE, spec.scope), (LABEL_OWNER, spec.owner), (LABEL_REQUEST, spec.request_id)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    if let Some(until) = warm_until {
        labels.insert(LABEL_WARM_UNTIL.to_string(), until.to_string());
    }
    let body = ContainerCreateBody {
        image: Some(image_id.to_string()),
        user: Some("65534:65534".into()),
        open_stdin: Some(true),
        stdin_once: Some(true),
        attach_stdin: Some(true),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        network_disabled: Some(true),
        env: spec
            .egress_dir
            .map(|_| vec![format!("{}={}", crate::egress::SOCKET_ENV, crate::egress::SOCKET_IN_CONTAINER)]),
        labels: Some(labels),
        host_config: Some(host),
        ..Default::default()
    };
    let options = CreateContainerOptionsBuilder::default().name(spec.name).build();
    let created = match docker.create_container(Some(options), body).await {
        Ok(created) => created,
        Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, message }) => {
            // The image went away since it was verified: the agent cannot run here.
            spec.verified.forget(image_id);
            return Err(Failure::Image(message));
        }
        Err(source) => return Err(Failure::Engine(DockerError::Api { call: "create container", source })),
    };
    Ok(created.id)
}

/// An image inspect that failed: a 404 means the pinned image is not on this host (the agent
/// cannot run here: the agent's failure); anything else is the engine's (retried), so an
/// engine that is down or restarting never refunds a request as if its image were missing.
fn inspect_failure(e: bollard::errors::Error) -> Failure {
    match e {
        bollard::errors::Error::DockerResponseServerError { status_code: 404, message } => Failure::Image(message),
        source => Failure::Engine(DockerError::Api { call: "inspect image", source }),
    }
}

/// Attaches to stdin, stdout and stderr (before the start, so no output is missed) and starts.
async fn attach_start(docker: &Docker, id: &str) -> Result<bollard::container::AttachContainerResults, Failure> {
    let attach = AttachContainerOptionsBuilder::default().stdin(true).stdout(true).stderr(true).stream(true).build();
    let begun = Instant::now();
    let attached = docker.attach_container(id, Some(attach)).await.map_err(DockerError::api("attach container"))?;
    let attached_at = Instant::now();
    docker.start_container(id, None).await.map_err(DockerError::api("start container"))?;
    tracing::debug!(
        target: crate::TIMING_TARGET,
        attach_us = attached_at.duration_since(begun).as_micros() as u64,
        start_us = attached_at.elapsed().as_micros() as u64,
        "container started"
    );
    Ok(attached)
}

async fn drive(
    docker: &Docker,
    id: &str,
    mut attached: bollard::container::AttachContainerResults,
    stdin: &[u8],
    limits: &Limits,
    wall_clock: Duration,
    logs: mpsc::Sender<LogLine>,
) -> Result<Vec<u8>, Failure> {
    // stdin is written concurrently with reading: an agent may start writing before it has
    // read everything, and a full pipe in both directions would deadlock.
    let mut input = attached.input;
    let stdin = stdin.to_vec();
    let writer = tokio::spawn(async move {
        let _ = input.write_all(&stdin).await;
        let _ = input.shutdown().await;
    });

    let reader = async {
        let mut stdout = Vec::new();
        let mut splitter = LogSplitter::new(limits);
        while let Some(item) = attached.output.next().await {
            match item {
                Ok(LogOutput::StdOut { message }) => {
                    tracing::trace!(bytes = message.len(), "stdout frame");
                    if stdout.len() + message.len() > limits.stdout_bytes {
                        return Err(Failure::OutputTooLarge);
                    }
                    stdout.extend_from_slice(&message);
                }
                Ok(LogOutput::StdErr { message }) => {
                    for line in splitter.push(&message) {
                        let _ = logs.send(line).await;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "attach stream ended with an error");
                    break;
                }
            }
        }
        if let Some(line) = splitter.finish() {
            let _ = logs.send(line).await;
        }
        Ok(stdout)
    };

    let waited = async {
        let mut wait = docker.wait_container(id, None::<WaitContainerOptions>);
        match wait.next().await {
            Some(Ok(r)) => Ok(r.status_code),
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(code),
            Some(Err(source)) => Err(Failure::Engine(DockerError::Api { call: "wait container", source })),
            None => Err(Failure::Engine(DockerError::WaitEnded)),
        }
    };

    // The output stream and the wait run side by side: both end with the container's exit,
    // and asking for the exit code only after the stream closed added a round trip to dockerd
    // (~8 ms) to every run. The first failure (a cap breach while reading) returns at once and
    // the container is killed below.
    let outcome = tokio::time::timeout(wall_clock, async { tokio::try_join!(reader, waited) }).await;
    writer.abort();
    let _ = writer.await;

    let kill = |docker: &Docker| {
        let docker = docker.clone();
        let id = id.to_string();
        async move {
            let options = KillContainerOptionsBuilder::default().signal("KILL").build();
            let _ = tokio::time::timeout(ENGINE_CALL_TIMEOUT, docker.kill_container(&id, Some(options))).await;
        }
    };
    let (stdout, code) = match outcome {
        Err(_) => {
            kill(docker).await;
            return Err(Failure::Timeout);
        }
        Ok(Err(f)) => {
            kill(docker).await;
            return Err(f);
        }
        Ok(Ok(v)) => v,
    };
    if code != 0 {
        let oom = docker
            .inspect_container(id, None)
            .await
            .ok()
            .and_then(|c| c.state)
            .and_then(|s| s.oom_killed)
            .unwrap_or(false);
        return Err(if oom { Failure::OutOfMemory } else { Failure::ExitCode(code) });
    }
    serde_json::from_slice::<serde_json::Value>(&stdout).map_err(|e| Failure::InvalidOutput(e.to_string()))?;
    Ok(stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_missing_image_is_the_agents_failure() {
        let missing = bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            message: "No such image: sha256:ab".into(),
        };
        assert!(matches!(inspect_failure(missing), Failure::Image(m) if m.contains("No such image")));
        // The engine down (its socket refusing) or failing must not look like a missing image.
        let refused = bollard::errors::Error::IOError {
            err: std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused"),
        };
        let failure = inspect_failure(refused);
        assert!(matches!(&failure, Failure::Engine(e) if e.is_retryable()), "{failure:?}");
        assert_eq!(failure.cause(), "engine");
        let broken = bollard::errors::Error::DockerResponseServerError { status_code: 500, message: "boom".into() };
        assert_eq!(inspect_failure(broken).cause(), "engine");
    }
}
