//! Agent metadata: the JSON document an agent's `metadataURI` points at.
//!
//! `data:` URIs are resolved inline while the registry event is applied: the content is in the
//! log itself, so the result is deterministic and journaled with the block like any projection.
//! `http(s):` and `ipfs://` URIs are recorded as `pending`, and [`resolve_pending`] (run in a
//! loop by [`run_resolver`], beside the indexer, never inside it) fetches them with a timeout and
//! a size cap, `ipfs://` through a configured HTTP gateway. A failed fetch is recorded
//! (`metadata_status = 'failed'`, the error, the attempt count) and retried with exponential
//! backoff; it never blocks indexing.
//!
//! A document whose name or tags hold a control character or a bidi override (or whose
//! description holds one other than a line break or tab) is invalid: recorded as `failed` with
//! the reason, the agent left unnamed. Catalog texts are shown on users' terminals.
//!
//! The resolver's writes are not journaled (it runs outside block transactions): if a reorg
//! restores an agent row, it comes back with the metadata state of that time and is simply
//! fetched again. Writes are conditioned on the URI still being the one fetched, so a concurrent
//! `AgentUpdated` is never overwritten with stale content.

use std::time::Duration;

use alloy::transports::http::reqwest;
use base64::Engine;
use serde::Deserialize;
use sqlx::PgPool;
use tracing::{debug, warn};

use nexus_store::MetadataStatus;

use crate::IndexerError;

/// How remote metadata is fetched.
#[derive(Debug, Clone)]
pub struct ResolverConfig {
    /// `ipfs://<cid>/<path>` is fetched from `<gateway>/<cid>/<path>`.
    pub ipfs_gateway: String,
    pub timeout: Duration,
    /// How often to look for pending agents.
    pub interval: Duration,
}

impl Default for ResolverConfig {
    fn default() -> Self {
        Self {
            ipfs_gateway: "http://127.0.0.1:8080/ipfs".into(),
            timeout: Duration::from_secs(5),
            interval: Duration::from_secs(2),
        }
    }
}

/// Fetches and records the metadata of agents whose remote metadata is due, once.
/// Returns how many agents were attempted.
pub async fn resolve_pending(
    pool: &PgPool,
    http: &reqwest::Client,
    config: &ResolverConfig,
) -> Result<usize, IndexerError> {
    let due: Vec<(String, String)> = sqlx::query_as(
        "SELECT agent_id::text, metadata_uri FROM agents
         WHERE metadata_status <> 'ok' AND metadata_next_attempt_at <= now()
         ORDER BY metadata_next_attempt_at LIMIT 32",
    )
    .fetch_all(pool)
    .await?;
    for (agent_id, uri) in &due {
        let resolved = match fetch(http, config, uri).await.and_then(|bytes| parse(&bytes)) {
            Ok(resolved) => resolved,
            Err(error) => {
                debug!(agent_id, uri, error, "metadata fetch failed");
                Resolved { status: MetadataStatus::Failed, error: Some(error), ..Default::default() }
            }
        };
        sqlx::query(
            "UPDATE agents SET name = $3, description = $4, tags = $5, input_schema = $6::jsonb,
                 output_schema = $7::jsonb, metadata_status = $8, metadata_error = $9, network = $10::jsonb,
                 metadata_attempts = metadata_attempts + 1,
                 metadata_next_attempt_at = CASE WHEN $8 = 'ok' THEN NULL
                     ELSE now() + least(interval '1 hour', interval '1 second' * power(2, metadata_attempts + 1)) END,
                 search = setweight(to_tsvector('simple', coalesce($3, '')), 'A')
                       || setweight(to_tsvector('simple', coalesce($4, '')), 'B')
                       || setweight(to_tsvector('simple', array_to_string($5, ' ')), 'C')
             WHERE agent_id = $1::numeric AND metadata_uri = $2",
        )
        .bind(agent_id)
        .bind(uri)
        .bind(resolved.name)
        .bind(resolved.description)
        .bind(resolved.tags)
        .bind(resolved.input_schema)
        .bind(resolved.output_schema)
        .bind(resolved.status)
        .bind(resolved.error)
        .bind(resolved.network)
        .execute(pool)
        .await?;
    }
    Ok(due.len())
}

