//! Configuration of the services, declared once per service.
//!
//! Each service has one settings struct ([`SharedSettings`] for the top-level keys every
//! command shares, `IndexerSettings`, `GraphqlSettings`, `RelayerSettings` next to the code that
//! runs the service). That struct is at the same time
//!
//! - the TOML table (`serde`, unknown keys refused),
//! - the subcommand's flags (`clap::Args`; the doc comment is the `--help` text and
//!   `default_value` the built-in default), and
//! - the list of environment variables: every key `k` of table `[t]` is read from
//!   `NEXUS_<T>_<K>` (`NEXUS_<K>` at the top level), derived from the clap argument, plus the few
//!   older names kept working ([`Section::ENV_ALIASES`]).
//!
//! [`load`] layers them, each over the one before: built-in defaults, the TOML file
//! (`--config` / `NEXUS_CONFIG`), the environment, the command-line flags. The layers are
//! [figment](https://docs.rs/figment) providers, so a value of the wrong type is reported with
//! its key as the source spells it and the source itself ("for key `NEXUS_INDEXER_CONFIRMATIONS`
//! in environment variable", "for key `indexer.confirmations` in nexus.toml configuration file").
//! Every key with its default is in `nexus.example.toml` at the repository root.
//!
//! Designs rejected: clap's own `env = ...` (clap reads the environment while parsing flags, so
//! the file could not sit between environment and flags, and a test could only feed it the
//! process environment, which parallel tests share); figment's `Env` provider (it scans the
//! process environment by prefix, so the CLI's `NEXUS_GRAPHQL_URL` would read as an unknown
//! `[graphql] url` key); figment's `Toml` provider (a file it cannot find silently gives
//! nothing, where a `--config` naming no file must be an error; the `toml` crate parses it
//! here); a macro generating a TOML struct and an all-`Option` clap struct from
//! one list (two types per service again, and docs and defaults behind a macro). Here the flags
//! layer keeps only the values clap reports as typed on the command line
//! ([`clap::parser::ValueSource::CommandLine`]), so one struct with plain types serves all three.

mod layers;
pub mod secret;
mod shared;
#[cfg(test)]
pub(crate) mod tests;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::ArgMatches;
use clap::parser::ValueSource;
use figment::Figment;
use figment::value::{Dict, Value};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use shared::SharedSettings;

use crate::graphql::GraphqlSettings;
use crate::indexer::IndexerSettings;
use crate::relayer::RelayerSettings;

/// A settings struct: one TOML table, one set of flags, one environment prefix.
pub trait Section: clap::Args + Serialize + DeserializeOwned {
    /// The TOML table (`None`: the top level), also the subcommand the flags belong to and the
    /// `NEXUS_<TABLE>_` environment prefix.
    const TABLE: Option<&'static str>;
    /// Environment variables older than the `NEXUS_<TABLE>_<KEY>` rule, still read: `(key,
    /// variable)`. The rule's own name wins when both are set.
    const ENV_ALIASES: &'static [(&'static str, &'static str)] = &[];
    /// Nested tables (`[relayer.egress]`): fields with `#[arg(skip)]`, so no flag or variable;
    /// read from the file only and checked by their own serde declaration (unknown keys
    /// refused there).
    const SUBTABLES: &'static [&'static str] = &[];
}

/// Everything the services are configured with, after layering.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub shared: SharedSettings,
    pub indexer: IndexerSettings,
    pub graphql: GraphqlSettings,
    pub relayer: RelayerSettings,
}

/// Why the configuration could not be loaded. Messages name the key and where it came from,
/// never a secret's value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading the configuration file {path}")]
    ReadFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("parsing the configuration file {path}")]
    ParseFile {
        path: PathBuf,
        #[source]
        source: Box<toml::de::Error>,
    },
    #[error("unknown key `{key}` in {origin}")]
    UnknownKey { key: String, origin: String },
    #[error("`{key}` and `{key}_file` are both set in {origin}: give the secret one way")]
    BothSecretForms { key: String, origin: String },
    #[error("the environment variable {name} is not valid UTF-8")]
    NotUnicode { name: String },
    #[error("no {key}: set {var}_FILE (a file holding it), or {var} for development")]
    Missing { key: String, var: String },
    #[error("reading `{key}_file` {path}")]
    SecretFile {
        key: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A value of the wrong type; figment's message names the key and its source. Boxed: a
    /// figment error is large, and every function here returns this type.
    #[error(transparent)]
    Invalid(Box<figment::Error>),
    /// clap could not build a settings struct (a `default_value` that does not parse): a
    /// mistake in the declaration, which the tests catch.
    #[error("the `{table}` settings do not match their declaration")]
    Declaration {
        table: &'static str,
        #[source]
        source: clap::Error,
    },
}

