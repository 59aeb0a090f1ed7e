//! `agent-translator`: translation through an OpenAI-compatible chat-completions API.
//!
//! The agent never holds a key: its metadata declares the secret `openai` for
//! `api.openai.com`, and the relayer's egress proxy adds the operator's `Authorization` header on
//! the way out. Long texts are split on paragraph and sentence boundaries ([`chunk`]) and
//! translated chunk by chunk, in order; glossary terms relevant to a chunk go into its prompt
//! and the result is checked ([`glossary`]). Requests are bounded: one per chunk, at most
//! [`MAX_CHUNKS`], plus at most [`MAX_RETRIES`] retries of rate-limited or failing calls.

pub mod api;
pub mod chunk;
pub mod glossary;

use std::time::Duration;

use agent_io::http::{Egress, HttpError, Request, Response};
use serde::{Deserialize, Serialize};

use crate::api::{ApiError, ChatRequest, Message};
use crate::glossary::{Term, Violation};

pub const MAX_TEXT_BYTES: usize = 256 * 1024;
pub const MAX_CHUNKS: usize = 32;
pub const MAX_RETRIES: usize = 2;
pub const MAX_GLOSSARY: usize = 100;
pub const MAX_TERM_CHARS: usize = 200;
pub const MAX_LANGUAGE_CHARS: usize = 40;
pub const DEFAULT_CHUNK_TOKENS: usize = 1500;
pub const CHUNK_TOKENS: std::ops::RangeInclusive<usize> = 100..=4000;
/// Longest pause a `Retry-After` may ask for: the execution's time budget is small.
pub const MAX_RETRY_WAIT: Duration = Duration::from_secs(2);

/// Models a buyer may pick. The operator pays per token, so the listing fixes which price
/// classes a run may use rather than passing any model name through.
pub const MODELS: [&str; 5] = ["gpt-4o-mini", "gpt-4o", "gpt-4.1-nano", "gpt-4.1-mini", "gpt-4.1"];
pub const DEFAULT_MODEL: &str = "gpt-4o-mini";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Input {
    pub text: String,
    pub target_language: String,
    /// Absent: the model detects it.
    #[serde(default)]
    pub source_language: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub glossary: Vec<Term>,
    #[serde(default)]
    pub max_chunk_tokens: Option<usize>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Output {
    pub translation: String,
    pub source_language: Option<String>,
    pub target_language: String,
    pub model: String,
    pub chunks: usize,
    pub usage: UsageOut,
    pub glossary_violations: Vec<Violation>,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageOut {
    pub requests: usize,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("text is {0} bytes; at most {MAX_TEXT_BYTES}")]
    TextTooLong(usize),
    #[error("{field} must be 1..={MAX_LANGUAGE_CHARS} letters, spaces, hyphens or parentheses, got {value:?}")]
    Language { field: &'static str, value: String },
    #[error("model {0:?} is not offered; one of {MODELS:?}")]
    Model(String),
    #[error("maxChunkTokens must be in {CHUNK_TOKENS:?}, got {0}")]
    ChunkTokens(usize),
    #[error("glossary has {0} entries; at most {MAX_GLOSSARY}")]
    GlossaryTooLong(usize),
    #[error("glossary entry {0}: terms must be 1..={MAX_TERM_CHARS} characters without control characters")]
    Term(usize),
    #[error("glossary entry {0} repeats the source term {1:?}")]
    DuplicateTerm(usize, String),
    #[error(
        "the text needs {0} chunks of maxChunkTokens; at most {MAX_CHUNKS}: raise maxChunkTokens or send less text"
    )]
    TooManyChunks(usize),
}

