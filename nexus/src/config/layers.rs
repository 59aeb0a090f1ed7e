//! The four layers as figment providers, built from what each section declares, and the checks
//! made on them before anything is extracted (secret pairs, unknown keys).

use std::collections::BTreeMap;
use std::path::Path;

use figment::value::{Dict, Empty, Map, Tag, Value};
use figment::{Figment, Metadata, Profile, Provider};

use super::{ConfigError, Environment, Flags, Key, Section, SharedSettings, defaults};
use crate::graphql::GraphqlSettings;
use crate::indexer::IndexerSettings;
use crate::relayer::RelayerSettings;

/// What the layers need to know about one section.
struct SectionInfo {
    table: Option<&'static str>,
    keys: Vec<Key>,
    /// [`Section::SUBTABLES`].
    subtables: &'static [&'static str],
    /// For each key (same order as `keys`), its environment variables, the rule's name first.
    env_vars: Vec<Vec<String>>,
    defaults: Dict,
}

impl SectionInfo {
    fn of<S: Section>() -> Result<Self, ConfigError> {
        let keys = Key::all::<S>();
        let env_vars = keys.iter().map(Key::env_vars::<S>).collect();
        // A struct always serializes to a dictionary.
        let defaults = Value::serialize(defaults::<S>()?)?.into_dict().unwrap_or_default();
        Ok(SectionInfo { table: S::TABLE, keys, subtables: S::SUBTABLES, env_vars, defaults })
    }

    fn has_key(&self, id: &str) -> bool {
        self.keys.iter().any(|k| k.id == id)
    }

    /// `(k, k_file)` for every secret key: a key whose name plus `_file` is a key too.
    fn secret_pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.keys.iter().filter_map(|k| {
            let stem = k.id.strip_suffix("_file")?;
            self.has_key(stem).then_some((stem, k.id.as_str()))
        })
    }

    fn path(&self, key: &str) -> String {
        match self.table {
            Some(table) => format!("{table}.{key}"),
            None => key.to_owned(),
        }
    }
}

/// Every section, top level first.
pub(super) struct Sections(Vec<SectionInfo>);

impl Sections {
    pub(super) fn all() -> Result<Self, ConfigError> {
        Ok(Sections(vec![
            SectionInfo::of::<SharedSettings>()?,
            SectionInfo::of::<IndexerSettings>()?,
            SectionInfo::of::<GraphqlSettings>()?,
            SectionInfo::of::<RelayerSettings>()?,
        ]))
    }

    pub(super) fn defaults_layer(&self) -> Layer {
        let mut data = Dict::new();
        for section in &self.0 {
            for (key, value) in &section.defaults {
                insert(&mut data, section.table, key, value.clone());
            }
        }
        Layer { metadata: Metadata::named("built-in defaults").interpolater(dotted), data }
    }

