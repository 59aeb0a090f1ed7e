//! The agents' one way out (issue 15): a `nexus-egress` proxy session per execution, served on
//! a Unix socket that only that execution's container can see.
//!
//! Every container (cold or pre-started) gets its own host directory ([`RunDir`]) bind-mounted
//! read-only at `/run`; when its request is known the relayer binds `egress.sock` inside it and
//! serves the request's [`Session`] there, so the agent connects to `/run/egress.sock`
//! ([`SOCKET_IN_CONTAINER`], also given as `NEXUS_EGRESS_SOCKET`). The container keeps
//! `--network none` and gets no DNS: the proxy resolves names itself.
//!
//! Why a directory and not the socket itself: pre-started containers are created before their
//! request (and so its policy) is known, and a bind mount's source must exist at create time. A
//! directory mounted then and filled later works for both; read-only is enough, since
//! connecting to a socket is not a write to its file system (Linux's `EROFS` check applies to
//! regular files, directories and links only).
//!
//! Who can reach the socket: the per-relayer root ([`RunDirs`]) is mode 0700, so on the host
//! only the relayer's user (and root) can walk to any socket; inside, only the container that
//! mounts the directory sees it. The directory and the socket themselves are open to others
//! (0711, 0666) because the agent runs as uid 65534, which the relayer (not necessarily root)
//! cannot chown to.
//!
//! Policy source ([`policy`]): only content-addressed metadata may grant network access.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use nexus_egress::{CallRecord, Egress, Policy, SecretError, Session};
use tokio::net::UnixListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::db::AgentMetadata;
use crate::logs::LogLine;
use crate::status::Metrics;

/// Where the run directory is mounted in the container.
pub const MOUNT_POINT: &str = "/run";
/// The socket's name inside the run directory.
const SOCKET_NAME: &str = "egress.sock";
/// The socket as the agent sees it.
pub const SOCKET_IN_CONTAINER: &str = "/run/egress.sock";
/// The variable naming [`SOCKET_IN_CONTAINER`] in the container (read by `agent_io::http`).
pub const SOCKET_ENV: &str = "NEXUS_EGRESS_SOCKET";

/// Call records queued between the proxy and the log writer. A record that does not fit is
/// counted (and reported at the end of the run), never waited for: see `nexus_egress::record`.
const RECORD_QUEUE: usize = 256;

/// The relayer's egress: the proxy (operator config, TLS roots) and the run directories.
pub struct Runtime {
    pub proxy: Egress,
    pub dirs: RunDirs,
}

impl Runtime {
    pub fn new(config: nexus_egress::EgressConfig) -> Result<Self, crate::RelayerError> {
        let proxy = Egress::new(config, Arc::new(nexus_egress::SystemResolver))?;
        let dirs = RunDirs::new().map_err(crate::RelayerError::EgressDir)?;
        Ok(Self { proxy, dirs })
    }
}

/// The relayer's run directories: a private (0700) temporary root, removed with the relayer.
#[derive(Debug)]
pub struct RunDirs {
    root: tempfile::TempDir,
    seq: AtomicU64,
}

impl RunDirs {
    pub fn new() -> io::Result<Self> {
        // Short names: a Unix socket path holds at most 107 bytes.
        let root = tempfile::Builder::new().prefix("nexus-egress-").tempdir()?;
        set_mode(root.path(), 0o700)?;
        Ok(Self { root, seq: AtomicU64::new(0) })
    }

    /// A new, empty directory for one container.
    pub fn create(&self) -> io::Result<RunDir> {
        let path = self.root.path().join(self.seq.fetch_add(1, Ordering::Relaxed).to_string());
        std::fs::create_dir(&path)?;
        set_mode(&path, 0o711)?;
        Ok(RunDir { path })
    }
}

fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

/// One container's run directory; removed (with its socket) when dropped.
#[derive(Debug)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    /// The Docker bind of this directory at [`MOUNT_POINT`], read-only.
    pub fn bind(&self) -> String {
        format!("{}:{MOUNT_POINT}:ro", self.path.display())
    }

    pub fn socket(&self) -> PathBuf {
        self.path.join(SOCKET_NAME)
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.path)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(dir = %self.path.display(), error = %e, "removing an egress run directory failed");
        }
    }
}

