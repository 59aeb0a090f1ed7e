//! The OpenAI chat-completions wire format (API reference, "Create chat completion" and the
//! error object) and the mapping of its failures to messages a buyer can act on.

use agent_io::http::{HttpError, Response};
use serde::{Deserialize, Serialize};

/// The real endpoint. Operators point it at another OpenAI-compatible server (a local model,
/// Azure-style gateways, the sandbox) with an egress route, never by changing the agent.
pub const ENDPOINT: &str = "https://api.openai.com/v1/chat/completions";

#[derive(Debug, Clone, Serialize)]
pub struct ChatRequest<'a> {
    pub model: &'a str,
    pub messages: Vec<Message>,
    pub max_tokens: usize,
    /// Translation wants the most likely rendering, not variety.
    pub temperature: f32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub refusal: Option<String>,
}

impl Message {
    pub fn new(role: &str, content: String) -> Self {
        Message { role: role.to_owned(), content: Some(content), refusal: None }
    }
}

#[derive(Debug, Deserialize)]
pub struct ChatResponse {
    pub choices: Vec<Choice>,
    #[serde(default)]
    pub usage: Option<Usage>,
}

#[derive(Debug, Deserialize)]
pub struct Choice {
    pub message: Message,
    #[serde(default)]
    pub finish_reason: Option<String>,
}

#[derive(Debug, Default, Clone, Copy, Deserialize)]
pub struct Usage {
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub completion_tokens: u64,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: ErrorObject,
}

#[derive(Debug, Deserialize)]
struct ErrorObject {
    #[serde(default)]
    message: String,
    #[serde(default)]
    code: Option<String>,
}

/// Why the API gave no usable translation.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(
        "the chat API rejected the operator's key (HTTP 401: {0}); the operator must configure the `openai` secret"
    )]
    Unauthorized(String),
    #[error("chunk {chunk} does not fit the model's context ({message}); lower maxChunkTokens")]
    ContextLength { chunk: usize, message: String },
    #[error("the chat API is rate limiting this key (HTTP 429: {0}); try again later")]
    RateLimited(String),
    #[error("the chat API is failing (HTTP {status}: {message}); try again later")]
    Unavailable { status: u16, message: String },
    #[error("the chat API rejected the request (HTTP {status}: {message})")]
    Rejected { status: u16, message: String },
    #[error("egress refused the request (HTTP {status}: {message})")]
    Egress { status: u16, message: String },
    #[error("the model stopped chunk {chunk} at its output limit (finish_reason {reason}); lower maxChunkTokens")]
    Truncated { chunk: usize, reason: String },
    #[error("the model refused chunk {chunk}: {message}")]
    Refused { chunk: usize, message: String },
    #[error("unexpected chat API response: {0}")]
    Malformed(String),
    #[error(transparent)]
    Transport(#[from] HttpError),
}

impl ApiError {
    /// Worth one more attempt: the service said so (429, 5xx), not the request's fault.
    pub fn is_transient(&self) -> bool {
        matches!(self, ApiError::RateLimited(_) | ApiError::Unavailable { .. })
    }
}

const SNIPPET: usize = 300;

fn snippet(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(SNIPPET).collect()
}

/// The completion text of a response, or the failure it reports.
pub fn parse(response: &Response, chunk: usize) -> Result<(String, Usage), ApiError> {
    if response.status >= 400 {
        return Err(classify(response, chunk));
    }
    let body: ChatResponse = serde_json::from_slice(&response.body)
        .map_err(|e| ApiError::Malformed(format!("HTTP {}: {e}", response.status)))?;
    let choice = body.choices.into_iter().next().ok_or_else(|| ApiError::Malformed("no choices".to_owned()))?;
    if let Some(message) = choice.message.refusal.filter(|r| !r.is_empty()) {
        return Err(ApiError::Refused { chunk, message: snippet(&message) });
    }
    match choice.finish_reason.as_deref() {
        None | Some("stop") => {}
        Some(reason) => return Err(ApiError::Truncated { chunk, reason: reason.to_owned() }),
    }
    let text = choice.message.content.ok_or_else(|| ApiError::Malformed("no message content".to_owned()))?;
    Ok((text, body.usage.unwrap_or_default()))
}

fn classify(response: &Response, chunk: usize) -> ApiError {
    let status = response.status;
    let text = response.text();
    // The proxy's own refusals (policy, budget) are plain text starting with this marker.
    if text.starts_with("egress refused:") {
        return ApiError::Egress { status, message: snippet(&text) };
    }
    let (message, code) = match serde_json::from_slice::<ErrorBody>(&response.body) {
        Ok(body) => (snippet(&body.error.message), body.error.code),
        Err(_) => (snippet(&text), None),
    };
    match (status, code.as_deref()) {
        (_, Some("context_length_exceeded")) => ApiError::ContextLength { chunk, message },
        (401, _) => ApiError::Unauthorized(message),
        (429, _) => ApiError::RateLimited(message),
        (500..=599, _) => ApiError::Unavailable { status, message },
        _ => ApiError::Rejected { status, message },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, body: &str) -> Response {
        Response { status, headers: Vec::new(), body: body.as_bytes().to_vec() }
    }

    fn openai_error(message: &str, code: &str) -> String {
        serde_json::json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": code}})
            .to_string()
    }

    #[test]
    fn maps_documented_errors() {
        let err = parse(&response(401, &openai_error("Incorrect API key provided: ****abcd.", "invalid_api_key")), 0);
        assert!(matches!(err, Err(ApiError::Unauthorized(m)) if m.contains("****abcd")));
        let err =
            parse(&response(400, &openai_error("maximum context length is 8192 tokens", "context_length_exceeded")), 2);
        assert!(matches!(err, Err(ApiError::ContextLength { chunk: 2, .. })));
        let err = parse(&response(429, &openai_error("Rate limit reached", "rate_limit_exceeded")), 0);
        assert!(matches!(&err, Err(e @ ApiError::RateLimited(_)) if e.is_transient()));
        let err = parse(&response(503, "upstream overloaded"), 0);
        assert!(matches!(&err, Err(e @ ApiError::Unavailable { status: 503, .. }) if e.is_transient()));
        let err = parse(&response(403, "egress refused: host not allowed"), 0);
        assert!(matches!(&err, Err(e @ ApiError::Egress { status: 403, .. }) if !e.is_transient()));
        let err = parse(&response(400, &openai_error("Invalid model", "model_not_found")), 0);
        assert!(matches!(err, Err(ApiError::Rejected { status: 400, .. })));
    }

    #[test]
    fn reads_a_completion_and_rejects_cut_or_refused_ones() {
        let ok = r#"{"choices":[{"message":{"role":"assistant","content":"Hallo"},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":2}}"#;
        let (text, usage) = parse(&response(200, ok), 0).expect("ok");
        assert_eq!((text.as_str(), usage.prompt_tokens, usage.completion_tokens), ("Hallo", 12, 2));
        let cut = r#"{"choices":[{"message":{"role":"assistant","content":"Hal"},"finish_reason":"length"}]}"#;
        assert!(matches!(parse(&response(200, cut), 1), Err(ApiError::Truncated { chunk: 1, .. })));
        let refused = r#"{"choices":[{"message":{"role":"assistant","content":null,"refusal":"I can't"},"finish_reason":"stop"}]}"#;
        assert!(matches!(parse(&response(200, refused), 0), Err(ApiError::Refused { .. })));
        assert!(matches!(parse(&response(200, "{}"), 0), Err(ApiError::Malformed(_))));
    }
}
