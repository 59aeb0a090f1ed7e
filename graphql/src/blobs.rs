//! `PUT /v1/blobs`: how a user delivers the input whose keccak256 goes into `requestExecution`.
//!
//! Content-addressed and immutable: the key is keccak256 of the bytes, so storing the same bytes
//! twice is a no-op (`ON CONFLICT DO NOTHING`), and nobody can overwrite someone else's input.
//! Uploads are unauthenticated (the chain commits to the hash, not to who uploaded it), so a
//! size limit and a per-client token bucket ([`crate::rate_limit`]) keep one client from filling the
//! database.

use alloy::primitives::keccak256;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::json_error;
use crate::state::AppState;

/// Longest accepted `Content-Type`; anything longer is not a media type.
const MAX_MEDIA_TYPE: usize = 100;

pub async fn put_blob(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let metrics = &state.metrics;
    if !state.blob_limiter.allow(peer.ip()) {
        metrics.rate_limited.increment(1);
        return json_error(StatusCode::TOO_MANY_REQUESTS, "too many uploads from this address; retry shortly");
    }
    let limit = state.config.blob_max_bytes;
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            metrics.blobs_rejected.increment(1);
            let status = e.status();
            let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
                format!("blob larger than the limit of {limit} bytes")
            } else {
                format!("could not read the body: {e}")
            };
            return json_error(status, &message);
        }
    };
    if body.is_empty() {
        metrics.blobs_rejected.increment(1);
        return json_error(StatusCode::BAD_REQUEST, "empty blob");
    }
    let media_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= MAX_MEDIA_TYPE)
        .unwrap_or("application/json")
        .to_string();
    let hash = keccak256(&body);
    let inserted: Result<Option<bool>, sqlx::Error> = sqlx::query_scalar(
        "INSERT INTO blobs (hash, bytes, size, media_type) VALUES ($1, $2, $3, $4)
         ON CONFLICT (hash) DO NOTHING RETURNING TRUE",
    )
    .bind(hash.to_vec())
    .bind(body.to_vec())
    .bind(body.len() as i64)
    .bind(media_type)
    .fetch_optional(&state.pool)
    .await;
    match inserted {
        Ok(created) => {
            let created = created.is_some();
            let counter = if created { &metrics.blobs_stored } else { &metrics.blobs_existing };
            counter.increment(1);
            let status = if created { StatusCode::CREATED } else { StatusCode::OK };
            let body = json!({ "hash": hash.to_string(), "size": body.len(), "created": created });
            (status, axum::Json(body)).into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "storing a blob failed");
            json_error(StatusCode::SERVICE_UNAVAILABLE, "could not store the blob; retry")
        }
    }
}
