//! `[relayer.egress]`: the agents' egress proxy (nexus-egress), one nested table of the relayer's
//! settings. Nested rather than flat `egress_*` keys because routes and secrets are maps keyed
//! by the operator (origins, secret names), which neither a flag nor one environment variable
//! can spell; so these keys come from the TOML file only (the loader checks them by serde,
//! unknown keys refused with their path).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use nexus_egress::{Budget, EgressConfig, Routes, SecretValue, Secrets};
use serde::{Deserialize, Serialize};

use crate::config::secret::{self, Secret};

/// Every key, with the defaults of `nexus_egress::Budget::default()` (checked by a test).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EgressSettings {
    /// Off: no agent gets a socket (every container has no network at all).
    pub enabled: bool,
    /// Per execution: requests, bytes sent and received, per-request and total milliseconds.
    /// An agent's metadata may ask for less, never more.
    pub requests: u32,
    pub bytes_out: u64,
    pub bytes_in: u64,
    pub request_timeout_ms: u64,
    pub total_time_ms: u64,
    /// Exact addresses exempt from the blocked (private, loopback, metadata) ranges.
    pub allow_addresses: Vec<IpAddr>,
    /// PEM files of roots trusted besides the webpki ones.
    pub extra_roots: Vec<PathBuf>,
    /// `"https://api.example" = "http://127.0.0.1:18701"`: where to connect for an origin.
    pub routes: BTreeMap<String, String>,
    /// `name = "value"` (development) or `name_file = "/run/secrets/name"`.
    pub secrets: BTreeMap<String, Secret>,
}

impl Default for EgressSettings {
    fn default() -> Self {
        let budget = Budget::default();
        Self {
            enabled: true,
            requests: budget.requests,
            bytes_out: budget.bytes_out,
            bytes_in: budget.bytes_in,
            request_timeout_ms: millis(budget.request_timeout),
            total_time_ms: millis(budget.total_time),
            allow_addresses: Vec::new(),
            extra_roots: Vec::new(),
            routes: BTreeMap::new(),
            secrets: BTreeMap::new(),
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

const TABLE: &str = "relayer.egress";

impl EgressSettings {
    /// The proxy's configuration (`None` when disabled), reading root and secret files now.
    /// Every error names the key (`relayer.egress.routes."https://x"`, `...secrets.openai_file`).
    pub fn config(&self) -> anyhow::Result<Option<EgressConfig>> {
        if !self.enabled {
            return Ok(None);
        }
        let budget = Budget {
            requests: self.requests,
            bytes_out: self.bytes_out,
            bytes_in: self.bytes_in,
            request_timeout: Duration::from_millis(self.request_timeout_ms),
            total_time: Duration::from_millis(self.total_time_ms),
        };
        let mut extra_roots = Vec::new();
        for (i, path) in self.extra_roots.iter().enumerate() {
            let key = || format!("{TABLE}.extra_roots[{i}] ({})", path.display());
            let pem = std::fs::read(path).with_context(|| format!("reading {}", key()))?;
            extra_roots.extend(nexus_egress::roots_from_pem(&pem).with_context(key)?);
        }
        for (from, to) in &self.routes {
            Routes::parse([(from.as_str(), to.as_str())]).with_context(|| format!("{TABLE}.routes.\"{from}\""))?;
        }
        let routes = Routes::parse(self.routes.iter().map(|(f, t)| (f.as_str(), t.as_str())))
            .with_context(|| format!("{TABLE}.routes"))?;
        Ok(Some(EgressConfig {
            budget,
            allow_addresses: self.allow_addresses.clone(),
            extra_roots,
            secrets: self.secrets()?,
            routes,
        }))
    }

    /// `name` or `name_file` (the file read now and trimmed); both for one name is an error.
    fn secrets(&self) -> anyhow::Result<Secrets> {
        let mut secrets = Secrets::default();
        for (key, value) in &self.secrets {
            let (name, file) = match key.strip_suffix("_file") {
                Some(name) => (name, Some(PathBuf::from(value.expose()))),
                None => (key.as_str(), None),
            };
            if file.is_none() && self.secrets.contains_key(&format!("{name}_file")) {
                anyhow::bail!(
                    "{TABLE}.secrets.{name} and {TABLE}.secrets.{name}_file are both set: give the secret one way"
                );
            }
            let given = if file.is_some() { None } else { Some(value) };
            let resolved = secret::resolve("relayer.egress.secrets", given, file.as_deref())
                .with_context(|| format!("{TABLE}.secrets.{key}"))?;
            if let Some(resolved) = resolved {
                secrets.insert(name, SecretValue::new(resolved.expose()));
            }
        }
        Ok(secrets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_proxys_own() {
        let config = EgressSettings::default().config().expect("valid").expect("enabled by default");
        assert_eq!(config.budget, Budget::default());
        assert!(config.allow_addresses.is_empty() && config.extra_roots.is_empty() && config.routes.is_empty());
        assert!(EgressSettings { enabled: false, ..Default::default() }.config().expect("valid").is_none());
    }

    #[test]
    fn keys_become_the_proxy_config_and_errors_name_the_key() {
        let dir = tempfile::tempdir().expect("dir");
        let key_file = dir.path().join("openai.key");
        std::fs::write(&key_file, "sk-file\n").expect("write");
        let settings: EgressSettings = toml::from_str(&format!(
            r#"
            requests = 3
            total_time_ms = 500
            allow_addresses = ["127.0.0.1"]
            [routes]
            "https://api.hyperliquid.xyz" = "http://127.0.0.1:18701"
            [secrets]
            openai_file = "{}"
            other = "sk-raw"
            "#,
            key_file.display()
        ))
        .expect("parses");
        let config = settings.config().expect("valid").expect("enabled");
        assert_eq!(config.budget.requests, 3);
        assert_eq!(config.budget.total_time, Duration::from_millis(500));
        assert_eq!(config.allow_addresses, vec![IpAddr::from([127, 0, 0, 1])]);
        assert_eq!(config.routes.iter().count(), 1);
        assert_eq!(config.secrets.get("openai").map(SecretValue::expose), Some("sk-file"));
        assert_eq!(config.secrets.get("other").map(SecretValue::expose), Some("sk-raw"));
        assert!(!format!("{config:?}").contains("sk-"), "secrets never in Debug");

        let error = |text: &str| {
            let settings: EgressSettings = toml::from_str(text).expect("parses");
            format!("{:#}", settings.config().expect_err("invalid"))
        };
        let e = error("[routes]\n\"https://a.example/path\" = \"http://127.0.0.1:1\"");
        assert!(e.contains("relayer.egress.routes.\"https://a.example/path\""), "{e}");
        let e = error("[secrets]\nk = \"a\"\nk_file = \"/x\"");
        assert!(e.contains("relayer.egress.secrets.k and relayer.egress.secrets.k_file"), "{e}");
        let e = error("[secrets]\nk_file = \"/nonexistent/k\"");
        assert!(e.contains("relayer.egress.secrets.k_file"), "{e}");
        let e = error("extra_roots = [\"/nonexistent/ca.pem\"]");
        assert!(e.contains("relayer.egress.extra_roots[0]"), "{e}");
        let unknown = toml::from_str::<EgressSettings>("requets = 3").expect_err("unknown key").to_string();
        assert!(unknown.contains("requets"), "{unknown}");
    }
}
