//! The route: `POST /v1/paymaster`, one JSON-RPC request object per body (no batches), a token
//! bucket per client address before anything is parsed (HTTP 429 with JSON-RPC `-32005` when it
//! is empty), and a fixed set of metrics labels per answer.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use nexus_graphql::Server;
use nexus_graphql::http::allow_origin;
use nexus_graphql::rate_limit::RateLimiter;
use serde_json::{Value, json};
use tower_http::cors::CorsLayer;

use crate::config::SponsorConfig;
use crate::metrics::SponsorMetrics;
use crate::reconcile;
use crate::rpc::{PM_DATA, PM_STUB_DATA, RpcError, codes};
use crate::service::Sponsor;

/// Largest request body: one user operation with its call data is a few KiB.
const MAX_BODY: usize = 64 * 1024;

/// `POST /v1/paymaster` on the API `server` when a sponsor is configured; no routes otherwise
/// (404). The service shares the API's database pool (the caps), node (account checks,
/// reconciliation), CORS origins (wallets call paymaster services from web pages) and `/metrics`.
/// Merge the result with [`nexus_graphql::router`] and serve both on one listener.
pub fn router(server: &Server, config: Option<SponsorConfig>) -> Router {
    let Some(config) = config else {
        return Router::new();
    };
    tracing::info!(sponsor = ?config, "sponsorship service enabled at /v1/paymaster");
    let state = &server.state;
    let cors = CorsLayer::new()
        .allow_methods([axum::http::Method::POST])
        .allow_headers([axum::http::header::CONTENT_TYPE])
        .allow_origin(allow_origin(&state.config.cors_origins));
    let limiter = Arc::new(RateLimiter::new(config.client_rate_per_second, config.client_burst));
    let sponsor = Arc::new(Sponsor::new(config, state.pool.clone(), state.provider.clone()));
    let metrics = Arc::new(SponsorMetrics::new(state.metrics.registry()));
    reconcile::spawn(sponsor.clone(), metrics.clone());
    Router::new()
        .route("/v1/paymaster", post(rpc))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(cors)
        .with_state(RpcState { limiter, sponsor, metrics })
}

#[derive(Clone)]
struct RpcState {
    limiter: Arc<RateLimiter>,
    sponsor: Arc<Sponsor>,
    metrics: Arc<SponsorMetrics>,
}

/// The metrics' method label: the two ERC-7677 methods by name, anything else (clients choose
/// it) as `other`, so the label set stays fixed.
fn method_label(method: Option<&str>) -> &'static str {
    match method {
        Some(PM_STUB_DATA) => PM_STUB_DATA,
        Some(PM_DATA) => PM_DATA,
        _ => "other",
    }
}

/// The metrics' outcome label for an answer.
fn outcome_label(outcome: &Result<Value, RpcError>) -> &'static str {
    match outcome {
        Ok(_) => "sponsored",
        Err(e) if e.code == codes::REFUSED => "refused",
        Err(e) if e.code == codes::INTERNAL => "error",
        Err(e) if e.code == codes::LIMITED => "limited",
        Err(_) => "invalid",
    }
}

/// One JSON-RPC exchange, in its own span (these routes sit outside the API's request-id layer).
#[tracing::instrument(name = "paymaster_rpc", skip_all)]
async fn rpc(
    State(RpcState { limiter, sponsor, metrics }): State<RpcState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Bytes,
) -> Response {
    let answer = |id: Value, method: Option<&str>, outcome: Result<Value, RpcError>| {
        metrics.request(method_label(method), outcome_label(&outcome));
        match outcome {
            Ok(result) => json!({ "jsonrpc": "2.0", "id": id, "result": result }),
            Err(e) => json!({ "jsonrpc": "2.0", "id": id, "error": { "code": e.code, "message": e.message } }),
        }
    };
    if !limiter.allow(peer.ip()) {
        let limited = RpcError::new(codes::LIMITED, "too many sponsorship requests from this address; retry shortly");
        return (StatusCode::TOO_MANY_REQUESTS, axum::Json(answer(Value::Null, None, Err(limited)))).into_response();
    }
    let request: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return axum::Json(answer(
                Value::Null,
                None,
                Err(RpcError::new(codes::PARSE_ERROR, format!("parse error: {e}"))),
            ))
            .into_response();
        }
    };
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let Some(method) = request.get("method").and_then(Value::as_str) else {
        return axum::Json(answer(
            id,
            None,
            Err(RpcError::new(codes::INVALID_REQUEST, "not a JSON-RPC request (batches are not supported)")),
        ))
        .into_response();
    };
    let params = request.get("params").cloned().unwrap_or(Value::Null);
    let outcome = sponsor.handle(method, &params).await;
    if let Err(e) = &outcome {
        tracing::info!(method, code = e.code, reason = %e.message, "sponsorship refused");
    }
    axum::Json(answer(id, Some(method), outcome)).into_response()
}
