//! `nexus relayer`: runs requested executions in locked-down containers and settles them
//! (nexus-relayer).
//!
//! Configured by [`RelayerSettings`] (the `[relayer]` table, `NEXUS_RELAYER_*`, the
//! subcommand's flags; every key with its default is in `nexus.example.toml`). The key holds
//! RELAYER_ROLE only; give it as a file (`key_file`, `NEXUS_RELAYER_KEY_FILE`, `--key-file`), or
//! as `NEXUS_RELAYER_KEY` for development. The agents' egress proxy is the nested
//! `[relayer.egress]` table ([`egress::EgressSettings`]).

mod egress;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::config::secret::{self, Secret};
use crate::config::{ConfigError, Section, Settings};
pub use egress::EgressSettings;

/// The relayer's settings.
#[derive(clap::Args, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RelayerSettings {
    /// The relayer's private key (hex).
    #[arg(long)]
    pub key: Option<Secret>,
    /// File holding the relayer's private key (hex).
    #[arg(long)]
    pub key_file: Option<PathBuf>,
    /// Requests worked on at once (at least 1).
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Seconds a claim is leased for, renewed every third of it (at least 3).
    #[arg(long, default_value_t = 30)]
    pub lease_secs: u64,
    /// Seconds a missing input blob is waited for after the request.
    #[arg(long, default_value_t = 30)]
    pub input_grace_secs: u64,
    /// Seconds kept before the request's deadline for the settle transaction.
    #[arg(long, default_value_t = 15)]
    pub settle_margin_secs: u64,
    /// Memory limit of an agent's container, in MiB.
    #[arg(long, default_value_t = 256)]
    pub memory_mib: i64,
    /// Bytes of an agent's stdout accepted as its output.
    #[arg(long, default_value_t = 1_048_576)]
    pub stdout_max_bytes: usize,
    /// Claims of one request (its relayer died each time) before it is settled as failed (at
    /// least 1).
    #[arg(long, default_value_t = 3)]
    pub max_attempts: i32,
    /// Pre-start containers for agents whose last run succeeded.
    #[arg(long, action = clap::ArgAction::Set, default_value_t = true)]
    pub warm_start: bool,
    /// Seconds before a settle that is not mined is resent with bumped fees (at least 2).
    #[arg(long, default_value_t = 20)]
    pub settle_resend_secs: u64,
    /// Where /health, /ready and /metrics are served.
    #[arg(long, default_value = "127.0.0.1:9103")]
    pub status_addr: String,
    /// `[relayer.egress]`, from the TOML file only (maps have no flag or variable form).
    #[arg(skip)]
    #[serde(default)]
    pub egress: EgressSettings,
}

impl Section for RelayerSettings {
    const TABLE: Option<&'static str> = Some("relayer");
    const SUBTABLES: &'static [&'static str] = &["egress"];
}

impl RelayerSettings {
    /// The relayer's configuration: these settings over the crate's local defaults, each clamped
    /// to the least value that works.
    fn config(
        &self,
        deployments: nexus_bindings::Deployments,
        rpc_url: &str,
        database_url: &str,
        key: alloy::signers::local::PrivateKeySigner,
    ) -> nexus_relayer::Config {
        let mut config = nexus_relayer::Config::local(deployments, rpc_url, database_url, key);
        config.concurrency = self.concurrency.max(1);
        config.lease = Duration::from_secs(self.lease_secs.max(3));
        config.input_grace = Duration::from_secs(self.input_grace_secs);
        config.settle_margin = Duration::from_secs(self.settle_margin_secs);
        config.limits.memory_bytes = self.memory_mib << 20;
        config.limits.stdout_bytes = self.stdout_max_bytes;
        config.max_attempts = self.max_attempts.max(1);
        config.warm_start = self.warm_start;
        // Below a couple of seconds every slow block would trigger a replacement.
        config.chain.stuck_after = Duration::from_secs(self.settle_resend_secs.max(2));
        config
    }

    /// The key, from `key_file` or `key` (whichever the highest layer gave).
    fn key(&self) -> anyhow::Result<alloy::signers::local::PrivateKeySigner> {
        let key = secret::resolve("key", self.key.as_ref(), self.key_file.as_deref())?
            .ok_or_else(|| ConfigError::missing(Self::TABLE, "key"))?;
        Ok(nexus_relayer::parse_key(key.expose())?)
    }
}

pub async fn run(settings: &Settings) -> anyhow::Result<()> {
    let shared = &settings.shared;
    let key = settings.relayer.key()?;
    let deployments = nexus_bindings::Deployments::load(&shared.deployments)?;
    let mut config = settings.relayer.config(deployments, &shared.rpc_url, shared.database_url()?.expose(), key);
    config.egress = settings.relayer.egress.config()?;
    if let Some(egress) = &config.egress {
        let routes: Vec<String> = egress.routes.iter().map(|(from, to)| format!("{from} -> {to}")).collect();
        tracing::info!(?routes, allow_addresses = ?egress.allow_addresses, "agent egress on");
    }
    let status_addr = &settings.relayer.status_addr;
    tracing::info!(rpc = %config.rpc_url, owner = %config.owner, concurrency = config.concurrency, "starting relayer");
    let relayer = nexus_relayer::Relayer::connect(config).await?;
    let listener = tokio::net::TcpListener::bind(status_addr)
        .await
        .with_context(|| format!("binding the status address {status_addr}"))?;
    tracing::info!(addr = %status_addr, "serving /health, /ready, /metrics");
    tokio::spawn(nexus_relayer::status::serve(listener, relayer.metrics(), std::future::pending()));
    relayer.run(crate::stop_requested()).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::{defaults, deployments};

    /// The built-in defaults are the crate's own: applying them changes nothing, so moving a
    /// default here did not change what an unconfigured relayer does.
    #[test]
    fn defaults_are_the_crates_own() {
        let key = alloy::signers::local::PrivateKeySigner::random();
        let local = nexus_relayer::Config::local(deployments(), "http://rpc", "postgres://db", key.clone());
        let mut configured = defaults().relayer.config(deployments(), "http://rpc", "postgres://db", key);
        // The owner name is unique per Config::local call.
        configured.owner = local.owner.clone();
        assert_eq!(format!("{configured:?}"), format!("{local:?}"));
    }

    #[test]
    fn values_below_the_least_that_works_are_raised() {
        let settings = RelayerSettings {
            concurrency: 0,
            lease_secs: 1,
            max_attempts: 0,
            settle_resend_secs: 0,
            ..defaults().relayer
        };
        let key = alloy::signers::local::PrivateKeySigner::random();
        let config = settings.config(deployments(), "r", "d", key);
        assert_eq!(config.concurrency, 1);
        assert_eq!(config.lease, Duration::from_secs(3));
        assert_eq!(config.max_attempts, 1);
        assert_eq!(config.chain.stuck_after, Duration::from_secs(2));
    }

    #[test]
    fn no_key_is_an_error_naming_the_variables() {
        let error = defaults().relayer.key().expect_err("no key given").to_string();
        assert!(error.contains("NEXUS_RELAYER_KEY_FILE") && error.contains("NEXUS_RELAYER_KEY"), "{error}");
    }
}
