//! Operator-held API keys: the agent names a secret in its metadata, the operator's config maps
//! the name to a value, and the proxy adds it to the requests it is declared for, on the way out.
//!
//! Injection happens only on a request whose host equals the declaration's host AND whose
//! (checked) path is under its prefix; nothing is injected anywhere else, so an agent cannot
//! make the proxy send the key to a host it controls. An agent-supplied header or query parameter
//! of the same name is removed first (replaced, never duplicated): with two `Authorization`
//! headers an upstream might read the agent's, and an agent could use a duplicate to probe how
//! the value is framed. The value's type redacts itself in `Debug` and `Display`, so a log line
//! or error built from a request or config cannot print it; header values are marked sensitive.

use std::collections::HashMap;
use std::fmt;

use http::HeaderValue;
use http::request::Parts;

use crate::path;
use crate::policy::{Placement, SecretDecl};

/// One secret value. Never printed: `Debug` and `Display` show `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(String);

impl SecretValue {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The value itself, for the one place that needs it (the outgoing request).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The operator's secrets by name (loaded by the relayer from files or the environment).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secrets(HashMap<String, SecretValue>);

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&String> = self.0.keys().collect();
        names.sort();
        f.debug_struct("Secrets").field("names", &names).finish()
    }
}

impl Secrets {
    pub fn insert(&mut self, name: impl Into<String>, value: SecretValue) {
        self.0.insert(name.into(), value);
    }
    pub fn get(&self, name: &str) -> Option<&SecretValue> {
        self.0.get(name)
    }
}

impl FromIterator<(String, SecretValue)> for Secrets {
    fn from_iter<T: IntoIterator<Item = (String, SecretValue)>>(iter: T) -> Self {
        Self(iter.into_iter().collect())
    }
}

/// Why a secret cannot be injected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("secret {0} is not configured by the operator")]
    Missing(String),
    #[error("secret {0} is not a valid header value")]
    NotAHeaderValue(String),
}

/// A declaration bound to its value, checked once when the session starts.
#[derive(Debug, Clone)]
pub(crate) struct Bound {
    decl: SecretDecl,
    header: Option<HeaderValue>,
    query: String,
}

/// Binds every declaration to the operator's value; a missing secret fails the whole session
/// (the relayer says so in the execution log) rather than sending requests without their key.
pub(crate) fn bind(decls: &[SecretDecl], secrets: &Secrets) -> Result<Vec<Bound>, SecretError> {
    decls
        .iter()
        .map(|decl| {
            let value = secrets.get(&decl.name).ok_or_else(|| SecretError::Missing(decl.name.clone()))?;
            let header = match &decl.placement {
                Placement::Header(_) => {
                    let mut v = HeaderValue::from_str(value.expose())
                        .map_err(|_| SecretError::NotAHeaderValue(decl.name.clone()))?;
                    v.set_sensitive(true);
                    Some(v)
                }
                Placement::Query(_) => None,
            };
            Ok(Bound { decl: decl.clone(), header, query: percent_encode(value.expose()) })
        })
        .collect()
}

/// Adds the secrets declared for `host` + `path` to the outgoing request: headers into
/// `parts.headers`, query parameters into the returned query (the agent's query otherwise).
pub(crate) fn inject(
    bound: &[Bound],
    host: &str,
    path: &str,
    query: Option<&str>,
    parts: &mut Parts,
) -> Option<String> {
    let mut query = query.map(str::to_owned);
    for b in bound.iter().filter(|b| b.decl.host == host && path::under(path, &b.decl.path_prefix)) {
        match (&b.decl.placement, &b.header) {
            (Placement::Header(name), Some(value)) => {
                // `insert` replaces every value the agent set under this name.
                parts.headers.insert(name.clone(), value.clone());
            }
            (Placement::Query(name), _) => {
                let kept = query
                    .as_deref()
                    .unwrap_or_default()
                    .split('&')
                    .filter(|pair| !pair.is_empty() && pair.split('=').next() != Some(name.as_str()))
                    .map(str::to_owned);
                let mut pairs: Vec<String> = kept.collect();
                pairs.push(format!("{name}={}", b.query));
                query = Some(pairs.join("&"));
            }
            (Placement::Header(_), None) => {}
        }
    }
    query
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use http::{HeaderName, Request};

    use super::*;

    fn decls() -> Vec<SecretDecl> {
        vec![
            SecretDecl {
                name: "h".into(),
                host: "api.test".into(),
                path_prefix: "/v1/".into(),
                placement: Placement::Header(HeaderName::from_static("authorization")),
            },
            SecretDecl {
                name: "q".into(),
                host: "api.test".into(),
                path_prefix: "/q".into(),
                placement: Placement::Query("key".into()),
            },
        ]
    }

    fn secrets() -> Secrets {
        [("h".to_owned(), SecretValue::new("Bearer s3cret")), ("q".to_owned(), SecretValue::new("a b&c"))]
            .into_iter()
            .collect()
    }

    #[test]
    fn values_never_print() {
        let s = secrets();
        assert!(!format!("{s:?}").contains("s3cret"));
        assert_eq!(format!("{}", SecretValue::new("x")), "<redacted>");
        assert!(matches!(bind(&decls(), &Secrets::default()), Err(SecretError::Missing(_))));
    }

    #[test]
    fn injected_only_on_host_and_prefix_and_replacing() {
        let bound = bind(&decls(), &secrets()).expect("bound");
        let parts = || {
            let (mut parts, ()) = Request::new(()).into_parts();
            parts.headers.append("authorization", HeaderValue::from_static("agent's own"));
            parts.headers.append("authorization", HeaderValue::from_static("second"));
            parts
        };
        let mut p = parts();
        inject(&bound, "api.test", "/v1/chat", None, &mut p);
        let values: Vec<_> = p.headers.get_all("authorization").iter().collect();
        assert_eq!(values, vec![&HeaderValue::from_static("Bearer s3cret")]);

        for (host, path) in [("other.test", "/v1/chat"), ("api.test", "/v2/chat"), ("api.test.evil", "/v1/x")] {
            let mut p = parts();
            inject(&bound, host, path, None, &mut p);
            assert!(p.headers.get_all("authorization").iter().all(|v| v != "Bearer s3cret"), "{host}{path}");
        }

        let mut p = parts();
        assert_eq!(
            inject(&bound, "api.test", "/q", Some("key=mine&x=1"), &mut p).as_deref(),
            Some("x=1&key=a%20b%26c")
        );
        assert_eq!(inject(&bound, "api.test", "/qq", Some("x=1"), &mut p).as_deref(), Some("x=1"));
    }
}
