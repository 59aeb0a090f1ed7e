//! The proxy: an HTTP/1.1 server on one Unix socket per execution, forwarding what the policy
//! allows and refusing the rest with a short plain-text HTTP error and a [`CallRecord`].
//!
//! [`Egress`] is built once per relayer (operator config, resolver, TLS roots); [`Egress::session`]
//! binds it to one execution (its [`Policy`], budget and record channel) and [`Session::serve`]
//! runs it on the socket mounted into that execution's container. Dropping the `serve` future
//! closes every connection of the session: the relayer ties the proxy's life to the container's.
//!
//! Only absolute-form targets (`GET https://host/path`) are served: origin-form has no host to
//! check, and CONNECT would hide the requests the policy and key injection must see. Request
//! bodies are read whole (bounded by the bytes-out budget) and sent with a `Content-Length`,
//! so the upstream never sees the agent's framing; hop-by-hop headers are stripped both ways.

use std::convert::Infallible;
use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rustls::pki_types::CertificateDer;
use tokio::io::AsyncWriteExt;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::{Instant, timeout_at};
use tokio_rustls::TlsConnector;

use crate::address::{AddressFilter, Resolver};
use crate::budget::{Budget, Meter};
use crate::framing::{self, MAX_HEAD_BYTES, Prefixed};
use crate::policy::{Policy, Scheme};
use crate::record::{CallRecord, Outcome, Recorder};
use crate::route::{Origin, Routes};
use crate::secrets::{self, Bound, SecretError, Secrets};
use crate::upstream::{self, BodyError, Metered, elapsed_ms};
use crate::{EgressError, Refusal};

/// What the agent receives.
pub type ProxyBody = BoxBody<Bytes, BodyError>;

/// The operator's side of egress (the relayer config).
#[derive(Debug, Clone, Default)]
pub struct EgressConfig {
    /// The ceiling of every execution's budget.
    pub budget: Budget,
    /// Exact addresses exempt from the blocked ranges (`make dev`, tests: 127.0.0.1).
    pub allow_addresses: Vec<IpAddr>,
    /// Trusted in addition to the webpki roots (sandbox upstreams with their own CA).
    pub extra_roots: Vec<CertificateDer<'static>>,
    pub secrets: Secrets,
    /// Where to connect for an allowed origin (`make dev`, tests: real hosts to sandboxes).
    pub routes: Routes,
}

struct Shared {
    budget: Budget,
    filter: AddressFilter,
    resolver: Arc<dyn Resolver>,
    tls: TlsConnector,
    secrets: Secrets,
    routes: Routes,
}

/// The relayer's egress proxy; cheap to clone.
#[derive(Clone)]
pub struct Egress(Arc<Shared>);

impl Egress {
    pub fn new(config: EgressConfig, resolver: Arc<dyn Resolver>) -> Result<Self, EgressError> {
        Ok(Self(Arc::new(Shared {
            budget: config.budget,
            filter: AddressFilter::new(config.allow_addresses),
            resolver,
            tls: upstream::tls_connector(&config.extra_roots)?,
            secrets: config.secrets,
            routes: config.routes,
        })))
    }

    /// One execution's proxy. Its budget starts now (total time counts from here). Fails when
    /// the policy names a secret the operator has not configured.
    pub fn session(&self, policy: Policy, records: mpsc::Sender<CallRecord>) -> Result<Session, SecretError> {
        let bound = secrets::bind(&policy.secrets, &self.0.secrets)?;
        let budget = self.0.budget.lowered_by(&policy.budget);
        Ok(Session(Arc::new(Ctx {
            shared: self.0.clone(),
            policy,
            bound,
            meter: Arc::new(Meter::new(budget)),
            recorder: Recorder::new(records),
        })))
    }
}

struct Ctx {
    shared: Arc<Shared>,
    policy: Policy,
    bound: Vec<Bound>,
    meter: Arc<Meter>,
    recorder: Recorder,
}

/// One execution's proxy.
#[derive(Clone)]
pub struct Session(Arc<Ctx>);

impl Session {
    /// The effective budget (operator's, lowered by the metadata).
    pub fn budget(&self) -> Budget {
        *self.0.meter.budget()
    }

    /// Records that could not be queued (see [`Recorder::dropped`]).
    pub fn dropped_records(&self) -> u64 {
        self.0.recorder.dropped()
    }

