//! OpenAI-compatible `POST /v1/chat/completions`.
//!
//! Mirrors the OpenAI API reference ("Create chat completion": request `model`, `messages`,
//! optional `max_tokens`/`max_completion_tokens`; response `chat.completion` object with
//! `choices[].message`, `finish_reason` and `usage`) and its error object
//! `{"error": {"message", "type", "param", "code"}}` (401 `invalid_api_key`, 400
//! `context_length_exceeded`).
//!
//! The answer is deterministic so tests can predict it: **the assistant's content is the text
//! of the last `user` message with ASCII letters upper-cased**. A translator agent under test
//! can thus check that its chunks come back in order and whole. Token counts are an estimate,
//! not a tokenizer: `ceil(chars / 4)` per message plus 4 per message and 3 for the reply
//! priming (the overheads OpenAI documents for its chat format).
//!
//! Simplified: no streaming, tools, `n > 1` or logprobs; `content` may be a string or an
//! array of `{"type": "text", "text"}` parts.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use serde_json::json;

use crate::{SandboxConfig, rng};

pub(crate) fn router(config: Arc<SandboxConfig>) -> Router {
    Router::new().route("/v1/chat/completions", post(chat_completions)).with_state(config)
}

#[derive(Debug, Deserialize)]
struct ChatRequest {
    model: Option<String>,
    messages: Option<Vec<Message>>,
    max_tokens: Option<u64>,
    max_completion_tokens: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct Message {
    role: String,
    #[serde(default)]
    content: Content,
}

#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<Part>),
    #[default]
    None,
}

#[derive(Debug, Deserialize)]
struct Part {
    #[serde(default)]
    text: String,
}

impl Content {
    fn text(&self) -> String {
        match self {
            Content::Text(text) => text.clone(),
            Content::Parts(parts) => parts.iter().map(|p| p.text.as_str()).collect(),
            Content::None => String::new(),
        }
    }
}

/// OpenAI's error envelope.
pub fn error(status: StatusCode, message: &str, kind: &str, param: Option<&str>, code: Option<&str>) -> Response {
    let body = json!({"error": {"message": message, "type": kind, "param": param, "code": code}});
    (status, axum::Json(body)).into_response()
}

/// Tokens the sandbox charges for a text (see the module docs).
pub fn estimate_tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4)
}

async fn chat_completions(State(config): State<Arc<SandboxConfig>>, headers: HeaderMap, body: String) -> Response {
    let presented =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    match presented {
        None => {
            return error(
                StatusCode::UNAUTHORIZED,
                "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                "invalid_request_error",
                None,
                None,
            );
        }
        Some(key) if key != config.openai_api_key => {
            // OpenAI shows only the key's last four characters.
            let tail: String = key.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
            return error(
                StatusCode::UNAUTHORIZED,
                &format!("Incorrect API key provided: ****{tail}."),
                "invalid_request_error",
                None,
                Some("invalid_api_key"),
            );
        }
        Some(_) => {}
    }
    let request: ChatRequest = match serde_json::from_str(&body) {
        Ok(request) => request,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("We could not parse the JSON body of your request. ({e})"),
                "invalid_request_error",
                None,
                None,
            );
        }
    };
    let Some(model) = request.model else {
        return error(
            StatusCode::BAD_REQUEST,
            "you must provide a model parameter",
            "invalid_request_error",
            None,
            None,
        );
    };
    let messages = request.messages.unwrap_or_default();
    if messages.is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
            "invalid_request_error",
            Some("messages"),
            Some("empty_array"),
        );
    }
    let prompt_tokens: u64 = messages.iter().map(|m| 4 + estimate_tokens(&m.content.text())).sum::<u64>() + 3;
    if prompt_tokens > config.openai_max_context_tokens {
        return error(
            StatusCode::BAD_REQUEST,
            &format!(
                "This model's maximum context length is {} tokens. However, your messages resulted in {prompt_tokens} tokens. Please reduce the length of the messages.",
                config.openai_max_context_tokens
            ),
            "invalid_request_error",
            Some("messages"),
            Some("context_length_exceeded"),
        );
    }
    let last_user = messages.iter().rev().find(|m| m.role == "user").map(|m| m.content.text()).unwrap_or_default();
    let mut content = last_user.to_ascii_uppercase();
    let mut finish_reason = "stop";
    if let Some(limit) = request.max_completion_tokens.or(request.max_tokens)
        && estimate_tokens(&content) > limit
    {
        // Cut at the limit the way a model stops mid-text, and say so as OpenAI does.
        content = content.chars().take(usize::try_from(limit.saturating_mul(4)).unwrap_or(usize::MAX)).collect();
        finish_reason = "length";
    }
    let completion_tokens = estimate_tokens(&content);
    let id = format!("chatcmpl-{:016x}", rng::word(config.seed, &body, &[]));
    let reply = json!({
        "id": id,
        "object": "chat.completion",
        "created": config.now_ms / 1000,
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content, "refusal": null},
            "logprobs": null,
            "finish_reason": finish_reason,
        }],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
        "system_fingerprint": "fp_sandbox",
    });
    axum::Json(reply).into_response()
}
