//! Operator routes: where the proxy connects for an origin the policy allowed.
//!
//! Agents and their curated metadata name the real services (`https://api.hyperliquid.xyz`).
//! Tests and `make dev` have no internet, so the operator routes such an origin to a stand-in
//! (`http://127.0.0.1:18701`, a sandbox upstream); switching an agent to the real service is
//! deleting the route, with no change to the agent or its listing.
//!
//! Everything the agent and the curator can see is decided on the agent's URL: the policy, the
//! budget and which secret goes to which host and path. A route only changes the connection
//! (address, scheme, TLS name and `Host` header). The routed address still passes the address
//! filter, so routing to loopback needs `allow_addresses` too: a route alone never opens a
//! private address.
//!
//! Rejected: rewriting the agent's metadata for dev (the listing would differ between dev and
//! production, and the curator approves the real hosts), and a resolver override mapping the
//! real name to 127.0.0.1 (it cannot change the port or drop TLS, which the sandbox needs).

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use crate::policy::{self, Scheme};

/// Scheme, host and port: where a request goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    pub scheme: Scheme,
    /// Lower-case DNS name, or an IP address (allowed in a route's destination only).
    pub host: String,
    pub port: u16,
}

/// Why a route in the operator's config is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid origin {origin:?}: {reason}")]
pub struct OriginError {
    pub origin: String,
    pub reason: &'static str,
}

impl Origin {
    fn parse(raw: &str, ip_allowed: bool) -> Result<Self, OriginError> {
        let error = |reason| OriginError { origin: raw.to_owned(), reason };
        let (scheme, rest) = raw.split_once("://").ok_or_else(|| error("expected scheme://host[:port]"))?;
        let scheme = Scheme::parse(scheme).ok_or_else(|| error("the scheme must be http or https"))?;
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty() || authority.contains(['/', '?', '#', '@']) {
            return Err(error("an origin has no path, query, fragment or userinfo"));
        }
        let (host, port) = split_port(authority).ok_or_else(|| error("invalid port"))?;
        let host = if let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
            if !ip_allowed {
                return Err(error("the routed origin must be a DNS name, as in the agent's policy"));
            }
            ip.to_string()
        } else {
            policy::host(host).map_err(|_| error("invalid host name"))?
        };
        Ok(Origin { scheme, host, port: port.unwrap_or(scheme.default_port()) })
    }
}

/// `host[:port]`, with `[v6]:port` kept whole.
fn split_port(authority: &str) -> Option<(&str, Option<u16>)> {
    let colon = match authority.rfind(':') {
        Some(i) if !authority[i..].contains(']') => i,
        _ => return Some((authority, None)),
    };
    let port = authority[colon + 1..].parse::<u16>().ok().filter(|p| *p != 0)?;
    Some((&authority[..colon], Some(port)))
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        if self.port == self.scheme.default_port() {
            write!(f, "{}://{host}", self.scheme.as_str())
        } else {
            write!(f, "{}://{host}:{}", self.scheme.as_str(), self.port)
        }
    }
}

/// An origin as an agent names it: a DNS name, never an IP address.
impl FromStr for Origin {
    type Err = OriginError;
    fn from_str(raw: &str) -> Result<Self, OriginError> {
        Origin::parse(raw, false)
    }
}

/// The operator's routes, `from` (a DNS origin) -> `to` (any origin, IP addresses included).
#[derive(Debug, Clone, Default)]
pub struct Routes(HashMap<Origin, Origin>);

impl Routes {
    /// Parses `(from, to)` pairs as the config spells them.
    pub fn parse<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, OriginError> {
        let mut routes = HashMap::new();
        for (from, to) in pairs {
            routes.insert(from.parse()?, Origin::parse(to, true)?);
        }
        Ok(Routes(routes))
    }

    /// Where to connect for `origin`: its route, or itself.
    pub fn connect_to<'a>(&'a self, origin: &'a Origin) -> &'a Origin {
        self.0.get(origin).unwrap_or(origin)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Origin, &Origin)> {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_origins() {
        let o: Origin = "https://API.Hyperliquid.xyz/".parse().unwrap();
        assert_eq!(o, Origin { scheme: Scheme::Https, host: "api.hyperliquid.xyz".into(), port: 443 });
        assert_eq!(o.to_string(), "https://api.hyperliquid.xyz");
        let o: Origin = "http://sandbox.test:18701".parse().unwrap();
        assert_eq!((o.port, o.to_string().as_str()), (18701, "http://sandbox.test:18701"));
    }

    #[test]
    fn refuses_what_is_not_an_origin() {
        for bad in [
            "api.example.com",
            "ftp://api.example.com",
            "https://api.example.com/v1",
            "https://user@api.example.com",
            "https://api.example.com:0",
            "https://api.example.com:99999",
            "https://api.example.com?x=1",
            "https://",
        ] {
            assert!(bad.parse::<Origin>().is_err(), "{bad}");
        }
        // The agent's side of a route is a name, as in a policy.
        assert!("http://127.0.0.1:8545".parse::<Origin>().is_err());
    }

    #[test]
    fn routes_change_only_the_listed_origin() {
        let routes = Routes::parse([
            ("https://api.hyperliquid.xyz", "http://127.0.0.1:18701"),
            ("https://rpc.example.org", "http://[::1]:8545"),
        ])
        .unwrap();
        let hl: Origin = "https://api.hyperliquid.xyz".parse().unwrap();
        let to = routes.connect_to(&hl);
        assert_eq!((to.scheme, to.host.as_str(), to.port), (Scheme::Http, "127.0.0.1", 18701));
        assert_eq!(routes.connect_to(&"https://rpc.example.org".parse().unwrap()).to_string(), "http://[::1]:8545");
        // Same host, other port or scheme: not routed.
        for other in ["https://api.hyperliquid.xyz:8443", "http://api.hyperliquid.xyz", "https://example.org"] {
            let o: Origin = other.parse().unwrap();
            assert_eq!(routes.connect_to(&o), &o);
        }
    }
}
