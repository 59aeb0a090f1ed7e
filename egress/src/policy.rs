//! The `network` section of an agent's metadata: what the agent may call, typed and checked.
//!
//! The curator approves this section with the listing, so parsing is strict: unknown fields are
//! errors (a misspelt `pathPrefix` must not silently widen or narrow anything), counts and
//! lengths are bounded, hosts are exact lower-case DNS names (no wildcards: a wildcard would let
//! whoever controls a subdomain of an allowed zone receive the agent's traffic, and the listing
//! could no longer say exactly what the agent contacts), and IP literals are refused (a policy
//! names a service; an address says nothing a curator can check, and it would bypass the name
//! the TLS certificate is verified against).
//!
//! Example (metadata JSON):
//! ```json
//! "network": {
//!   "rules": [{ "scheme": "https", "host": "api.hyperliquid.xyz", "methods": ["POST"],
//!               "pathPrefixes": ["/info"] }],
//!   "budget": { "requests": 20 },
//!   "secrets": [{ "name": "openai", "host": "api.openai.com", "pathPrefix": "/v1/",
//!                 "header": "authorization" }]
//! }
//! ```

use std::net::IpAddr;

use http::{HeaderName, Method};
use serde::Deserialize;

use crate::budget::BudgetRequest;
use crate::{Refusal, path};

pub const MAX_RULES: usize = 32;
pub const MAX_METHODS: usize = 8;
pub const MAX_PREFIXES: usize = 16;
pub const MAX_SECRETS: usize = 8;
pub const MAX_NAME_BYTES: usize = 64;
pub const MAX_HOST_BYTES: usize = 253;

/// Why a `network` section is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("network policy is not valid JSON for its schema: {0}")]
    Json(String),
    #[error("network policy: {0}")]
    Invalid(String),
}

fn invalid<T>(message: impl Into<String>) -> Result<T, PolicyError> {
    Err(PolicyError::Invalid(message.into()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn default_port(self) -> u16 {
        match self {
            Self::Http => 80,
            Self::Https => 443,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "http" => Some(Self::Http),
            "https" => Some(Self::Https),
            _ => None,
        }
    }
}

/// What a rule allows: one scheme, host and port; some methods; some path prefixes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub scheme: Scheme,
    pub host: String,
    pub port: u16,
    pub methods: Vec<Method>,
    pub path_prefixes: Vec<String>,
}

/// Where an injected secret goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    Header(HeaderName),
    Query(String),
}

/// A secret the agent needs: the operator's value for `name` is added to requests to exactly
/// `host` under `path_prefix`, nowhere else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretDecl {
    pub name: String,
    pub host: String,
    pub path_prefix: String,
    pub placement: Placement,
}

/// A parsed, checked `network` section.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Policy {
    pub rules: Vec<Rule>,
    pub budget: BudgetRequest,
    pub secrets: Vec<SecretDecl>,
}

/// A request as the policy sees it: host lower-cased, path checked by [`path::check`].
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub scheme: Scheme,
    pub host: &'a str,
    pub port: u16,
    pub method: &'a Method,
    pub path: &'a str,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NetworkDoc {
    rules: Vec<RuleDoc>,
    #[serde(default)]
    budget: BudgetRequest,
    #[serde(default)]
    secrets: Vec<SecretDoc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RuleDoc {
    scheme: Scheme,
    host: String,
    port: Option<u16>,
    methods: Vec<String>,
    path_prefixes: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SecretDoc {
    name: String,
    host: String,
    path_prefix: String,
    header: Option<String>,
    query: Option<String>,
}

impl Policy {
    /// No network at all: what an agent without (or with unverifiable) metadata gets.
    pub fn none() -> Self {
        Self::default()
    }

    /// Parses the `network` value of a metadata document.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, PolicyError> {
        let doc: NetworkDoc = serde_json::from_value(value.clone()).map_err(|e| PolicyError::Json(e.to_string()))?;
        if doc.rules.len() > MAX_RULES {
            return invalid(format!("more than {MAX_RULES} rules"));
        }
        if doc.secrets.len() > MAX_SECRETS {
            return invalid(format!("more than {MAX_SECRETS} secrets"));
        }
        let rules = doc.rules.into_iter().map(rule).collect::<Result<Vec<_>, _>>()?;
        let secrets = doc.secrets.into_iter().map(secret).collect::<Result<Vec<_>, _>>()?;
        for s in &secrets {
            // A secret for a host no rule allows could never be sent: a listing mistake.
            if !rules.iter().any(|r| r.host == s.host) {
                return invalid(format!("secret {} is for {}, which no rule allows", s.name, s.host));
            }
        }
        Ok(Self { rules, budget: doc.budget, secrets })
    }

    /// The rule allowing `request`, or the most specific reason none does (host, then scheme and
    /// port, then method, then path), so the agent's error names what to fix.
    pub fn allows(&self, request: &Request<'_>) -> Result<&Rule, Refusal> {
        let host = request.host;
        let on_host: Vec<&Rule> = self.rules.iter().filter(|r| r.host == host).collect();
        if on_host.is_empty() {
            return Err(Refusal::HostNotAllowed(host.to_owned()));
        }
        let on_origin: Vec<&Rule> =
            on_host.into_iter().filter(|r| r.scheme == request.scheme && r.port == request.port).collect();
        if on_origin.is_empty() {
            return Err(Refusal::SchemeOrPortNotAllowed {
                scheme: request.scheme.as_str(),
                host: host.to_owned(),
                port: request.port,
            });
        }
        let with_method: Vec<&Rule> = on_origin.into_iter().filter(|r| r.methods.contains(request.method)).collect();
        if with_method.is_empty() {
            return Err(Refusal::MethodNotAllowed { method: request.method.to_string(), host: host.to_owned() });
        }
        let path = path::check(request.path)?;
        with_method
            .into_iter()
            .find(|r| r.path_prefixes.iter().any(|p| path::under(path, p)))
            .ok_or_else(|| Refusal::PathNotAllowed { path: path.to_owned(), host: host.to_owned() })
    }
}

