//! Posting a signed typed-data proposal to the venue that asked for it (`submitTo`): which URLs
//! a signature may go to, the operator's routes, and a bounded exchange.
//!
//! Where a signature may go: `https://` only, or `http://` to a loopback IP literal
//! (`127.0.0.0/8`, `::1`: `make dev`'s sandbox upstreams and tests). Plain http to anything
//! else would hand the signed order to whoever sits on the path. A host *name* such as
//! `localhost` is not taken as loopback: it is resolved by the system, which a hostile
//! `/etc/hosts` or search domain can point elsewhere, and the sandbox is addressed by IP anyway.
//!
//! Routes: an agent names the real venue (`https://api.hyperliquid.xyz/exchange`), as its
//! metadata's network policy does; `make dev` and tests serve that API from a sandbox. A route
//! (`--submit-route https://api.hyperliquid.xyz=http://127.0.0.1:18701`, the same form as the
//! relayer's `[relayer.egress.routes]`) replaces the origin and keeps the path and query; the
//! routed URL must pass the same rule. Both URLs are shown before the user confirms.
//!
//! The exchange: no redirects (a 307 would re-send the signed body to a host nobody approved),
//! a timeout on the whole request, and the answer read up to [`MAX_ANSWER_BYTES`]; it is the
//! venue's text, printed by the caller through `terminal::Untrusted`.

use std::net::IpAddr;
use std::time::Duration;

use reqwest::Url;
use serde_json::Value;

use super::api::without_url;

/// How long connecting, sending and reading the venue's answer may take in all.
pub const SUBMIT_TIMEOUT: Duration = Duration::from_secs(30);
/// The most of the venue's answer that is read (and shown): an order status is a few hundred
/// bytes; more is cut, not buffered.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Why a proposal's `submitTo` cannot be used, or the exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("submitTo {url} is not a URL: {reason}")]
    BadUrl { url: String, reason: String },
    #[error(
        "refusing to send a signature to {url}: only https, or http to a loopback address (127.0.0.1, ::1), is allowed"
    )]
    Insecure { url: String },
    #[error("the submit route {0} is not ORIGIN=ORIGIN (e.g. https://api.hyperliquid.xyz=http://127.0.0.1:18701)")]
    BadRoute(String),
    #[error("posting to {url}: {reason}")]
    Transport { url: String, reason: String },
}

/// One `--submit-route FROM=TO`: requests for origin `from` go to origin `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    from: String,
    to: Url,
}

impl std::str::FromStr for Route {
    type Err = SubmitError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || SubmitError::BadRoute(s.to_string());
        let (from, to) = s.split_once('=').ok_or_else(bad)?;
        let (from, to) = (Url::parse(from.trim()).map_err(|_| bad())?, Url::parse(to.trim()).map_err(|_| bad())?);
        // Origins only: a path on either side would make "what replaces what" ambiguous.
        for u in [&from, &to] {
            if !matches!(u.path(), "" | "/") || u.query().is_some() || !u.has_host() {
                return Err(bad());
            }
        }
        Ok(Route { from: from.origin().ascii_serialization(), to })
    }
}

/// Where a signature will be posted: the proposal's URL and, when a route applies, the routed one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `submitTo` as the agent wrote it (normalised).
    pub named: Url,
    /// What is actually contacted (`named` unless routed).
    pub contacted: Url,
}

impl Target {
    /// Resolves `submit_to` through `routes`, checking both URLs against the transport rule.
    pub fn resolve(submit_to: &str, routes: &[Route]) -> Result<Target, SubmitError> {
        let named = Url::parse(submit_to)
            .map_err(|e| SubmitError::BadUrl { url: submit_to.to_string(), reason: e.to_string() })?;
        check_secure(&named)?;
        let origin = named.origin().ascii_serialization();
        let contacted = match routes.iter().find(|r| r.from == origin) {
            None => named.clone(),
            Some(route) => {
                let mut routed = route.to.clone();
                routed.set_path(named.path());
                routed.set_query(named.query());
                routed
            }
        };
        check_secure(&contacted)?;
        Ok(Target { named, contacted })
    }

    /// "URL" or "URL (routed from URL)", for the confirmation view.
    pub fn describe(&self) -> String {
        if self.named == self.contacted {
            self.named.to_string()
        } else {
            format!("{} (routed from {})", self.contacted, self.named)
        }
    }
}