    /// Serves the agent's connections until the future is dropped or accepting fails. At most
    /// [`MAX_CONNECTIONS`] at once: a connection past that is closed at once, so an agent
    /// opening sockets in a loop costs the relayer file descriptors only up to the cap.
    pub async fn serve(self, listener: UnixListener) -> io::Result<()> {
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let (stream, _) = accepted?;
                    if connections.len() < MAX_CONNECTIONS {
                        connections.spawn(connection(self.0.clone(), stream));
                    }
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
    }
}

/// Concurrent agent connections per session (one request each).
pub const MAX_CONNECTIONS: usize = 16;

async fn connection(ctx: Arc<Ctx>, mut stream: UnixStream) {
    let started = Instant::now();
    // An agent that connects and says nothing holds a slot only until the request timeout.
    let Ok(Ok(Some((buffered, head)))) = timeout_at(ctx.meter.next_deadline(), framing::read_head(&mut stream)).await
    else {
        return;
    };
    if let Err(refusal) = head.verdict {
        // Counted like any request: a smuggling loop is a loop.
        let _ = ctx.meter.start_request();
        let (host, path) = target_parts(&head.target);
        ctx.recorder.record(record(head.method, host, path, Outcome::Refused(refusal.clone()), 0, started));
        let _ = stream.write_all(&raw_refusal(&refusal)).await;
        let _ = stream.shutdown().await;
        return;
    }
    let served = Arc::new(AtomicBool::new(false));
    let service = {
        let (ctx, served) = (ctx.clone(), served.clone());
        service_fn(move |request| {
            served.store(true, Ordering::Relaxed);
            handle(ctx.clone(), request)
        })
    };
    let connection = hyper::server::conn::http1::Builder::new()
        .keep_alive(false)
        .max_buf_size(MAX_HEAD_BYTES)
        .serve_connection(TokioIo::new(Prefixed::new(buffered, stream)), service);
    // An agent that stops reading its response stalls the body's own deadline (it is only
    // checked when polled): the session's end bounds the connection regardless.
    let Ok(result) = timeout_at(ctx.meter.session_end(), connection).await else {
        return;
    };
    if let Err(e) = result
        && !served.load(Ordering::Relaxed)
    {
        // hyper refused the head itself (and answered 400): still one call to record.
        let _ = ctx.meter.start_request();
        let (host, path) = target_parts(&head.target);
        ctx.recorder.record(record(
            head.method,
            host,
            path,
            Outcome::Refused(Refusal::Malformed(e.to_string())),
            0,
            started,
        ));
    }
}

async fn handle(ctx: Arc<Ctx>, request: Request<Incoming>) -> Result<Response<ProxyBody>, Infallible> {
    let started = Instant::now();
    let method = request.method().to_string();
    let (host, path) = (request.uri().host().unwrap_or("-").to_ascii_lowercase(), request.uri().path().to_owned());
    let mut bytes_out = 0;
    let result = match ctx.meter.start_request() {
        Ok(deadline) => forward(&ctx, request, deadline, started, &mut bytes_out).await,
        Err(refusal) => Err(refusal),
    };
    Ok(match result {
        Ok(response) => response,
        Err(refusal) => {
            ctx.recorder.record(record(method, host, path, Outcome::Refused(refusal.clone()), bytes_out, started));
            refusal_response(&refusal)
        }
    })
}

/// A request target the policy allowed (host lower-cased, path checked).
struct Target {
    origin: Origin,
    method: Method,
    path: String,
    query: Option<String>,
}

/// Checks the request line: absolute-form http(s), no userinfo, no IP literal, allowed by policy.
fn target(policy: &Policy, request: &Request<Incoming>) -> Result<Target, Refusal> {
    if request.method() == Method::CONNECT {
        return Err(Refusal::Connect);
    }
    let uri = request.uri();
    let scheme = uri.scheme_str().and_then(Scheme::parse).ok_or(Refusal::NotAbsoluteForm)?;
    let authority = uri.authority().ok_or(Refusal::NotAbsoluteForm)?;
    if authority.as_str().contains('@') {
        return Err(Refusal::Malformed("userinfo in the URL".into()));
    }
    let raw_host = authority.host();
    if raw_host.starts_with('[') || raw_host.parse::<IpAddr>().is_ok() {
        return Err(Refusal::IpLiteral(raw_host.to_owned()));
    }
    let host = raw_host.strip_suffix('.').unwrap_or(raw_host).to_ascii_lowercase();
    let port = uri.port_u16().unwrap_or(scheme.default_port());
    let method = request.method().clone();
    policy.allows(&crate::policy::Request { scheme, host: &host, port, method: &method, path: uri.path() })?;
    let origin = Origin { scheme, host, port };
    Ok(Target { origin, method, path: uri.path().to_owned(), query: uri.query().map(str::to_owned) })
}