fn rule(doc: RuleDoc) -> Result<Rule, PolicyError> {
    let host = host(&doc.host)?;
    if doc.methods.is_empty() || doc.methods.len() > MAX_METHODS {
        return invalid(format!("rule for {host}: 1 to {MAX_METHODS} methods"));
    }
    if doc.path_prefixes.is_empty() || doc.path_prefixes.len() > MAX_PREFIXES {
        return invalid(format!("rule for {host}: 1 to {MAX_PREFIXES} path prefixes"));
    }
    let methods = doc.methods.iter().map(|m| method(m)).collect::<Result<Vec<_>, _>>()?;
    let path_prefixes = doc.path_prefixes.iter().map(|p| prefix(p)).collect::<Result<Vec<_>, _>>()?;
    let port = doc.port.unwrap_or(doc.scheme.default_port());
    if port == 0 {
        return invalid(format!("rule for {host}: port 0"));
    }
    Ok(Rule { scheme: doc.scheme, host, port, methods, path_prefixes })
}

fn secret(doc: SecretDoc) -> Result<SecretDecl, PolicyError> {
    if doc.name.is_empty()
        || doc.name.len() > MAX_NAME_BYTES
        || !doc.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return invalid(format!("secret name {:?}: 1 to {MAX_NAME_BYTES} of [A-Za-z0-9_-]", doc.name));
    }
    let placement = match (doc.header, doc.query) {
        (Some(h), None) => {
            let name = HeaderName::from_bytes(h.to_ascii_lowercase().as_bytes())
                .map_err(|_| PolicyError::Invalid(format!("secret {}: bad header name {h:?}", doc.name)))?;
            if crate::proxy::is_hop_by_hop(&name) || name == http::header::HOST {
                return invalid(format!("secret {}: header {name} is set by the proxy", doc.name));
            }
            Placement::Header(name)
        }
        (None, Some(q)) if !q.is_empty() && q.len() <= MAX_NAME_BYTES && q.bytes().all(is_query_name_byte) => {
            Placement::Query(q)
        }
        _ => return invalid(format!("secret {}: exactly one of header or query (a plain name)", doc.name)),
    };
    Ok(SecretDecl { host: host(&doc.host)?, path_prefix: prefix(&doc.path_prefix)?, name: doc.name, placement })
}

fn is_query_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

/// An exact DNS name, lower-cased, without a trailing dot. Refuses IP literals, and names whose
/// last label does not start with a letter (`2130706433`, `0x7f.1`: forms a libc resolver
/// would read as addresses).
pub fn host(raw: &str) -> Result<String, PolicyError> {
    let host = raw.strip_suffix('.').unwrap_or(raw).to_ascii_lowercase();
    if host.parse::<IpAddr>().is_ok() || host.starts_with('[') {
        return invalid(format!("host {raw:?} is an IP literal"));
    }
    if host.is_empty() || host.len() > MAX_HOST_BYTES {
        return invalid(format!("host {raw:?}: 1 to {MAX_HOST_BYTES} bytes"));
    }
    for label in host.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return invalid(format!("host {raw:?} is not a DNS name (no wildcards)"));
        }
    }
    if !host.rsplit('.').next().is_some_and(|tld| tld.starts_with(|c: char| c.is_ascii_alphabetic())) {
        return invalid(format!("host {raw:?}: last label must start with a letter"));
    }
    Ok(host)
}

fn method(raw: &str) -> Result<Method, PolicyError> {
    match raw.to_ascii_uppercase().as_str() {
        m @ ("GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS") => {
            Method::from_bytes(m.as_bytes()).map_err(|e| PolicyError::Invalid(e.to_string()))
        }
        _ => invalid(format!("method {raw:?} is not one of GET HEAD POST PUT PATCH DELETE OPTIONS")),
    }
}