/// The egress policy of a run, and what to tell the buyer when it is empty.
#[derive(Debug)]
pub struct RunPolicy {
    pub policy: Policy,
    /// Why the agent has no network (a system log line), if it has none.
    pub none_because: Option<String>,
}

/// The policy `metadata` grants. Only content-addressed metadata (`data:`) may carry one: the
/// curator approved the listing's document, and a mutable `https://` document could widen its
/// network access behind the registry's back. `ipfs://` would qualify once its bytes are checked
/// against the CID; the indexer fetches it through a gateway without that check today, so it
/// gets none too. Design rejected: trusting `ipfs://` because the name looks content-addressed
/// (a gateway can serve anything).
pub fn policy(metadata: &AgentMetadata) -> RunPolicy {
    let none = |why: String| RunPolicy { policy: Policy::none(), none_because: Some(why) };
    let Some(network) = &metadata.network else {
        return none("egress: the agent's metadata has no network section: no network".into());
    };
    let uri = metadata.uri.as_deref().unwrap_or("");
    if !uri.starts_with("data:") {
        let scheme = uri.split_once(':').map_or("unknown", |(scheme, _)| scheme);
        let why = if scheme == "ipfs" {
            "ipfs:// metadata is not verified against its CID here"
        } else {
            "only content-addressed (data:) metadata may grant network access"
        };
        return none(format!("egress: the agent's metadata is {scheme}: ({why}): no network"));
    }
    let parsed = serde_json::from_str(network)
        .map_err(|e| e.to_string())
        .and_then(|value: serde_json::Value| Policy::from_json(&value).map_err(|e| e.to_string()));
    match parsed {
        Ok(policy) if policy.rules.is_empty() => none("egress: the network section allows nothing: no network".into()),
        Ok(policy) => RunPolicy { policy, none_because: None },
        Err(e) => none(format!("egress: invalid network section ({e}): no network")),
    }
}

/// A run's proxy: its session (budget running from [`Serving::start`]) and, once the container
/// is known, the task serving it on the container's socket. Serves until [`Serving::finish`] or
/// until dropped: every early return and panic aborts it, so an agent never keeps a proxy after
/// its run.
pub struct Serving {
    session: Session,
    serve: Option<JoinHandle<()>>,
    drain: Option<JoinHandle<()>>,
}