/// Runs [`resolve_pending`] every `interval` until `shutdown` resolves; errors are logged and
/// retried on the next round.
pub async fn run_resolver(pool: PgPool, config: ResolverConfig, shutdown: impl std::future::Future<Output = ()>) {
    tokio::pin!(shutdown);
    let http = match reqwest::Client::builder().timeout(config.timeout).build() {
        Ok(http) => http,
        Err(e) => {
            warn!(error = %e, "cannot build the metadata HTTP client; metadata stays pending");
            return;
        }
    };
    loop {
        if let Err(e) = resolve_pending(&pool, &http, &config).await {
            warn!(error = %e, "metadata resolver round failed");
        }
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(config.interval) => {}
        }
    }
}

async fn fetch(http: &reqwest::Client, config: &ResolverConfig, uri: &str) -> Result<Vec<u8>, String> {
    let url = if let Some(path) = uri.strip_prefix("ipfs://") {
        format!("{}/{}", config.ipfs_gateway.trim_end_matches('/'), path.trim_start_matches("ipfs/"))
    } else if uri.starts_with("http://") || uri.starts_with("https://") {
        uri.to_owned()
    } else {
        return Err(format!("unsupported metadata URI scheme: {uri}"));
    };
    let mut response =
        http.get(&url).timeout(config.timeout).send().await.map_err(|e| format!("fetching {url}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("fetching {url}: HTTP {}", response.status()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| format!("reading {url}: {e}"))? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_METADATA_BYTES {
            return Err(format!("metadata at {url} is larger than {MAX_METADATA_BYTES} bytes"));
        }
    }
    Ok(body)
}

/// What is known about an agent's metadata after looking at its URI.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resolved {
    pub status: MetadataStatus,
    pub name: Option<String>,
    pub description: Option<String>,
    pub tags: Vec<String>,
    pub input_schema: Option<String>,
    pub output_schema: Option<String>,
    /// The `network` section as written (the relayer parses and trusts it, or not: it alone
    /// knows the egress policy rules and whether the URI is content-addressed).
    pub network: Option<String>,
    pub error: Option<String>,
}

/// The metadata document's fields the catalog uses (unknown fields are ignored).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    name: Option<String>,
    description: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    input_schema: Option<serde_json::Value>,
    output_schema: Option<serde_json::Value>,
    network: Option<serde_json::Value>,
}

/// Largest metadata document accepted, inline or fetched.
pub const MAX_METADATA_BYTES: usize = 64 * 1024;

/// Resolves `data:` URIs now; anything else is left `pending` for the resolver.
pub fn resolve_inline(uri: &str) -> Resolved {
    let Some(rest) = uri.strip_prefix("data:") else {
        return Resolved { status: MetadataStatus::Pending, ..Default::default() };
    };
    match decode_data_uri(rest).and_then(|bytes| parse(&bytes)) {
        Ok(resolved) => resolved,
        Err(error) => Resolved { status: MetadataStatus::Failed, error: Some(error), ..Default::default() },
    }
}

/// Parses a metadata document.
pub fn parse(bytes: &[u8]) -> Result<Resolved, String> {
    if bytes.len() > MAX_METADATA_BYTES {
        return Err(format!("metadata is {} bytes, more than {MAX_METADATA_BYTES}", bytes.len()));
    }
    let doc: Document = serde_json::from_slice(bytes).map_err(|e| format!("metadata is not valid JSON: {e}"))?;
    if let Some(name) = &doc.name {
        refuse_controls("name", name, false)?;
    }
    for tag in &doc.tags {
        refuse_controls("tag", tag, false)?;
    }
    if let Some(description) = &doc.description {
        refuse_controls("description", description, true)?;
    }
    Ok(Resolved {
        status: MetadataStatus::Ok,
        // Postgres text cannot hold NUL bytes (refused above for these fields; kept as a guard).
        name: doc.name.map(|s| s.replace('\0', "")),
        description: doc.description.map(|s| s.replace('\0', "")),
        tags: doc.tags.into_iter().map(|s| s.replace('\0', "")).collect(),
        input_schema: doc.input_schema.map(|v| v.to_string()),
        output_schema: doc.output_schema.map(|v| v.to_string()),
        network: doc.network.map(|v| v.to_string()),
        error: None,
    })
}

