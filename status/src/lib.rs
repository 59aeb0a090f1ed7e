//! `nexus-status`: `/health`, `/ready` and Prometheus `/metrics` for every long-running
//! AgentNexus service (indexer, relayer).
//!
//! Each service keeps its own counters (atomics it updates as it works) and implements
//! [`Status`] over them; this crate only serves them. Serving never touches the database, the
//! node or Docker, so a scrape can never slow the service down or hang on what it is waiting for.
//!
//! * `/health`: 200 `ok` while the process runs (liveness).
//! * `/ready`: 200 `ready` when [`Status::ready`] says so, else 503 with
//!   [`Status::NOT_READY`] (readiness: the indexer once caught up, the relayer once connected).
//! * `/metrics`: [`Status::render`] in the Prometheus text format, version 0.0.4.

use std::sync::Arc;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

/// What a service reports.
pub trait Status: Send + Sync + 'static {
    /// The `/ready` body while not ready.
    const NOT_READY: &'static str = "not ready";

    /// Whether the service should receive traffic.
    fn ready(&self) -> bool;

    /// Every metric in the Prometheus text exposition format.
    fn render(&self) -> String;
}

/// The status routes over `status`.
pub fn router<S: Status>(status: Arc<S>) -> Router {
    let ready = status.clone();
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route(
            "/ready",
            get(move || {
                let ready = ready.ready();
                async move {
                    if ready { (StatusCode::OK, "ready") } else { (StatusCode::SERVICE_UNAVAILABLE, S::NOT_READY) }
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