#[derive(Debug, thiserror::Error)]
pub enum TranslateError {
    #[error("invalid input: {0}")]
    Input(#[from] InputError),
    #[error(transparent)]
    Api(#[from] ApiError),
}

/// The network side, so the orchestration is tested without a proxy.
pub trait Chat {
    fn complete(&self, request: &ChatRequest<'_>) -> Result<Response, HttpError>;
    fn pause(&self, duration: Duration);
}

impl Chat for Egress {
    fn complete(&self, request: &ChatRequest<'_>) -> Result<Response, HttpError> {
        self.send(&Request::new("POST", api::ENDPOINT).json(request)?)
    }
    fn pause(&self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

fn check_language(field: &'static str, value: &str) -> Result<(), InputError> {
    let ok = (1..=MAX_LANGUAGE_CHARS).contains(&value.chars().count())
        && value.chars().all(|c| c.is_alphabetic() || " -()".contains(c));
    if ok { Ok(()) } else { Err(InputError::Language { field, value: value.chars().take(60).collect() }) }
}

/// Checks `input`; returns the model to use.
pub fn validate(input: &Input) -> Result<&str, InputError> {
    if input.text.len() > MAX_TEXT_BYTES {
        return Err(InputError::TextTooLong(input.text.len()));
    }
    check_language("targetLanguage", &input.target_language)?;
    if let Some(source) = &input.source_language {
        check_language("sourceLanguage", source)?;
    }
    let model = input.model.as_deref().unwrap_or(DEFAULT_MODEL);
    if !MODELS.contains(&model) {
        return Err(InputError::Model(model.chars().take(60).collect()));
    }
    if let Some(tokens) = input.max_chunk_tokens
        && !CHUNK_TOKENS.contains(&tokens)
    {
        return Err(InputError::ChunkTokens(tokens));
    }
    if input.glossary.len() > MAX_GLOSSARY {
        return Err(InputError::GlossaryTooLong(input.glossary.len()));
    }
    let mut seen = std::collections::HashSet::new();
    for (i, term) in input.glossary.iter().enumerate() {
        // Terms go into the prompt as one line each: no newlines that would start another rule.
        let ok = |t: &str| (1..=MAX_TERM_CHARS).contains(&t.chars().count()) && !t.chars().any(char::is_control);
        if !ok(&term.source) || !ok(&term.target) {
            return Err(InputError::Term(i));
        }
        if !seen.insert(term.source.to_lowercase()) {
            return Err(InputError::DuplicateTerm(i, term.source.clone()));
        }
    }
    Ok(model)
}

/// The system prompt of one chunk.
fn instructions(input: &Input, terms: &[&Term]) -> String {
    let from =
        input.source_language.as_deref().map_or_else(|| "the language it is written in".to_owned(), str::to_owned);
    let mut prompt = format!(
        "You are a translation engine. Translate the user's message from {from} into {}. Reply with the translation only: no notes, no quotes around it. Keep line breaks, Markdown, URLs, numbers and placeholders such as {{name}} unchanged.",
        input.target_language
    );
    if !terms.is_empty() {
        prompt.push_str("\nGlossary (always translate the left term as the right term):");
        for term in terms {
            prompt.push_str(&format!("\n- {} => {}", term.source, term.target));
        }
    }
    prompt
}

fn retry_wait(response: &Response) -> Duration {
    response
        .header("retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(Duration::from_secs(1), Duration::from_secs)
        .min(MAX_RETRY_WAIT)
}

/// Translates `input` through `chat`.
pub fn translate(input: &Input, chat: &impl Chat) -> Result<Output, TranslateError> {
    let model = validate(input)?;
    let max_tokens = input.max_chunk_tokens.unwrap_or(DEFAULT_CHUNK_TOKENS);
    let chunks = chunk::split(&input.text, max_tokens);
    if chunks.len() > MAX_CHUNKS {
        return Err(InputError::TooManyChunks(chunks.len()).into());
    }
    let mut usage = UsageOut::default();
    let mut retries = 0;
    let mut translation = String::with_capacity(input.text.len());
    let mut violations = Vec::new();
    for (index, piece) in chunks.iter().enumerate() {
        translation.push_str(piece.lead);
        if !piece.body.is_empty() {
            let terms = glossary::relevant(&input.glossary, piece.body);
            let request = ChatRequest {
                model,
                messages: vec![
                    Message::new("system", instructions(input, &terms)),
                    Message::new("user", piece.body.to_owned()),
                ],
                // Room for a translation twice the source's estimate (target scripts differ).
                max_tokens: chunk::estimate_tokens(piece.body) * 2 + 64,
                temperature: 0.0,
            };
            let (text, used) = loop {
                usage.requests += 1;
                let response = chat.complete(&request).map_err(ApiError::from)?;
                match api::parse(&response, index) {
                    Err(e) if e.is_transient() && retries < MAX_RETRIES => {
                        retries += 1;
                        chat.pause(retry_wait(&response));
                    }
                    result => break result?,
                }
            };
            usage.prompt_tokens += used.prompt_tokens;
            usage.completion_tokens += used.completion_tokens;
            let text = text.trim();
            violations.extend(glossary::check(&input.glossary, index, piece.body, text));
            translation.push_str(text);
        }
        translation.push_str(piece.trail);
    }
    Ok(Output {
        translation,
        source_language: input.source_language.clone(),
        target_language: input.target_language.clone(),
        model: model.to_owned(),
        chunks: chunks.len(),
        usage,
        glossary_violations: violations,
    })
}

#[cfg(test)]
mod tests;