impl Serving {
    /// The session for `policy`; each call will be a system line on `logs` and counted in
    /// `metrics`. Fails when the policy names a secret the operator does not hold (the listing
    /// cannot run here), before any container is touched.
    pub fn start(
        egress: &Egress,
        policy: Policy,
        logs: mpsc::Sender<LogLine>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, SecretError> {
        let (tx, mut records) = mpsc::channel::<CallRecord>(RECORD_QUEUE);
        let session = egress.session(policy, tx)?;
        let drain = tokio::spawn(async move {
            while let Some(record) = records.recv().await {
                metrics.egress_call(&record);
                let _ = logs.send(LogLine::System(format!("[relayer] {record}"))).await;
            }
        });
        Ok(Self { session, serve: None, drain: Some(drain) })
    }

    /// Binds `dir`'s socket (reachable by the container's uid) and serves the session on it.
    pub fn bind(&mut self, dir: &RunDir) -> io::Result<()> {
        let path = dir.socket();
        let listener = UnixListener::bind(&path)?;
        set_mode(&path, 0o666)?;
        let session = self.session.clone();
        self.serve = Some(tokio::spawn(async move {
            if let Err(e) = session.serve(listener).await {
                tracing::warn!(error = %e, "egress socket stopped accepting");
            }
        }));
        Ok(())
    }

    /// Stops serving (the container has exited) and writes the remaining records; returns how
    /// many records the proxy could not queue (also written as a line and counted).
    pub async fn finish(mut self, logs: &mpsc::Sender<LogLine>, metrics: &Metrics) -> u64 {
        if let Some(serve) = self.serve.take() {
            serve.abort();
            let _ = serve.await;
        }
        let dropped = self.session.dropped_records();
        // The record sender lives in the session: once the last clone is gone (the serving
        // task's went with it), the drain sees the channel close after the last record.
        let drain = self.drain.take();
        drop(self);
        if let Some(drain) = drain {
            let _ = drain.await;
        }
        if dropped > 0 {
            metrics.egress_dropped_records.increment(dropped);
            let line = format!("[relayer] egress: {dropped} calls not recorded (the log queue was full)");
            let _ = logs.send(LogLine::System(line)).await;
        }
        dropped
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        if let Some(serve) = &self.serve {
            serve.abort();
        }
        if let Some(drain) = &self.drain {
            drain.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(uri: &str, network: Option<&str>) -> AgentMetadata {
        AgentMetadata { uri: Some(uri.into()), network: network.map(Into::into) }
    }

    const NETWORK: &str =
        r#"{"rules":[{"scheme":"https","host":"api.example","methods":["GET"],"pathPrefixes":["/v1"]}]}"#;

    #[test]
    fn only_data_metadata_grants_network() {
        let granted = policy(&meta("data:application/json,{}", Some(NETWORK)));
        assert_eq!(granted.none_because, None);
        assert_eq!(granted.policy.rules.len(), 1);
        for uri in ["https://agents.example/meta.json", "ipfs://bafy/meta.json", "http://x"] {
            let refused = policy(&meta(uri, Some(NETWORK)));
            assert_eq!(refused.policy, Policy::none(), "{uri}");
            let why = refused.none_because.expect("a reason");
            assert!(why.contains("no network") && why.contains(uri.split(':').next().unwrap_or("")), "{why}");
        }
    }

    #[test]
    fn a_missing_or_invalid_section_gives_none_with_the_reason() {
        let missing = policy(&meta("data:,{}", None));
        assert_eq!(missing.policy, Policy::none());
        assert!(missing.none_because.is_some_and(|w| w.contains("no network section")));
        let invalid = policy(&meta(
            "data:,{}",
            Some(r#"{"rules":[{"scheme":"https","host":"10.0.0.1","methods":["GET"],"pathPrefixes":["/"]}]}"#),
        ));
        assert_eq!(invalid.policy, Policy::none());
        assert!(invalid.none_because.is_some_and(|w| w.contains("invalid network section")));
        let empty = policy(&meta("data:,{}", Some(r#"{"rules":[]}"#)));
        assert!(empty.none_because.is_some_and(|w| w.contains("allows nothing")));
    }

    #[tokio::test]
    async fn run_directories_are_private_and_removed() {
        use std::os::unix::fs::PermissionsExt;
        let dirs = RunDirs::new().expect("root");
        let mode = |p: &Path| std::fs::metadata(p).map(|m| m.permissions().mode() & 0o777).expect("stat");
        assert_eq!(mode(dirs.root.path()), 0o700);
        let dir = dirs.create().expect("dir");
        assert_eq!(mode(&dir.path), 0o711);
        assert!(dir.bind().ends_with(":/run:ro"), "{}", dir.bind());
        let egress = Egress::new(Default::default(), Arc::new(nexus_egress::SystemResolver)).expect("egress");
        let (logs, mut lines) = mpsc::channel(16);
        let metrics = Arc::new(Metrics::default());
        let mut serving = Serving::start(&egress, Policy::none(), logs.clone(), metrics.clone()).expect("session");
        serving.bind(&dir).expect("serves");
        assert_eq!(mode(&dir.socket()), 0o666);
        // A call is refused (no policy) and reaches the log as a system line.
        let answer = tokio::task::spawn_blocking({
            let socket = dir.socket();
            move || {
                use std::io::{Read, Write};
                let mut s = std::os::unix::net::UnixStream::connect(socket)?;
                s.write_all(b"GET https://api.example/v1 HTTP/1.1\r\nHost: api.example\r\n\r\n")?;
                let mut text = String::new();
                s.read_to_string(&mut text)?;
                io::Result::Ok(text)
            }
        })
        .await
        .expect("joins")
        .expect("answered");
        assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
        assert_eq!(serving.finish(&logs, &metrics).await, 0);
        let line = lines.recv().await.expect("a record line");
        assert!(
            matches!(&line, LogLine::System(l) if l.contains("egress GET api.example/v1 -> refused 403")),
            "{line:?}"
        );
        let path = dir.path.clone();
        drop(dir);
        assert!(!path.exists(), "removed with its socket");
    }
}
