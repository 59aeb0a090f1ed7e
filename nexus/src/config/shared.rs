//! The top-level keys every command shares: where the chain, the database and the deployments
//! are. Global flags, so they go before or after the subcommand.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::secret::{self, Secret};
use super::{ConfigError, Section};

/// The top level of the TOML file, `NEXUS_<KEY>` variables and the global flags. The defaults
/// run against the local stack (`make dev`).
#[derive(clap::Args, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct SharedSettings {
    /// JSON-RPC endpoint of the chain (http(s) or ws(s)).
    #[arg(long, global = true, default_value = "http://127.0.0.1:8545")]
    pub rpc_url: String,
    /// PostgreSQL URL (a secret when it holds a password: prefer --database-url-file).
    #[arg(long, global = true, default_value = "postgres://postgres@127.0.0.1:5432/nexus")]
    pub database_url: Option<Secret>,
    /// File holding the PostgreSQL URL.
    #[arg(long, global = true)]
    pub database_url_file: Option<PathBuf>,
    /// The deployments file written by the deploy script.
    #[arg(long, global = true, default_value = "deployments/31337.json")]
    pub deployments: PathBuf,
    /// User commands: seconds to wait for a transaction's receipt before saying what became of it.
    #[arg(long = "receipt-timeout", alias = "receipt-timeout-secs", global = true, value_name = "SECONDS",
          default_value_t = crate::cli::DEFAULT_RECEIPT_TIMEOUT.as_secs())]
    pub receipt_timeout_secs: u64,
}

impl Section for SharedSettings {
    const TABLE: Option<&'static str> = None;
    /// `--receipt-timeout` was spelled without its unit in the environment too.
    const ENV_ALIASES: &'static [(&'static str, &'static str)] = &[("receipt_timeout_secs", "NEXUS_RECEIPT_TIMEOUT")];
}

impl SharedSettings {
    /// The database URL, read from `database_url_file` when that is how it was given.
    pub fn database_url(&self) -> Result<Secret, ConfigError> {
        // Never unset in practice (a layer blanks the URL only when it names a file instead);
        // an error rather than a panic should a declaration change.
        secret::resolve("database_url", self.database_url.as_ref(), self.database_url_file.as_deref())?
            .ok_or_else(|| ConfigError::missing(Self::TABLE, "database_url"))
    }
}
