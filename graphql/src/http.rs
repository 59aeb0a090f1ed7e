//! The HTTP surface: `POST /graphql`, `GET /graphql/ws` (graphql-transport-ws), GraphiQL at
//! `GET /graphql` in development, `PUT /v1/blobs`, `GET /v1/executions/{id}/output`, and
//! `nexus-status`'s `/health`, `/ready`, `/metrics` (over `status.rs`).
//!
//! The GraphQL handler reads the body itself rather than through async-graphql's extractor so
//! every hostile input gets a specific, JSON-shaped answer: an oversized body is 413 with the
//! limit, invalid UTF-8 is 400 saying so, an invalid or expired token is 401 (not a silent
//! downgrade to anonymous, which would make "why is my output null" hard to debug).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use async_graphql::Data;
use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRef, Path, State, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, put};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::auth::Viewer;
use crate::error::json_error;
use crate::schema::NexusSchema;
use crate::state::{AppState, ClientIp};
use crate::status::ApiStatus;
use nexus_store::ExecutionRow;

/// Router state: the shared state and the executable schema.
#[derive(Clone)]
pub struct Server {
    pub state: AppState,
    pub schema: NexusSchema,
}

/// Handlers that need only the shared state (`PUT /v1/blobs`) extract it alone, so they do not
/// depend on this module's [`Server`].
impl FromRef<Server> for AppState {
    fn from_ref(server: &Server) -> AppState {
        server.state.clone()
    }
}

/// Largest websocket message accepted: subscription documents are small.
const MAX_WS_MESSAGE: usize = 64 * 1024;

/// The API alone, as `nexus_graphql::serve` takes it.
impl From<Server> for Router {
    fn from(server: Server) -> Router {
        router(server)
    }
}

/// The application's routes with CORS applied.
pub fn router(server: Server) -> Router {
    let config = &server.state.config;
    let graphql_limit = DefaultBodyLimit::max(config.graphql_max_bytes);
    let blob_limit = DefaultBodyLimit::max(config.blob_max_bytes);
    let cors = cors(&config.cors_origins);
    Router::new()
        .route("/graphql", get(graphiql).post(graphql_post).layer(graphql_limit))
        .route("/graphql/ws", get(graphql_ws))
        .route("/v1/blobs", put(crate::blobs::put_blob).layer(blob_limit))
        .route("/v1/executions/{id}/output", get(execution_output))
        .with_state(server.clone())
        .merge(nexus_status::router(Arc::new(ApiStatus(server.state))))
        .layer(axum::middleware::from_fn(request_span))
        .layer(cors)
}

/// Request ids: every request runs in a span carrying one, and the response names it in
/// `x-request-id`, so a client's report can be matched with the server's logs.
async fn request_span(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    use tracing::Instrument;
    static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let span =
        tracing::info_span!("request", request_id = id, method = %request.method(), path = %request.uri().path());
    let mut response = next.run(request).instrument(span).await;
    response.headers_mut().insert("x-request-id", HeaderValue::from(id));
    response
}

fn cors(origins: &[String]) -> CorsLayer {
    let layer = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::OPTIONS])
        .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION])
        .max_age(Duration::from_secs(3600));
    layer.allow_origin(allow_origin(origins))
}

/// The configured CORS origins (`cors_origins`), `*` meaning any: shared with the routes mounted
/// next to the API (the sponsorship service), so one setting governs the whole server. Safe as
/// `any` for this API: credentials are bearer tokens the client attaches, never cookies.
pub fn allow_origin(origins: &[String]) -> AllowOrigin {
    if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    }
}

/// The viewer a request's `Authorization: Bearer` header names; `Err` for a bad token.
fn viewer(state: &AppState, headers: &HeaderMap) -> Result<Viewer, Box<Response>> {
    let Some(value) = headers.get(header::AUTHORIZATION) else { return Ok(Viewer(None)) };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .ok_or_else(|| Box::new(json_error(StatusCode::UNAUTHORIZED, "Authorization must be `Bearer <token>`")))?;
    state
        .auth
        .verify(token.trim())
        .map(|a| Viewer(Some(a)))
        .map_err(|e| Box::new(json_error(StatusCode::UNAUTHORIZED, &e.to_string())))
}

async fn graphql_post(
    State(server): State<Server>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let state = &server.state;
    let reject = |status, message: &str| {
        state.metrics.rejected_requests.increment(1);
        json_error(status, message)
    };
    let body = match body {
        Ok(b) => b,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            let limit = state.config.graphql_max_bytes;
            return reject(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("request body larger than the limit of {limit} bytes"),
            );
        }
        Err(e) => return reject(e.status(), &format!("could not read the request body: {e}")),
    };
    let viewer = match viewer(state, &headers) {
        Ok(v) => v,
        Err(response) => {
            state.metrics.rejected_requests.increment(1);
            return *response;
        }
    };
    if let Err(e) = std::str::from_utf8(&body) {
        return reject(
            StatusCode::BAD_REQUEST,
            &format!("request body is not valid UTF-8 (at byte {})", e.valid_up_to()),
        );
    }
    let request: async_graphql::Request = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return reject(
                StatusCode::BAD_REQUEST,
                &format!("request body must be a JSON GraphQL request {{\"query\": ...}}: {e}"),
            );
        }
    };
    let operation = crate::metrics::operation_label(request.operation_name.as_deref());
    let started = Instant::now();
    let timeout = state.config.request_timeout;
    let response = match tokio::time::timeout(
        timeout,
        server.schema.execute(request.data(viewer).data(ClientIp(peer.ip()))),
    )
    .await
    {
        Ok(r) => r,
        Err(_) => {
            state.metrics.timeouts.increment(1);
            state.metrics.observe(&operation, started.elapsed(), true);
            let message = format!("request timed out after {} ms", timeout.as_millis());
            return json_error(StatusCode::GATEWAY_TIMEOUT, &message);
        }
    };
    state.metrics.observe(&operation, started.elapsed(), response.is_err());
    axum::Json(response).into_response()
}

