//! `nexus-egress`: the agents' one way out of `--network none`.
//!
//! An agent container has no network. The relayer mounts one Unix socket into it and serves this
//! proxy on it, one [`Session`] per execution: the agent sends plain HTTP/1.1 requests with
//! absolute URLs, and the proxy checks each against the agent's curated [`Policy`], resolves the
//! name itself and refuses non-public addresses ([`address`]), spends the execution's
//! [`Budget`], adds operator-held API keys where declared ([`secrets`]), makes the upstream
//! connection (TLS verified for https) and streams the answer back, emitting one
//! [`CallRecord`] per request for the execution log and metrics. See README.md for the threat
//! model.
//!
//! Modules, from the inside out: [`refusal`] (every "no" and its HTTP status), [`path`] (the
//! one-meaning path check), [`policy`] (metadata `network` section), [`budget`], [`address`],
//! [`secrets`], [`record`], [`route`] (operator routes to stand-ins), then the server ([`proxy`]) with its head pre-check (`framing`)
//! and its upstream client (`upstream`).

pub mod address;
pub mod budget;
mod framing;
pub mod path;
pub mod policy;
pub mod proxy;
pub mod record;
pub mod refusal;
pub mod roots;
pub mod route;
pub mod secrets;
mod upstream;

pub use address::{AddressFilter, Resolver, StaticResolver, SystemResolver};
pub use budget::{Budget, BudgetRequest};
pub use policy::{Policy, PolicyError};
pub use proxy::{Egress, EgressConfig, ProxyBody, Session};
pub use record::{CallRecord, Outcome};
pub use refusal::Refusal;
pub use roots::{RootsError, roots_from_pem};
pub use route::{Origin, OriginError, Routes};
pub use secrets::{SecretError, SecretValue, Secrets};
pub use upstream::BodyError;

/// Why the proxy cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum EgressError {
    #[error("TLS configuration: {0}")]
    Tls(#[source] rustls::Error),
}
