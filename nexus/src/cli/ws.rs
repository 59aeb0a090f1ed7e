//! A minimal graphql-transport-ws client (the protocol the API serves at `/graphql/ws`): enough
//! to follow one execution, several subscriptions over one socket.
//!
//! Why not poll: the API pushes a change the moment the indexer commits it, so `nexus run --wait`
//! prints the settlement and each log line as they happen, with one connection instead of a
//! query per second.

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::api::ApiError;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// What arrived for one subscription.
#[derive(Debug)]
pub enum Event {
    /// A result (`payload.data`).
    Next { id: String, data: Value },
    /// The server refused or ended the subscription with errors.
    Error { id: String, message: String },
    /// The subscription ended normally.
    Complete { id: String },
}

pub struct Subscriptions {
    socket: Socket,
    url: String,
}

impl Subscriptions {
    /// Connects and completes the `connection_init` handshake, with `token` as authorization.
    pub async fn connect(url: &str, token: Option<&str>) -> Result<Self, ApiError> {
        let unreachable = |reason: String| ApiError::Unreachable { url: url.to_string(), reason };
        let mut request = url.into_client_request().map_err(|e| unreachable(e.to_string()))?;
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            tokio_tungstenite::tungstenite::http::HeaderValue::from_static("graphql-transport-ws"),
        );
        let (socket, _) = tokio_tungstenite::connect_async(request).await.map_err(|e| unreachable(e.to_string()))?;
        let mut subs = Subscriptions { socket, url: url.to_string() };
        let payload = token.map_or(json!({}), |t| json!({ "authorization": t }));
        subs.send(json!({ "type": "connection_init", "payload": payload })).await?;
        loop {
            let message = subs.receive().await?;
            match message["type"].as_str() {
                Some("connection_ack") => return Ok(subs),
                Some("connection_error") | None => {
                    return Err(ApiError::Denied { status: 401, message: message["payload"].to_string() });
                }
                _ => continue,
            }
        }
    }

    async fn send(&mut self, message: Value) -> Result<(), ApiError> {
        self.socket
            .send(Message::text(message.to_string()))
            .await
            .map_err(|e| ApiError::Unreachable { url: self.url.clone(), reason: e.to_string() })
    }

    /// The next protocol message (pings answered here).
    async fn receive(&mut self) -> Result<Value, ApiError> {
        loop {
            let closed = || ApiError::Unreachable { url: self.url.clone(), reason: "the connection closed".into() };
            let message = match self.socket.next().await {
                None => return Err(closed()),
                Some(Err(e)) => return Err(ApiError::Unreachable { url: self.url.clone(), reason: e.to_string() }),
                Some(Ok(m)) => m,
            };
            let text = match message {
                Message::Text(t) => t,
                Message::Close(frame) => {
                    let reason = frame.map_or_else(|| "closed".to_string(), |f| format!("closed: {}", f.reason));
                    return Err(ApiError::Unreachable { url: self.url.clone(), reason });
                }
                _ => continue,
            };
            let value: Value = serde_json::from_str(text.as_str()).map_err(|e| ApiError::Decode(e.to_string()))?;
            if value["type"] == "ping" {
                self.send(json!({ "type": "pong" })).await?;
                continue;
            }
            return Ok(value);
        }
    }

    /// Starts subscription `id`.
    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) -> Result<(), ApiError> {
        self.send(json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": variables } })).await
    }

    /// The next event of any subscription.
    pub async fn next(&mut self) -> Result<Event, ApiError> {
        loop {
            let message = self.receive().await?;
            let id = message["id"].as_str().unwrap_or_default().to_string();
            match message["type"].as_str() {
                Some("next") => {
                    if let Some(errors) = message["payload"]["errors"].as_array().filter(|e| !e.is_empty()) {
                        return Ok(Event::Error { id, message: join_messages(errors) });
                    }
                    return Ok(Event::Next { id, data: message["payload"]["data"].clone() });
                }
                Some("error") => {
                    let message = message["payload"]
                        .as_array()
                        .map_or_else(|| message["payload"].to_string(), |e| join_messages(e));
                    return Ok(Event::Error { id, message });
                }
                Some("complete") => return Ok(Event::Complete { id }),
                _ => continue,
            }
        }
    }
}

fn join_messages(errors: &[Value]) -> String {
    errors.iter().filter_map(|e| e["message"].as_str()).collect::<Vec<_>>().join("; ")
}
