//! `nexus-status`: `/health`, `/ready` and Prometheus `/metrics` for every long-running
//! AgentNexus service (indexer, relayer, the GraphQL API), and the metrics plumbing behind them.
//!
//! * `/health`: 200 `ok` while the process runs (liveness).
//! * `/ready`: 200 `ready` when [`Status::ready`] says so, else 503 with its reason (readiness:
//!   the indexer once caught up, the relayer once connected, the API while its database and
//!   LISTEN connection answer).
//! * `/metrics`: [`Status::render`] in the Prometheus text format, version 0.0.4.
//!
//! # Metrics
//!
//! Services count through the [`metrics`] facade's handles ([`Counter`], [`Gauge`],
//! [`Histogram`]: one atomic update on the hot path) and a [`Registry`] renders them with
//! `metrics-exporter-prometheus`, plus the process's own CPU, memory, file descriptors and start
//! time read at scrape time. Serving never touches the database, the node or Docker (the API's
//! readiness probe aside), so a scrape can never slow a service down or hang on what it waits for.
//!
//! One [`Registry`] per service *instance*, with its handles registered once at construction
//! and kept in the service's `Metrics` struct. The rejected design is the facade's usual one: one
//! global recorder installed at start-up and the `counter!` macros at every call site. Tests run
//! several relayers, indexers and API servers in one process and read each one's counts (a lost
//! lease on one relayer, a failover on one indexer); a global recorder would add them all into
//! one set of series, and the macros would also look the key up again on every request, a cost
//! the API's per-request CPU benchmark would see.
//!
//! Every histogram's bucket bounds are declared once, in [`buckets`], as a [`HistogramSpec`].

pub mod buckets;
mod registry;

use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

pub use buckets::HistogramSpec;
pub use metrics::{Counter, Gauge, Histogram};
pub use registry::{Registry, sample};

/// Why a service is not ready: the `/ready` body with the 503.
pub type NotReady = Cow<'static, str>;

/// What a service reports.
pub trait Status: Send + Sync + 'static {
    /// `Ok` when the service should receive traffic, else why not.
    fn ready(&self) -> impl Future<Output = Result<(), NotReady>> + Send;

    /// Every metric in the Prometheus text exposition format.
    fn render(&self) -> String;
}

/// The status routes over `status`.
pub fn router<S: Status>(status: Arc<S>) -> Router {
    let ready = status.clone();
    Router::new()
        .route("/health", get(|| async { "ok\n" }))
        .route(
            "/ready",
            get(move || {
                let status = ready.clone();
                async move {
                    match status.ready().await {
                        Ok(()) => (StatusCode::OK, Cow::Borrowed("ready\n")),
                        Err(reason) => (StatusCode::SERVICE_UNAVAILABLE, Cow::Owned(format!("{reason}\n"))),
                    }
                }
            }),
        )
        .route(
            "/metrics",
            get(move || {
                let body = status.render();
                async move { ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response() }
            }),
        )
}

/// Serves the status routes on `listener` until `shutdown` resolves.
pub async fn serve<S: Status>(
    listener: tokio::net::TcpListener,
    status: Arc<S>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(status)).with_graceful_shutdown(shutdown).await
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    /// Ready once `up` is set; one counter.
    struct Fake {
        up: AtomicBool,
        registry: Registry,
    }

    impl Status for Fake {
        async fn ready(&self) -> Result<(), NotReady> {
            if self.up.load(Ordering::Relaxed) { Ok(()) } else { Err("warming up".into()) }
        }

        fn render(&self) -> String {
            self.registry.render()
        }
    }

    /// One HTTP/1.1 exchange over a plain socket: (status line, headers and body).
    async fn get(addr: std::net::SocketAddr, path: &'static str) -> String {
        tokio::task::spawn_blocking(move || {
            let mut stream = std::net::TcpStream::connect(addr).expect("connect");
            write!(stream, "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").expect("write");
            let mut response = String::new();
            stream.read_to_string(&mut response).expect("read");
            response
        })
        .await
        .expect("join")
    }

    #[tokio::test]
    async fn routes_answer_liveness_readiness_with_reason_and_metrics() {
        let status = Arc::new(Fake { up: AtomicBool::new(false), registry: Registry::new() });
        status.registry.counter("nexus_test_total", "A test counter.", &[]).increment(4);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(serve(listener, status.clone(), std::future::pending()));

        let health = get(addr, "/health").await;
        assert!(health.starts_with("HTTP/1.1 200") && health.ends_with("\r\n\r\nok\n"), "{health}");
        let ready = get(addr, "/ready").await;
        assert!(ready.starts_with("HTTP/1.1 503") && ready.ends_with("\r\n\r\nwarming up\n"), "{ready}");
        status.up.store(true, Ordering::Relaxed);
        let ready = get(addr, "/ready").await;
        assert!(ready.starts_with("HTTP/1.1 200") && ready.ends_with("\r\n\r\nready\n"), "{ready}");
        let metrics = get(addr, "/metrics").await;
        assert!(metrics.contains("content-type: text/plain; version=0.0.4\r\n"), "{metrics}");
        assert!(metrics.contains("\nnexus_test_total 4\n"), "{metrics}");
        assert!(metrics.contains("\nprocess_open_fds "), "{metrics}");
    }
}