async fn graphql_ws(
    State(server): State<Server>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    // A token may come with the upgrade request (non-browser clients) or in connection_init.
    let viewer = match viewer(&server.state, &headers) {
        Ok(v) => v,
        Err(response) => return *response,
    };
    let auth = server.state.auth.clone();
    let schema = server.schema.clone();
    upgrade.max_message_size(MAX_WS_MESSAGE).protocols(ALL_WEBSOCKET_PROTOCOLS).on_upgrade(move |socket| {
        let mut data = Data::default();
        data.insert(viewer);
        data.insert(ClientIp(peer.ip()));
        GraphQLWebSocket::new(socket, schema, protocol)
            .with_data(data)
            .on_connection_init(move |payload| async move {
                let mut data = Data::default();
                let token = ["authorization", "Authorization"]
                    .iter()
                    .find_map(|k| payload.get(*k).and_then(|v| v.as_str()))
                    .map(|t| t.strip_prefix("Bearer ").unwrap_or(t).trim().to_string());
                if let Some(token) = token {
                    let address = auth.verify(&token).map_err(|e| async_graphql::Error::new(e.to_string()))?;
                    data.insert(Viewer(Some(address)));
                }
                Ok(data)
            })
            .serve()
    })
}

/// GraphiQL, development only: a static page loading GraphiQL from a CDN into the browser.
async fn graphiql(State(server): State<Server>) -> Response {
    if !server.state.config.development {
        return json_error(StatusCode::NOT_FOUND, "GraphiQL is served in development mode only; POST queries here");
    }
    Html(GRAPHIQL).into_response()
}

const GRAPHIQL: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>AgentNexus GraphiQL</title>
<link rel="stylesheet" href="https://unpkg.com/graphiql@3/graphiql.min.css"></head>
<body style="margin:0"><div id="graphiql" style="height:100vh"></div>
<script crossorigin src="https://unpkg.com/react@18/umd/react.production.min.js"></script>
<script crossorigin src="https://unpkg.com/react-dom@18/umd/react-dom.production.min.js"></script>
<script crossorigin src="https://unpkg.com/graphiql@3/graphiql.min.js"></script>
<script>
  const url = location.origin + "/graphql";
  const fetcher = GraphiQL.createFetcher({ url, subscriptionUrl: url.replace(/^http/, "ws") + "/ws" });
  ReactDOM.createRoot(document.getElementById("graphiql")).render(React.createElement(GraphiQL, { fetcher }));
</script></body></html>"#;

/// The raw output of an execution, to its requester only.
async fn execution_output(State(server): State<Server>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let state = &server.state;
    let Ok(id) = alloy::primitives::U256::from_str_radix(&id, 10) else {
        return json_error(StatusCode::BAD_REQUEST, "execution id must be a decimal integer");
    };
    let viewer = match viewer(state, &headers) {
        Ok(Viewer(Some(a))) => a,
        Ok(Viewer(None)) => {
            return json_error(StatusCode::UNAUTHORIZED, "sign in and send `Authorization: Bearer <token>`");
        }
        Err(response) => return *response,
    };
    let row = match ExecutionRow::fetch(&state.pool, id).await {
        Ok(Some(r)) => r,
        Ok(None) => return json_error(StatusCode::NOT_FOUND, "no such execution"),
        Err(e) => {
            tracing::error!(error = %e, "loading an execution failed");
            return json_error(StatusCode::SERVICE_UNAVAILABLE, "database unavailable; retry");
        }
    };
    if row.requester != viewer {
        return json_error(StatusCode::FORBIDDEN, "only the execution's requester may read its output");
    }
    let Some(hash) = row.output_blob() else {
        return json_error(StatusCode::NOT_FOUND, "the execution has no output yet");
    };
    let blob: Result<Option<(Vec<u8>, String)>, _> =
        sqlx::query_as("SELECT bytes, media_type FROM blobs WHERE hash = $1")
            .bind(hash.as_slice())
            .fetch_optional(&state.pool)
            .await;
    match blob {
        Ok(Some((bytes, media_type))) => {
            let content_type =
                HeaderValue::from_str(&media_type).unwrap_or(HeaderValue::from_static("application/octet-stream"));
            ([(header::CONTENT_TYPE, content_type)], bytes).into_response()
        }
        Ok(None) => json_error(StatusCode::NOT_FOUND, "the output blob is not stored here"),
        Err(e) => {
            tracing::error!(error = %e, "loading a blob failed");
            json_error(StatusCode::SERVICE_UNAVAILABLE, "database unavailable; retry")
        }
    }
}
