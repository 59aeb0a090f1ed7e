//! Why the proxy refused (or cut) a request, and the HTTP status the agent sees for it.
//!
//! One enum for every refusal so that the agent's HTTP error, the execution-log line and the
//! metrics label all come from the same value: a refusal cannot be shown one way and counted
//! another. The status codes are chosen so an agent can tell *who* said no without parsing
//! text:
//!
//! | status | meaning |
//! |---|---|
//! | 400 | the request itself is malformed or ambiguous (origin-form target, CL+TE, ...) |
//! | 403 | the policy or the address filter says no |
//! | 405 | CONNECT (no tunnels: the proxy must see every request) |
//! | 413 | the request would exceed the execution's bytes-out budget |
//! | 429 | the execution's request count or total time is spent |
//! | 502 | the upstream could not be reached or answered badly |
//! | 504 | the upstream did not finish within the per-request timeout |
//! | 507 | the response would exceed the execution's bytes-in budget |
//!
//! 507 ("Insufficient Storage") is a stretch of its WebDAV meaning, picked because no standard
//! code says "the response is too big for you" and 502 would blame the upstream for a limit
//! that is ours. Every refusal the proxy answers also carries `x-nexus-egress: refused`.

use std::net::IpAddr;

/// A request the proxy refused, or a response it cut short.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("malformed request: {0}")]
    Malformed(String),
    #[error("ambiguous framing: {0}")]
    AmbiguousFraming(&'static str),
    #[error("request target must be an absolute http(s) URL")]
    NotAbsoluteForm,
    #[error("CONNECT is not supported: send plain requests with absolute URLs")]
    Connect,
    #[error("host {0} is not in the agent's network policy")]
    HostNotAllowed(String),
    #[error("host {0} is an IP literal: policies name hosts")]
    IpLiteral(String),
    #[error("{scheme}://{host}:{port} is not in the agent's network policy")]
    SchemeOrPortNotAllowed { scheme: &'static str, host: String, port: u16 },
    #[error("method {method} is not allowed for {host}")]
    MethodNotAllowed { method: String, host: String },
    #[error("path {path} is not under an allowed prefix for {host}")]
    PathNotAllowed { path: String, host: String },
    #[error("path {path} is ambiguous ({why})")]
    AmbiguousPath { path: String, why: &'static str },
    #[error("{host} resolves only to blocked addresses ({address}: {range})")]
    BlockedAddress { host: String, address: IpAddr, range: &'static str },
    #[error("request budget spent ({0} requests)")]
    RequestCount(u32),
    #[error("time budget spent ({0} ms)")]
    TotalTime(u64),
    #[error("bytes-out budget exceeded ({0} bytes)")]
    BytesOut(u64),
    #[error("bytes-in budget exceeded ({0} bytes)")]
    BytesIn(u64),
    #[error("upstream did not answer within {0} ms")]
    Timeout(u64),
    #[error("upstream: {0}")]
    Upstream(String),
}

impl Refusal {
    /// The HTTP status the agent receives (see the module table).
    pub fn status(&self) -> http::StatusCode {
        use http::StatusCode as S;
        match self {
            Self::Malformed(_) | Self::AmbiguousFraming(_) | Self::NotAbsoluteForm => S::BAD_REQUEST,
            Self::Connect => S::METHOD_NOT_ALLOWED,
            Self::HostNotAllowed(_)
            | Self::IpLiteral(_)
            | Self::SchemeOrPortNotAllowed { .. }
            | Self::MethodNotAllowed { .. }
            | Self::PathNotAllowed { .. }
            | Self::AmbiguousPath { .. }
            | Self::BlockedAddress { .. } => S::FORBIDDEN,
            Self::RequestCount(_) | Self::TotalTime(_) => S::TOO_MANY_REQUESTS,
            Self::BytesOut(_) => S::PAYLOAD_TOO_LARGE,
            Self::BytesIn(_) => S::INSUFFICIENT_STORAGE,
            Self::Timeout(_) => S::GATEWAY_TIMEOUT,
            Self::Upstream(_) => S::BAD_GATEWAY,
        }
    }

    /// A short stable label for metrics (`egress_refusals_total{reason=...}`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::AmbiguousFraming(_) => "ambiguous_framing",
            Self::NotAbsoluteForm => "not_absolute_form",
            Self::Connect => "connect",
            Self::HostNotAllowed(_) => "host",
            Self::IpLiteral(_) => "ip_literal",
            Self::SchemeOrPortNotAllowed { .. } => "scheme_or_port",
            Self::MethodNotAllowed { .. } => "method",
            Self::PathNotAllowed { .. } => "path",
            Self::AmbiguousPath { .. } => "ambiguous_path",
            Self::BlockedAddress { .. } => "blocked_address",
            Self::RequestCount(_) => "budget_requests",
            Self::TotalTime(_) => "budget_time",
            Self::BytesOut(_) => "budget_bytes_out",
            Self::BytesIn(_) => "budget_bytes_in",
            Self::Timeout(_) => "timeout",
            Self::Upstream(_) => "upstream",
        }
    }
}
