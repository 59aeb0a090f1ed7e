//! `nexus relayer`: runs requested executions in locked-down containers and settles them
//! (nexus-relayer).
//!
//! Kept out of main.rs like `graphql`: the `[relayer]` table of the TOML file, overridden by
//! `NEXUS_RELAYER_*` variables and flags. The key comes from `NEXUS_RELAYER_KEY` (hex) or a
//! file (`--key-file`, `NEXUS_RELAYER_KEY_FILE`, or `key_file` in the TOML), never from the TOML
//! itself, so a configuration file can be shared without leaking the key.
//!
//! ```toml
//! [relayer]
//! key_file = "/run/secrets/relayer.key"  # hex private key holding RELAYER_ROLE only
//! concurrency = 4
//! lease_secs = 30
//! input_grace_secs = 30
//! settle_margin_secs = 15
//! memory_mib = 256
//! stdout_max_bytes = 1048576
//! max_attempts = 3                       # claims of one request (its relayer died) before it fails
//! warm_start = true                      # pre-start containers for agents that just succeeded
//! settle_resend_secs = 20                # resend a settle with bumped fees when not mined by then
//! status_addr = "127.0.0.1:9103"         # /health, /ready, /metrics
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// File holding the relayer's private key (hex).
    #[arg(long, env = "NEXUS_RELAYER_KEY_FILE")]
    key_file: Option<PathBuf>,
    /// Requests worked on at once.
    #[arg(long, env = "NEXUS_RELAYER_CONCURRENCY")]
    concurrency: Option<usize>,
    /// Where `/health`, `/ready` and `/metrics` are served.
    #[arg(long, env = "NEXUS_RELAYER_STATUS_ADDR")]
    status_addr: Option<String>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    key_file: Option<PathBuf>,
    concurrency: Option<usize>,
    lease_secs: Option<u64>,
    input_grace_secs: Option<u64>,
    settle_margin_secs: Option<u64>,
    memory_mib: Option<i64>,
    stdout_max_bytes: Option<usize>,
    max_attempts: Option<i32>,
    warm_start: Option<bool>,
    settle_resend_secs: Option<u64>,
    status_addr: Option<String>,
}

pub async fn run(
    args: Args,
    file: FileConfig,
    rpc_url: String,
    database_url: String,
    deployments_path: &Path,
) -> anyhow::Result<()> {
    let key_file = args.key_file.clone().or(file.key_file.clone());
    let key_hex = match (std::env::var("NEXUS_RELAYER_KEY"), key_file) {
        (Ok(hex), _) => hex,
        (Err(_), Some(path)) => {
            std::fs::read_to_string(&path).with_context(|| format!("reading the relayer key {}", path.display()))?
        }
        (Err(_), None) => anyhow::bail!("no relayer key: set NEXUS_RELAYER_KEY or NEXUS_RELAYER_KEY_FILE (--key-file)"),
    };
    let key = nexus_relayer::parse_key(&key_hex)?;
    let deployments = nexus_bindings::Deployments::load(deployments_path)?;
    let mut config = nexus_relayer::Config::local(deployments, rpc_url, database_url, key);
    if let Some(v) = args.concurrency.or(file.concurrency) {
        config.concurrency = v.max(1);
    }
    if let Some(v) = file.lease_secs {
        config.lease = Duration::from_secs(v.max(3));
    }
    if let Some(v) = file.input_grace_secs {
        config.input_grace = Duration::from_secs(v);
    }
    if let Some(v) = file.settle_margin_secs {
        config.settle_margin = Duration::from_secs(v);
    }
    if let Some(v) = file.memory_mib {
        config.limits.memory_bytes = v << 20;
    }
    if let Some(v) = file.stdout_max_bytes {
        config.limits.stdout_bytes = v;
    }
    if let Some(v) = file.max_attempts {
        config.max_attempts = v.max(1);
    }
    if let Some(v) = file.warm_start {
        config.warm_start = v;
    }
    if let Some(v) = file.settle_resend_secs {
        // Below a couple of seconds every slow block would trigger a replacement.
        config.chain.stuck_after = Duration::from_secs(v.max(2));
    }
    let status_addr = args.status_addr.or(file.status_addr).unwrap_or_else(|| "127.0.0.1:9103".into());
    tracing::info!(rpc = %config.rpc_url, owner = %config.owner, concurrency = config.concurrency, "starting relayer");
    let relayer = nexus_relayer::Relayer::connect(config).await?;
    let listener = tokio::net::TcpListener::bind(&status_addr)
        .await
        .with_context(|| format!("binding the status address {status_addr}"))?;
    tracing::info!(addr = %status_addr, "serving /health, /ready, /metrics");
    tokio::spawn(nexus_relayer::status::serve(listener, relayer.metrics(), std::future::pending()));
    relayer.run(crate::stop_requested()).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::FileConfig;

    /// The `[relayer]` table in the module docs is the reference users copy: it must parse,
    /// every key it shows must exist (unknown keys are refused), and the values must land.
    #[test]
    fn documented_table_parses() {
        let table = crate::documented_table(include_str!("relayer.rs"), "relayer");
        let file: FileConfig = toml::from_str(&table).expect("documented [relayer] table");
        assert_eq!(file.concurrency, Some(4));
        assert_eq!(file.warm_start, Some(true));
        assert_eq!(file.settle_resend_secs, Some(20));
        assert_eq!(file.max_attempts, Some(3));
        assert!(toml::from_str::<FileConfig>("no_such_option = 1").is_err(), "unknown keys are refused");
    }
}