impl From<figment::Error> for ConfigError {
    fn from(error: figment::Error) -> Self {
        ConfigError::Invalid(Box::new(error))
    }
}

impl ConfigError {
    /// The secret `key` of `table` is required and was given neither way.
    pub fn missing(table: Option<&str>, key: &str) -> Self {
        ConfigError::Missing {
            key: table.map_or_else(|| key.to_owned(), |t| format!("{t}.{key}")),
            var: env_var(table, key),
        }
    }
}

/// The environment the loader reads. A map rather than `std::env::var` so that tests pass
/// their own: setting process variables would race with every other test thread.
#[derive(Debug, Clone, Default)]
pub struct Environment(BTreeMap<String, OsString>);

impl Environment {
    /// The process's `NEXUS_*` variables.
    pub fn process() -> Self {
        Environment(
            std::env::vars_os()
                .filter_map(|(name, value)| Some((name.into_string().ok()?, value)))
                .filter(|(name, _)| name.starts_with("NEXUS_"))
                .collect(),
        )
    }

    /// The variable `name`; an error only when it is set and not UTF-8 (read as text it would
    /// silently become a different value).
    fn get(&self, name: &str) -> Result<Option<String>, ConfigError> {
        match self.0.get(name) {
            None => Ok(None),
            Some(value) => {
                value.to_str().map(|v| Some(v.to_owned())).ok_or_else(|| ConfigError::NotUnicode { name: name.into() })
            }
        }
    }
}

impl<N: Into<String>, V: Into<OsString>> FromIterator<(N, V)> for Environment {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Self {
        Environment(iter.into_iter().map(|(n, v)| (n.into(), v.into())).collect())
    }
}

/// The values typed on the command line, by key path (`indexer.confirmations`), with the flag
/// that gave each (for error messages).
#[derive(Debug, Clone, Default)]
pub struct Flags {
    values: Dict,
    names: BTreeMap<String, String>,
}

impl Flags {
    /// The flags of the top level and of the subcommand that was run. A flag left out is absent
    /// here (clap's default for it is the defaults layer's business, not a command-line value).
    pub fn from_matches(matches: &ArgMatches) -> Result<Self, ConfigError> {
        let mut flags = Flags::default();
        flags.add::<SharedSettings>(matches)?;
        flags.add::<IndexerSettings>(matches)?;
        flags.add::<GraphqlSettings>(matches)?;
        flags.add::<RelayerSettings>(matches)?;
        Ok(flags)
    }

    fn add<S: Section>(&mut self, root: &ArgMatches) -> Result<(), ConfigError> {
        let matches = match S::TABLE {
            None => root,
            Some(table) => match root.subcommand_matches(table) {
                Some(matches) => matches,
                None => return Ok(()),
            },
        };
        let parsed = S::from_arg_matches(matches).map_err(|source| declaration_error::<S>(source))?;
        // A struct always serializes to a dictionary.
        let values = Value::serialize(parsed)?.into_dict().unwrap_or_default();
        for key in Key::all::<S>() {
            if matches.value_source(&key.id) != Some(ValueSource::CommandLine) {
                continue;
            }
            if let (Some(value), Some(flag)) = (values.get(&key.id), &key.flag) {
                self.names.insert(key.path::<S>(), format!("--{flag}"));
                layers::insert(&mut self.values, S::TABLE, &key.id, value.clone());
            }
        }
        Ok(())
    }
}

/// One key of a section, as its clap argument declares it.
#[derive(Debug, Clone)]
struct Key {
    /// The field name: TOML key, clap id and (upper-cased) environment suffix.
    id: String,
    /// The long flag, `--` omitted.
    flag: Option<String>,
    /// Lists (`value_delimiter`) are split on it when read from the environment.
    delimiter: Option<char>,
}

impl Key {
    fn all<S: Section>() -> Vec<Key> {
        S::augment_args(clap::Command::new("nexus"))
            .get_arguments()
            .map(|arg| Key {
                id: arg.get_id().to_string(),
                flag: arg.get_long().map(str::to_owned),
                delimiter: arg.get_value_delimiter(),
            })
            .collect()
    }

