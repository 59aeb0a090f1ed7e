//! A private PostgreSQL cluster per test.
//!
//! Each [`Postgres`] runs `initdb` into its own temporary directory under `target/postgres/`,
//! starts a server on a free localhost port with its Unix socket inside that directory, and stops
//! it (immediate shutdown) and deletes the directory on drop. No shared server, no state between
//! tests, nothing to clean up by hand. initdb takes under a second.
//!
//! The server refuses to run as root, so when the tests run as root (as on these machines) the
//! cluster directory is handed to the `postgres` OS user and the binaries run through `runuser`.
//! Binaries come from `PG_BIN` if set, else the newest `/usr/lib/postgresql/<v>/bin`
//! (`make setup` installs Debian's `postgresql`).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::repo_root;

/// Why a PostgreSQL cluster could not be brought up.
#[derive(Debug, thiserror::Error)]
pub enum PostgresError {
    #[error("PostgreSQL binaries not found (set PG_BIN or run `make setup`)")]
    NotInstalled,
    #[error("io error: {0}")]
    Io(#[from] std::io::Error),
    #[error("{step} failed ({status}):\n{output}")]
    Command { step: &'static str, status: std::process::ExitStatus, output: String },
}

/// A running private PostgreSQL cluster. Dropping it stops the server and removes its files.
pub struct Postgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    as_postgres_user: bool,
}

impl Postgres {
    /// initdb + start on a free port. Superuser `postgres`, trust authentication, UTF-8.
    pub fn start() -> Result<Self, PostgresError> {
        let bin = pg_bin().ok_or(PostgresError::NotInstalled)?;
        let parent = repo_root().join("target").join("postgres");
        std::fs::create_dir_all(&parent)?;
        let dir = tempfile::Builder::new().prefix("pg").tempdir_in(&parent)?;
        let as_postgres_user = is_root();
        if as_postgres_user {
            // The server must own its data directory; the path above it is world-traversable.
            run(Command::new("chown").args(["-R", "postgres:postgres"]).arg(dir.path()), "chown")?;
        }
        let data = dir.path().join("data");
        let pg = Self { bin, dir, port: free_port()?, as_postgres_user };
        let mut initdb = pg.command("initdb");
        initdb.arg("-D").arg(&data).args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]);
        run(&mut initdb, "initdb")?;
        let options = pg.server_options();
        let mut start = pg.command("pg_ctl");
        start.arg("-D").arg(&data).arg("-l").arg(pg.log_path()).args(["-o", &options, "-w", "start"]);
        run(&mut start, "pg_ctl start").map_err(|e| pg.with_log(e))?;
        Ok(pg)
    }

    /// `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> String {
        self.database_url("postgres")
    }

    /// The URL of database `name` on this cluster (create it first with [`Postgres::create_database`]).
    pub fn database_url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Creates an empty database and returns its URL.
    pub fn create_database(&self, name: &str) -> Result<String, PostgresError> {
        let mut cmd = self.command("createdb");
        cmd.args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "postgres", name]);
        run(&mut cmd, "createdb")?;
        Ok(self.database_url(name))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server log (useful when a test fails).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// Stops the server immediately (as a crash would); [`Postgres::restart`] brings it back
    /// with the same data.
    pub fn stop(&self) -> Result<(), PostgresError> {
        let mut stop = self.command("pg_ctl");
        stop.arg("-D").arg(self.dir.path().join("data")).args(["-m", "immediate", "-w", "stop"]);
        run(&mut stop, "pg_ctl stop")
    }

    /// Stops and starts the server on the same port and data.
    pub fn restart(&self) -> Result<(), PostgresError> {
        self.stop()?;
        let options = self.server_options();
        let mut start = self.command("pg_ctl");
        start
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .arg("-l")
            .arg(self.log_path())
            .args(["-o", &options, "-w", "start"]);
        run(&mut start, "pg_ctl start")
    }

    /// Test clusters trade durability for speed: a crash of the whole machine is not a test case
    /// (`pg_ctl stop -m immediate` still exercises crash recovery, which WAL replay covers).
    /// `synchronous_commit=off` also means a server crash ([`Postgres::stop`]) can take the
    /// last commits it acknowledged with it (those not yet flushed from the WAL buffers): the
    /// database goes back under its clients, as after a failover to a lagging replica. Kept on
    /// purpose: code that must survive that (the indexer re-reads its cursor) is tested by it.
    fn server_options(&self) -> String {
        format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
            self.port,
            self.dir.path().display()
        )
    }

    fn command(&self, tool: &str) -> Command {
        let path = self.bin.join(tool);
        if self.as_postgres_user {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(path);
            cmd
        } else {
            Command::new(path)
        }
    }

    fn with_log(&self, error: PostgresError) -> PostgresError {
        match error {
            PostgresError::Command { step, status, mut output } => {
                output.push_str(&std::fs::read_to_string(self.log_path()).unwrap_or_default());
                PostgresError::Command { step, status, output }
            }
            other => other,
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

fn run(cmd: &mut Command, step: &'static str) -> Result<(), PostgresError> {
    let output = cmd.output()?;
    if output.status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    Err(PostgresError::Command { step, status: output.status, output: text })
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

/// `PG_BIN`, else the highest-versioned `/usr/lib/postgresql/<v>/bin` holding `initdb`.
fn pg_bin() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("PG_BIN") {
        return Some(PathBuf::from(bin));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(Path::new("/usr/lib/postgresql"))
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}