/// Reads the agent's body whole, within the bytes-out budget left and the deadline.
async fn read_body(ctx: &Ctx, headers: &HeaderMap, body: Incoming, deadline: Instant) -> Result<Bytes, Refusal> {
    let left = ctx.meter.bytes_out_left();
    let over = || Refusal::BytesOut(ctx.meter.budget().bytes_out);
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > left) {
        return Err(over());
    }
    let collected = timeout_at(deadline, Limited::new(body, usize::try_from(left).unwrap_or(usize::MAX)).collect())
        .await
        .map_err(|_| ctx.meter.timeout_refusal())?;
    match collected {
        Ok(body) => Ok(body.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(over()),
        Err(e) => Err(Refusal::Malformed(format!("request body: {e}"))),
    }
}

/// Turns the agent's head into the upstream's: hop-by-hop headers out, secrets in (decided on
/// the agent's target), origin-form target, `Host` of the origin connected to (`via`: the
/// target or its route), the body's exact length, `Connection: close`.
fn upstream_head(
    ctx: &Ctx,
    target: &Target,
    via: &Origin,
    parts: &mut http::request::Parts,
    body_len: usize,
) -> Result<(), Refusal> {
    let headers = &mut parts.headers;
    strip_hop_by_hop(headers);
    headers.remove(header::HOST);
    headers.remove(header::CONTENT_LENGTH);
    // The body is already read whole: an upstream's `100 Continue` would have nothing to gate.
    headers.remove(header::EXPECT);
    let query = secrets::inject(&ctx.bound, &target.origin.host, &target.path, target.query.as_deref(), parts);
    let origin_form = match &query {
        Some(q) => format!("{}?{q}", target.path),
        None => target.path.clone(),
    };
    parts.uri = Uri::try_from(origin_form).map_err(|e| Refusal::Malformed(e.to_string()))?;
    let Origin { scheme, host, port } = via;
    let host = if host.contains(':') { format!("[{host}]") } else { host.clone() };
    let host_header = if *port == scheme.default_port() { host } else { format!("{host}:{port}") };
    let host_header = HeaderValue::try_from(host_header).map_err(|e| Refusal::Malformed(e.to_string()))?;
    parts.headers.insert(header::HOST, host_header);
    if body_len > 0 || matches!(target.method, Method::POST | Method::PUT | Method::PATCH) {
        parts.headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body_len));
    }
    parts.headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    Ok(())
}