fn prefix(raw: &str) -> Result<String, PolicyError> {
    if raw.contains(['?', '#']) || path::check(raw).is_err() {
        return invalid(format!("path prefix {raw:?} must be a plain absolute path"));
    }
    Ok(raw.to_owned())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn policy() -> Policy {
        Policy::from_json(&json!({
            "rules": [{ "scheme": "https", "host": "API.Example.com.", "methods": ["get", "POST"],
                        "pathPrefixes": ["/v1/"] }],
            "secrets": [{ "name": "key", "host": "api.example.com", "pathPrefix": "/v1/", "header": "X-Key" }]
        }))
        .expect("valid")
    }

    fn req<'a>(host: &'a str, method: &'a Method, path: &'a str) -> Request<'a> {
        Request { scheme: Scheme::Https, host, port: 443, method, path }
    }

    #[test]
    fn parses_and_normalises() {
        let p = policy();
        assert_eq!(p.rules[0].host, "api.example.com");
        assert_eq!(p.rules[0].port, 443);
        assert_eq!(p.rules[0].methods, vec![Method::GET, Method::POST]);
        assert_eq!(p.secrets[0].placement, Placement::Header(HeaderName::from_static("x-key")));
    }

    #[test]
    fn allows_names_the_first_failing_part() {
        let p = policy();
        assert!(p.allows(&req("api.example.com", &Method::GET, "/v1/x")).is_ok());
        assert!(matches!(p.allows(&req("evil.com", &Method::GET, "/v1/x")), Err(Refusal::HostNotAllowed(_))));
        let mut r = req("api.example.com", &Method::GET, "/v1/x");
        r.port = 8443;
        assert!(matches!(p.allows(&r), Err(Refusal::SchemeOrPortNotAllowed { .. })));
        r = req("api.example.com", &Method::DELETE, "/v1/x");
        assert!(matches!(p.allows(&r), Err(Refusal::MethodNotAllowed { .. })));
        r = req("api.example.com", &Method::GET, "/v2/x");
        assert!(matches!(p.allows(&r), Err(Refusal::PathNotAllowed { .. })));
        r = req("api.example.com", &Method::GET, "/v1/../admin");
        assert!(matches!(p.allows(&r), Err(Refusal::AmbiguousPath { .. })));
    }

    #[test]
    fn strict_parsing_refuses_bad_documents() {
        let bad = [
            json!({ "rules": [], "extra": 1 }),
            json!({ "rules": [{ "scheme": "ftp", "host": "a.com", "methods": ["GET"], "pathPrefixes": ["/"] }] }),
            json!({ "rules": [{ "scheme": "http", "host": "*.a.com", "methods": ["GET"], "pathPrefixes": ["/"] }] }),
            json!({ "rules": [{ "scheme": "http", "host": "10.0.0.1", "methods": ["GET"], "pathPrefixes": ["/"] }] }),
            json!({ "rules": [{ "scheme": "http", "host": "0x7f.1", "methods": ["GET"], "pathPrefixes": ["/"] }] }),
            json!({ "rules": [{ "scheme": "http", "host": "[::1]", "methods": ["GET"], "pathPrefixes": ["/"] }] }),
            json!({ "rules": [{ "scheme": "http", "host": "a.com", "methods": ["CONNECT"], "pathPrefixes": ["/"] }] }),
            json!({ "rules": [{ "scheme": "http", "host": "a.com", "methods": ["GET"], "pathPrefixes": ["v1"] }] }),
            json!({ "rules": [{ "scheme": "http", "host": "a.com", "methods": ["GET"], "pathPrefixes": ["/a/../b"] }] }),
            json!({ "rules": [{ "scheme": "http", "host": "a.com", "methods": ["GET"], "pathPrefix": ["/"] }] }),
            json!({ "rules": [{ "scheme": "http", "host": "a.com", "methods": [], "pathPrefixes": ["/"] }] }),
            json!({ "rules": [], "secrets": [{ "name": "k", "host": "a.com", "pathPrefix": "/", "header": "x" }] }),
            json!({ "rules": [{ "scheme": "http", "host": "a.com", "methods": ["GET"], "pathPrefixes": ["/"] }],
                    "secrets": [{ "name": "k", "host": "a.com", "pathPrefix": "/", "header": "x", "query": "k" }] }),
            json!({ "rules": [{ "scheme": "http", "host": "a.com", "methods": ["GET"], "pathPrefixes": ["/"] }],
                    "secrets": [{ "name": "k", "host": "a.com", "pathPrefix": "/", "header": "connection" }] }),
        ];
        for doc in bad {
            assert!(Policy::from_json(&doc).is_err(), "{doc}");
        }
        let many: Vec<_> = (0..=MAX_RULES)
            .map(
                |i| json!({ "scheme": "http", "host": format!("h{i}.com"), "methods": ["GET"], "pathPrefixes": ["/"] }),
            )
            .collect();
        assert!(Policy::from_json(&json!({ "rules": many })).is_err());
    }
}
