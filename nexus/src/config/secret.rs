//! Secret settings: values that must never reach a log line, an error message or `Debug` output
//! (the relayer and sponsor keys, the bearer-token secret, a database URL with its password).
//!
//! Every secret key `k` has a twin `k_file` naming a file that holds the value (read once at
//! start, surrounding whitespace trimmed), so production passes secrets as mounted files
//! (`/run/secrets/...`) and never as text in the environment, where `ps e`, crash reports and
//! child processes can see it. Raw values (`NEXUS_RELAYER_KEY=...`) stay accepted for
//! development. The loader keeps at most one of the two set (the layer that spoke last wins,
//! whichever form it used; see `layers::settle_secret_pairs`), so [`resolve`] never has to choose.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// A secret value. `Debug` prints `Secret(..)`, so the settings structs can derive `Debug`
/// safely; the text is only reachable through [`Secret::expose`], which makes every use visible.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The secret text, for the one place that needs it (parsing a key, opening a pool).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// How clap parses `--key 0x…` (its derive picks `From<String>` as the value parser).
impl From<String> for Secret {
    fn from(text: String) -> Self {
        Secret(text)
    }
}

/// The secret `key`, given directly (`value`) or as the file `file` holding it; `None` when
/// neither is set. A file is read now and trimmed; its content never appears in the error.
pub fn resolve(key: &'static str, value: Option<&Secret>, file: Option<&Path>) -> Result<Option<Secret>, ConfigError> {
    match (value, file) {
        (Some(value), _) => Ok(Some(value.clone())),
        (None, Some(path)) => std::fs::read_to_string(path)
            .map(|text| Some(Secret(text.trim().to_owned())))
            .map_err(|source| ConfigError::SecretFile { key, path: path.to_owned(), source }),
        (None, None) => Ok(None),
    }
}