    /// `table.key`, or `key` at the top level.
    fn path<S: Section>(&self) -> String {
        match S::TABLE {
            Some(table) => format!("{table}.{}", self.id),
            None => self.id.clone(),
        }
    }

    /// The environment variables this key is read from, the rule's name first.
    fn env_vars<S: Section>(&self) -> Vec<String> {
        let mut vars = vec![env_var(S::TABLE, &self.id)];
        vars.extend(S::ENV_ALIASES.iter().filter(|(key, _)| *key == self.id).map(|(_, var)| (*var).to_owned()));
        vars
    }
}

/// `NEXUS_<TABLE>_<KEY>`, or `NEXUS_<KEY>` at the top level.
fn env_var(table: Option<&str>, key: &str) -> String {
    match table {
        Some(table) => format!("NEXUS_{}_{}", table.to_ascii_uppercase(), key.to_ascii_uppercase()),
        None => format!("NEXUS_{}", key.to_ascii_uppercase()),
    }
}

/// A section's built-in defaults: what clap fills in when no flag is given.
fn defaults<S: Section>() -> Result<S, ConfigError> {
    let matches = S::augment_args(clap::Command::new("nexus"))
        .try_get_matches_from(["nexus"])
        .map_err(|source| declaration_error::<S>(source))?;
    S::from_arg_matches(&matches).map_err(|source| declaration_error::<S>(source))
}

fn declaration_error<S: Section>(source: clap::Error) -> ConfigError {
    ConfigError::Declaration { table: S::TABLE.unwrap_or("top level"), source }
}

/// Appends `[env: NEXUS_…]` to the help of every settings flag, so `--help` shows the variable
/// the loader reads (clap's own `env` would make clap read it; see the module docs).
pub fn with_env_help(command: clap::Command) -> clap::Command {
    fn annotate<S: Section>(command: clap::Command) -> clap::Command {
        let keys = Key::all::<S>();
        command.mut_args(|arg| {
            let Some(key) = keys.iter().find(|k| k.id == arg.get_id().as_str()) else { return arg };
            let vars = key.env_vars::<S>().join(", ");
            let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
            arg.help(format!("{help} [env: {vars}]"))
        })
    }
    let mut command = annotate::<SharedSettings>(command);
    for (table, annotate) in [
        (IndexerSettings::TABLE, annotate::<IndexerSettings> as fn(clap::Command) -> clap::Command),
        (GraphqlSettings::TABLE, annotate::<GraphqlSettings>),
        (RelayerSettings::TABLE, annotate::<RelayerSettings>),
    ] {
        if let Some(table) = table {
            command = command.mut_subcommand(table, annotate);
        }
    }
    command
}

/// Layers defaults, the TOML file at `file` (if any), `env` and `flags`, and extracts every
/// section. Secrets are not read here: the service that needs one resolves it
/// ([`secret::resolve`]), so a user command never fails over the relayer's key file.
pub fn load(file: Option<&Path>, env: &Environment, flags: &Flags) -> Result<Settings, ConfigError> {
    let sections = layers::Sections::all()?;
    let mut figment = Figment::new().merge(sections.defaults_layer());
    if let Some(path) = file {
        figment = figment.merge(sections.file_layer(path)?);
    }
    figment = figment.merge(sections.env_layer(env)?).merge(sections.flags_layer(flags)?);
    sections.refuse_unknown_keys(&figment)?;
    // Lossy: a number or boolean given as text (as all of the environment and some TOML files
    // give them) is parsed by the key's type; anything else is a type error.
    let shared: SharedSettings = figment.extract_lossy()?;
    let Tables { indexer, graphql, relayer } = figment.extract_lossy()?;
    Ok(Settings { shared, indexer, graphql, relayer })
}

/// The tables, extracted in one go so that figment reports a bad key as
/// `indexer.confirmations` (its `extract_inner("indexer")` appends the table to the key path
/// instead). The field names are the sections' `TABLE`s: a mismatch fails every load, as the
/// defaults layer fills the tables by `TABLE`.
#[derive(serde::Deserialize)]
struct Tables {
    indexer: IndexerSettings,
    graphql: GraphqlSettings,
    relayer: RelayerSettings,
}