async fn forward(
    ctx: &Ctx,
    request: Request<Incoming>,
    deadline: Instant,
    started: Instant,
    bytes_out: &mut u64,
) -> Result<Response<ProxyBody>, Refusal> {
    let target = target(&ctx.policy, &request)?;
    let (mut parts, body) = request.into_parts();
    let body = read_body(ctx, &parts.headers, body, deadline).await?;
    let via = &ctx.shared.routes.connect_to(&target.origin).clone();
    upstream_head(ctx, &target, via, &mut parts, body.len())?;

    // A route's destination may be an address (the sandbox's 127.0.0.1); a name is resolved
    // here, once, and the connection goes to the address the filter approved.
    let addresses = match via.host.parse::<IpAddr>() {
        Ok(ip) => vec![std::net::SocketAddr::new(ip, via.port)],
        Err(_) => timeout_at(deadline, ctx.shared.resolver.resolve(&via.host, via.port))
            .await
            .map_err(|_| ctx.meter.timeout_refusal())?
            .map_err(|e| Refusal::Upstream(format!("resolve {}: {e}", via.host)))?,
    };
    let address = ctx.shared.filter.pick(&via.host, &addresses)?;
    // Spent only once the request is about to leave: refusals up to here cost a request, not bytes.
    let size = head_len(&parts.method, &parts.uri, &parts.headers) + body.len() as u64;
    ctx.meter.take_out(size)?;
    *bytes_out = size;
    let upstream_request = Request::from_parts(parts, Full::new(body));
    let response =
        upstream::send(&ctx.shared.tls, via.scheme, &via.host, address, upstream_request, deadline, &ctx.meter).await?;

    let (mut parts, body) = response.into_parts();
    if let Some(length) = parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        && length > ctx.meter.bytes_in_left()
    {
        return Err(Refusal::BytesIn(ctx.meter.budget().bytes_in));
    }
    // Headers plus a status line ("HTTP/1.1 200 OK\r\n" is 17 bytes).
    let head_in = parts.headers.iter().map(|(n, v)| (n.as_str().len() + v.len() + 4) as u64).sum::<u64>() + 17;
    ctx.meter.take_in(head_in)?;
    strip_hop_by_hop(&mut parts.headers);
    let pending = CallRecord {
        method: target.method.to_string(),
        host: target.origin.host,
        path: target.path,
        outcome: Outcome::Status(parts.status.as_u16()),
        bytes_out: size,
        bytes_in: head_in,
        ms: 0,
    };
    let body = Metered::new(body, ctx.meter.clone(), deadline, pending, started, ctx.recorder.clone());
    Ok(Response::from_parts(parts, BoxBody::new(body)))
}

/// Headers that describe one connection, not the message (RFC 9110 7.6.1), plus the ones the
/// headers named in `Connection` declare so. A proxy must not forward them.
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
];

/// Whether `name` is one of the fixed hop-by-hop headers (or `Upgrade`).
pub fn is_hop_by_hop(name: &HeaderName) -> bool {
    HOP_BY_HOP.contains(name) || name == header::UPGRADE
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for name in named.iter().chain(HOP_BY_HOP.iter()).chain([&header::UPGRADE]) {
        headers.remove(name);
    }
}

/// Bytes of a request head on the wire (request line and headers).
fn head_len(method: &Method, uri: &Uri, headers: &HeaderMap) -> u64 {
    let line = method.as_str().len() + uri.to_string().len() + 12;
    (line + headers.iter().map(|(n, v)| n.as_str().len() + v.len() + 4).sum::<usize>() + 2) as u64
}

/// Host and path of a raw request target, for records of requests refused before parsing.
fn target_parts(target: &str) -> (String, String) {
    match target.parse::<Uri>() {
        Ok(uri) => (uri.host().unwrap_or("-").to_ascii_lowercase(), uri.path().to_owned()),
        Err(_) => ("-".into(), target.chars().take(64).collect()),
    }
}

fn record(
    method: String,
    host: String,
    path: String,
    outcome: Outcome,
    bytes_out: u64,
    started: Instant,
) -> CallRecord {
    CallRecord { method, host, path, outcome, bytes_out, bytes_in: 0, ms: elapsed_ms(started) }
}

fn refusal_text(refusal: &Refusal) -> String {
    format!("egress refused: {refusal}\n")
}

/// The agent's error: status, a one-line plain-text reason, `x-nexus-egress: refused`, and
/// `Connection: close` (after a refusal the connection's state is not worth trusting).
fn refusal_response(refusal: &Refusal) -> Response<ProxyBody> {
    let mut response =
        Response::new(BoxBody::new(Full::new(Bytes::from(refusal_text(refusal))).map_err(|e| match e {})));
    *response.status_mut() = refusal.status();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    headers.insert(REFUSED.0, HeaderValue::from_static(REFUSED.1));
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Marks the proxy's own errors, so an agent can tell them from an upstream's.
pub const REFUSED: (HeaderName, &str) = (HeaderName::from_static("x-nexus-egress"), "refused");

/// The same response written by hand, for requests refused before hyper sees them.
fn raw_refusal(refusal: &Refusal) -> Vec<u8> {
    let body = refusal_text(refusal);
    let status: StatusCode = refusal.status();
    format!(
        "HTTP/1.1 {} {}\r\ncontent-type: text/plain; charset=utf-8\r\n{}: {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        REFUSED.0,
        REFUSED.1,
        body.len(),
    )
    .into_bytes()
}
