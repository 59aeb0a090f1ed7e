//! The upstream side: connect to the address the filter approved, TLS with certificate
//! verification for https, one HTTP/1.1 exchange, and the response body metered as it streams.
//!
//! One connection per request, closed after it (no pool): an execution makes few calls, and a
//! pool would have to be keyed by execution anyway so that no connection (and no TLS session)
//! is shared across agents. The server name verified is the policy's host, never the address.
//! rustls uses the aws-lc-rs provider, named explicitly rather than taken from the process
//! default (see the root Cargo.toml for why not `ring`), and offers only `http/1.1` by ALPN.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep, timeout_at};
use tokio_rustls::TlsConnector;

use crate::budget::Meter;
use crate::policy::Scheme;
use crate::record::{CallRecord, Outcome, Recorder};
use crate::{EgressError, Refusal};

/// The TLS client: webpki roots plus the operator's extra roots (tests, private sandboxes).
pub(crate) fn tls_connector(extra_roots: &[CertificateDer<'static>]) -> Result<TlsConnector, EgressError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for root in extra_roots {
        roots.add(root.clone()).map_err(EgressError::Tls)?;
    }
    let mut config = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(EgressError::Tls)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}

/// Sends `request` (origin-form URI, headers final) to `address` and returns the response head.
pub(crate) async fn send(
    tls: &TlsConnector,
    scheme: Scheme,
    host: &str,
    address: std::net::SocketAddr,
    request: Request<Full<Bytes>>,
    deadline: Instant,
    meter: &Meter,
) -> Result<Response<Incoming>, Refusal> {
    let tcp = timeout_at(deadline, TcpStream::connect(address))
        .await
        .map_err(|_| meter.timeout_refusal())?
        .map_err(|e| Refusal::Upstream(format!("connect {address}: {e}")))?;
    // Small requests and responses: waiting for Nagle would add a round trip to each.
    tcp.set_nodelay(true).map_err(|e| Refusal::Upstream(format!("connect {address}: {e}")))?;
    match scheme {
        Scheme::Http => exchange(tcp, request, deadline, meter).await,
        Scheme::Https => {
            let name = ServerName::try_from(host.to_owned())
                .map_err(|e| Refusal::Upstream(format!("server name {host}: {e}")))?;
            let stream = timeout_at(deadline, tls.connect(name, tcp))
                .await
                .map_err(|_| meter.timeout_refusal())?
                .map_err(|e| Refusal::Upstream(format!("TLS with {host}: {e}")))?;
            exchange(stream, request, deadline, meter).await
        }
    }
}

async fn exchange<IO>(
    io: IO,
    request: Request<Full<Bytes>>,
    deadline: Instant,
    meter: &Meter,
) -> Result<Response<Incoming>, Refusal>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(io)).await.map_err(|e| Refusal::Upstream(e.to_string()))?;
    // The connection task ends with the exchange, and at the deadline at the latest, so a
    // stalled upstream cannot keep a socket (or task) alive past the request's budget.
    tokio::spawn(async move {
        let _ = timeout_at(deadline, connection).await;
    });
    timeout_at(deadline, sender.send_request(request))
        .await
        .map_err(|_| meter.timeout_refusal())?
        .map_err(|e| Refusal::Upstream(e.to_string()))
}

/// The error a cut response body ends with (hyper then aborts the agent's response, so a
/// truncated body is never mistaken for a complete one).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BodyError(pub Refusal);

/// A response body streamed to the agent, counted against the bytes-in budget and cut at the
/// request's deadline; emits the request's [`CallRecord`] when it ends, fails or is dropped.
pub(crate) struct Metered {
    inner: Incoming,
    meter: Arc<Meter>,
    deadline: Pin<Box<Sleep>>,
    pending: Option<(CallRecord, Instant, Recorder)>,
}

impl Metered {
    pub fn new(
        inner: Incoming,
        meter: Arc<Meter>,
        deadline: Instant,
        record: CallRecord,
        started: Instant,
        recorder: Recorder,
    ) -> Self {
        Self {
            inner,
            meter,
            deadline: Box::pin(tokio::time::sleep_until(deadline)),
            pending: Some((record, started, recorder)),
        }
    }

    fn finish(&mut self, cut: Option<Refusal>) {
        if let Some((mut record, started, recorder)) = self.pending.take() {
            if let (Some(refusal), Outcome::Status(status)) = (cut, &record.outcome) {
                record.outcome = Outcome::Cut { status: *status, refusal };
            }
            record.ms = elapsed_ms(started);
            recorder.record(record);
        }
    }

    fn cut(&mut self, refusal: Refusal) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        self.finish(Some(refusal.clone()));
        Poll::Ready(Some(Err(BodyError(refusal))))
    }
}

impl Body for Metered {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        if self.pending.is_none() {
            return Poll::Ready(None);
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            let refusal = self.meter.timeout_refusal();
            return self.cut(refusal);
        }
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let Some(data) = frame.data_ref() else {
                    // Trailers are hop-by-hop metadata the agent has no use for; dropping them
                    // keeps the proxy's response framing its own.
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                };
                let n = data.len() as u64;
                if let Err(refusal) = self.meter.take_in(n) {
                    return self.cut(refusal);
                }
                if let Some((record, _, _)) = self.pending.as_mut() {
                    record.bytes_in += n;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => self.cut(Refusal::Upstream(e.to_string())),
            Poll::Ready(None) => {
                self.finish(None);
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.pending.is_none() || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Metered {
    /// The agent hung up, the body ended without another poll, or the session's end dropped a
    /// connection whose agent stopped reading: the record still goes out, as cut when the
    /// request's deadline had passed.
    fn drop(&mut self) {
        let expired = self.deadline.is_elapsed();
        self.finish(expired.then(|| self.meter.timeout_refusal()));
    }
}

pub(crate) fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}