    pub(super) fn file_layer(&self, path: &Path) -> Result<Layer, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile { path: path.into(), source })?;
        let mut data: Dict = toml::from_str(&text)
            .map_err(|source| ConfigError::ParseFile { path: path.into(), source: Box::new(source) })?;
        self.settle_secret_pairs(&mut data, &path.display().to_string())?;
        Ok(Layer { metadata: Metadata::from("configuration file", path).interpolater(dotted), data })
    }

    /// Each key's variable (the rule's name before an older alias); a list is split on its
    /// delimiter, everything else stays text for the lossy extraction to parse by the key's type.
    pub(super) fn env_layer(&self, env: &Environment) -> Result<Layer, ConfigError> {
        let mut data = Dict::new();
        let mut names = BTreeMap::new();
        for section in &self.0 {
            for (key, vars) in section.keys.iter().zip(&section.env_vars) {
                let mut found = None;
                for var in vars {
                    if let Some(text) = env.get(var)? {
                        found = Some((var, text));
                        break;
                    }
                }
                let Some((var, text)) = found else { continue };
                let value = match key.delimiter {
                    Some(delimiter) => Value::from(text.split(delimiter).map(str::to_owned).collect::<Vec<_>>()),
                    None => Value::from(text),
                };
                insert(&mut data, section.table, &key.id, value);
                names.insert(section.path(&key.id), var.clone());
            }
        }
        self.settle_secret_pairs(&mut data, "the environment")?;
        Ok(Layer { metadata: Metadata::named("environment variable").interpolater(renamed(names)), data })
    }

    pub(super) fn flags_layer(&self, flags: &Flags) -> Result<Layer, ConfigError> {
        let mut data = flags.values.clone();
        self.settle_secret_pairs(&mut data, "the command line")?;
        Ok(Layer { metadata: Metadata::named("command-line flag").interpolater(renamed(flags.names.clone())), data })
    }

    /// Within one layer, a secret given both ways is refused; given one way, the other form is
    /// set to empty, so a lower layer's other form cannot survive the merge. The layer that
    /// spoke last then decides, whichever form it used: a `key_file` in the TOML file is
    /// overridden by `NEXUS_RELAYER_KEY` in the environment, and the other way round.
    fn settle_secret_pairs(&self, data: &mut Dict, origin: &str) -> Result<(), ConfigError> {
        for section in &self.0 {
            let table = match section.table {
                None => &mut *data,
                Some(name) => match data.get_mut(name) {
                    Some(Value::Dict(_, table)) => table,
                    _ => continue,
                },
            };
            for (key, file_key) in section.secret_pairs() {
                let blank = match (table.contains_key(key), table.contains_key(file_key)) {
                    (true, true) => {
                        return Err(ConfigError::BothSecretForms { key: section.path(key), origin: origin.into() });
                    }
                    (true, false) => file_key,
                    (false, true) => key,
                    (false, false) => continue,
                };
                table.insert(blank.to_owned(), Value::Empty(Tag::Default, Empty::None));
            }
        }
        Ok(())
    }

    /// Unknown keys can only come from the file (the other layers are built from the declared
    /// keys). Checked here rather than by `deny_unknown_fields` alone because the top-level
    /// struct cannot deny the section tables, and because figment knows which source gave the
    /// key.
    pub(super) fn refuse_unknown_keys(&self, figment: &Figment) -> Result<(), ConfigError> {
        let data = figment.data()?;
        let Some(root) = data.get(&Profile::Default) else { return Ok(()) };
        let unknown = |path: String| {
            let origin = figment.find_metadata(&path).map_or_else(|| "the configuration".into(), describe);
            ConfigError::UnknownKey { key: path, origin }
        };
        for (key, value) in root {
            if self.0[0].has_key(key) {
                continue;
            }
            let Some(section) = self.0.iter().find(|s| s.table == Some(key.as_str())) else {
                return Err(unknown(key.clone()));
            };
            if let Value::Dict(_, table) = value
                && let Some(key) =
                    table.keys().find(|k| !section.has_key(k) && !section.subtables.contains(&k.as_str()))
            {
                return Err(unknown(section.path(key)));
            }
        }
        Ok(())
    }
}

/// One layer: its values, and the metadata naming the source in error messages.
pub(super) struct Layer {
    metadata: Metadata,
    data: Dict,
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        self.metadata.clone()
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.data.clone()))
    }
}

/// Sets `key` in `table` (the top level when `None`) of `data`.
pub(super) fn insert(data: &mut Dict, table: Option<&str>, key: &str, value: Value) {
    let target = match table {
        None => data,
        Some(name) => {
            let entry = data.entry(name.to_owned()).or_insert_with(|| Value::Dict(Tag::Default, Dict::new()));
            match entry {
                Value::Dict(_, table) => table,
                _ => return,
            }
        }
    };
    target.insert(key.to_owned(), value);
}

/// Key paths as the TOML file spells them (figment's default prefixes the profile name).
fn dotted(_: &Profile, keys: &[&str]) -> String {
    keys.join(".")
}

/// Key paths as the source spells them (`NEXUS_INDEXER_CONFIRMATIONS`, `--confirmations`).
fn renamed(names: BTreeMap<String, String>) -> impl Fn(&Profile, &[&str]) -> String + Clone + Send + Sync + 'static {
    move |_, keys| {
        let path = keys.join(".");
        names.get(&path).cloned().unwrap_or(path)
    }
}

/// "nexus.toml (configuration file)", "environment variable".
fn describe(metadata: &Metadata) -> String {
    match &metadata.source {
        Some(source) => format!("{source} ({})", metadata.name),
        None => metadata.name.to_string(),
    }
}