/// Refuses a catalog text holding a control character or a bidi override: names and tags are
/// one-line labels shown in terminals and web pages, where `ESC[2J`, an OSC sequence or U+202E
/// would clear a screen, retitle a window or reverse what is read. `multiline` texts (the
/// description) may hold newlines, carriage returns and tabs.
///
/// Refused means the whole document is invalid: recorded as `failed` with this reason, so the
/// agent stays in the catalog unnamed, like any other invalid metadata (and a remote document is
/// fetched again later, in case its publisher fixes it).
fn refuse_controls(field: &str, text: &str, multiline: bool) -> Result<(), String> {
    let bad = text.chars().enumerate().find(|&(_, c)| {
        let allowed = multiline && matches!(c, '\n' | '\r' | '\t');
        (c.is_control() && !allowed) || is_bidi_control(c)
    });
    match bad {
        Some((at, c)) => Err(format!(
            "metadata {field} contains the control character U+{:04X} (character {}); refused",
            c as u32,
            at + 1
        )),
        None => Ok(()),
    }
}

/// The bidi embeddings, overrides, isolates and implicit marks ("Trojan Source").
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{61c}')
}

/// `[<mediatype>][;base64],<data>` (RFC 2397), percent-decoded when not base64.
fn decode_data_uri(rest: &str) -> Result<Vec<u8>, String> {
    let (header, data) = rest.split_once(',').ok_or("data: URI without a comma")?;
    if header.ends_with(";base64") {
        base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .map_err(|e| format!("bad base64 in data: URI: {e}"))
    } else {
        percent_decode(data)
    }
}

fn percent_decode(s: &str) -> Result<Vec<u8>, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or("truncated percent escape")?;
            let hex = std::str::from_utf8(hex).map_err(|_| "bad percent escape")?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| "bad percent escape")?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_uris() {
        let r =
            resolve_inline(r#"data:application/json,{"name":"Echo","tags":["a","b"],"inputSchema":{"type":"object"}}"#);
        assert_eq!(r.status, MetadataStatus::Ok);
        assert_eq!(r.name.as_deref(), Some("Echo"));
        assert_eq!(r.tags, vec!["a", "b"]);
        assert_eq!(r.input_schema.as_deref(), Some(r#"{"type":"object"}"#));
        let r = resolve_inline("data:application/json;base64,eyJuYW1lIjoiWCJ9");
        assert_eq!(r.name.as_deref(), Some("X"));
        let r = resolve_inline("data:application/json,%7B%22name%22%3A%22Y%22%7D");
        assert_eq!(r.name.as_deref(), Some("Y"));
        assert_eq!(resolve_inline("data:,not json").status, MetadataStatus::Failed);
        assert_eq!(resolve_inline("ipfs://bafy").status, MetadataStatus::Pending);
    }

    #[test]
    fn the_network_section_is_kept_as_written_for_the_relayer() {
        let r = resolve_inline(r#"data:application/json,{"name":"N","network":{"rules":[{"host":"api.example"}]}}"#);
        assert_eq!(r.network.as_deref(), Some(r#"{"rules":[{"host":"api.example"}]}"#));
        assert_eq!(resolve_inline(r#"data:application/json,{"name":"N"}"#).network, None);
    }

    #[test]
    fn control_characters_in_catalog_texts_are_refused() {
        // The hostile names of issue 13: clear screen, window title, OSC 52 clipboard write.
        for name in [
            "\u{1b}[2JEcho",
            "Echo\u{1b}]0;title\u{7}",
            "\u{1b}]52;c;cm0gLXJmIH4=\u{7}",
            "a\u{9b}2J",
            "x\u{202e}fdp.exe",
        ] {
            let doc = serde_json::json!({ "name": name }).to_string();
            let error = parse(doc.as_bytes()).expect_err(name);
            assert!(error.starts_with("metadata name contains the control character U+"), "{error}");
        }
        let error = parse(br#"{"name":"Echo","tags":["ok","a\nb"]}"#).expect_err("tag");
        assert_eq!(error, "metadata tag contains the control character U+000A (character 2); refused");
        let error = parse(br#"{"name":"Echo\u0000"}"#).expect_err("NUL");
        assert!(error.contains("U+0000 (character 5)"), "{error}");
        // A description may span lines; an escape sequence in it is refused all the same.
        let ok = parse(br#"{"name":"Caf\u00e9 \u65e5\u672c","description":"line one\r\nline two\tend"}"#).expect("ok");
        assert_eq!(ok.name.as_deref(), Some("Café 日本"));
        assert!(parse(br#"{"name":"Echo","description":"\u001b[2J fake"}"#).is_err());
        // Inline, the agent is recorded as failed and unnamed, with the reason.
        let r = resolve_inline(r#"data:application/json,{"name":"Echo\u001b]0;pwned\u0007"}"#);
        assert_eq!((r.status, r.name.as_deref()), (MetadataStatus::Failed, None));
        assert!(r.error.as_deref().unwrap_or_default().contains("U+001B"), "{r:?}");
    }
}