/// https anywhere, http only to a loopback IP literal.
fn check_secure(url: &Url) -> Result<(), SubmitError> {
    // `host_str` writes an IPv6 literal in brackets; a name does not parse as an address.
    let loopback = url
        .host_str()
        .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
        .and_then(|h| h.parse::<IpAddr>().ok())
        .is_some_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(SubmitError::Insecure { url: url.to_string() }),
    }
}

/// What the venue answered.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    /// The body as text (lossy UTF-8), at most [`MAX_ANSWER_BYTES`].
    pub body: String,
    /// Whether the body was longer and cut.
    pub truncated: bool,
}

/// POSTs `body` as JSON to `target.contacted`, bounded by [`SUBMIT_TIMEOUT`] and
/// [`MAX_ANSWER_BYTES`].
pub async fn post(target: &Target, body: &Value) -> Result<Answer, SubmitError> {
    let url = target.contacted.clone();
    let fail = |e: reqwest::Error| SubmitError::Transport { url: url.to_string(), reason: without_url(&e) };
    let client = reqwest::Client::builder()
        .timeout(SUBMIT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(fail)?;
    let mut response = client.post(url.clone()).json(body).send().await.map_err(fail)?;
    let status = response.status().as_u16();
    let mut bytes = Vec::new();
    let mut truncated = false;
    while let Some(chunk) = response.chunk().await.map_err(fail)? {
        let room = MAX_ANSWER_BYTES - bytes.len();
        if chunk.len() > room {
            bytes.extend_from_slice(&chunk[..room]);
            truncated = true;
            break;
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Answer { status, body: String::from_utf8_lossy(&bytes).into_owned(), truncated })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(s: &str) -> Route {
        s.parse().expect("route")
    }

    #[test]
    fn only_https_or_loopback_http_may_receive_a_signature() {
        for ok in ["https://api.hyperliquid.xyz/exchange", "http://127.0.0.1:18701/exchange", "http://[::1]:9/x"] {
            assert!(Target::resolve(ok, &[]).is_ok(), "{ok}");
        }
        for bad in [
            "http://api.hyperliquid.xyz/exchange",
            "http://localhost:18701/exchange",
            "http://10.0.0.1/exchange",
            "ftp://127.0.0.1/x",
            "file:///etc/passwd",
        ] {
            assert!(matches!(Target::resolve(bad, &[]), Err(SubmitError::Insecure { .. })), "{bad}");
        }
        assert!(matches!(Target::resolve("exchange", &[]), Err(SubmitError::BadUrl { .. })));
    }

    #[test]
    fn routes_replace_the_origin_and_keep_path_and_query() {
        let routes = [route("https://api.hyperliquid.xyz=http://127.0.0.1:18701")];
        let t = Target::resolve("https://api.hyperliquid.xyz/exchange?x=1", &routes).expect("routed");
        assert_eq!(t.contacted.as_str(), "http://127.0.0.1:18701/exchange?x=1");
        assert_eq!(t.named.as_str(), "https://api.hyperliquid.xyz/exchange?x=1");
        assert_eq!(
            t.describe(),
            "http://127.0.0.1:18701/exchange?x=1 (routed from https://api.hyperliquid.xyz/exchange?x=1)"
        );
        // Another origin (port differs) is not routed.
        let t = Target::resolve("https://api.hyperliquid.xyz:444/exchange", &routes).expect("not routed");
        assert_eq!(t.contacted, t.named);
        // A route to plain http elsewhere is refused like a submitTo would be.
        let routes = [route("https://api.hyperliquid.xyz=http://192.168.1.5")];
        assert!(matches!(
            Target::resolve("https://api.hyperliquid.xyz/exchange", &routes),
            Err(SubmitError::Insecure { .. })
        ));
    }

    #[test]
    fn routes_are_origins() {
        for bad in ["https://a.example", "https://a.example=", "https://a.example/x=http://127.0.0.1", "x=y"] {
            assert!(bad.parse::<Route>().is_err(), "{bad}");
        }
        assert_eq!(route("https://a.example/=http://127.0.0.1:1/").from, "https://a.example");
    }
}
