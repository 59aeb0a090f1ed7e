//! Agent metadata: the JSON document an agent's `metadataURI` points at.
//!
//! `data:` URIs are resolved inline while the registry event is applied: the content is in the
//! log itself, so the result is deterministic and journaled with the block like any projection.
//! `http(s):` and `ipfs://` URIs are recorded as `pending` with a first attempt time; fetching
//! them (timeout, size cap, gateway) belongs to a resolver task that never blocks indexing and
//! is not written yet.

use base64::Engine;
use serde::Deserialize;

/// What is known about an agent's metadata after looking at its URI.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resolved {
    /// `pending`, `ok` or `failed` (the `agents.metadata_status` check constraint).
    pub status: &'static str,
    pub name: Option<String>,
    pub description: Option<String>,
    pub tags: Vec<String>,
    pub input_schema: Option<String>,
    pub output_schema: Option<String>,
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
}

/// Largest metadata document accepted, inline or fetched.
pub const MAX_METADATA_BYTES: usize = 64 * 1024;

/// Resolves `data:` URIs now; anything else is left `pending` for the resolver.
pub fn resolve_inline(uri: &str) -> Resolved {
    let Some(rest) = uri.strip_prefix("data:") else {
        return Resolved { status: "pending", ..Default::default() };
    };
    match decode_data_uri(rest).and_then(|bytes| parse(&bytes)) {
        Ok(resolved) => resolved,
        Err(error) => Resolved { status: "failed", error: Some(error), ..Default::default() },
    }
}

/// Parses a metadata document.
pub fn parse(bytes: &[u8]) -> Result<Resolved, String> {
    if bytes.len() > MAX_METADATA_BYTES {
        return Err(format!("metadata is {} bytes, more than {MAX_METADATA_BYTES}", bytes.len()));
    }
    let doc: Document = serde_json::from_slice(bytes).map_err(|e| format!("metadata is not valid JSON: {e}"))?;
    Ok(Resolved {
        status: "ok",
        // Postgres text cannot hold NUL bytes.
        name: doc.name.map(|s| s.replace('\0', "")),
        description: doc.description.map(|s| s.replace('\0', "")),
        tags: doc.tags.into_iter().map(|s| s.replace('\0', "")).collect(),
        input_schema: doc.input_schema.map(|v| v.to_string()),
        output_schema: doc.output_schema.map(|v| v.to_string()),
        error: None,
    })
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
        assert_eq!(r.status, "ok");
        assert_eq!(r.name.as_deref(), Some("Echo"));
        assert_eq!(r.tags, vec!["a", "b"]);
        assert_eq!(r.input_schema.as_deref(), Some(r#"{"type":"object"}"#));
        let r = resolve_inline("data:application/json;base64,eyJuYW1lIjoiWCJ9");
        assert_eq!(r.name.as_deref(), Some("X"));
        let r = resolve_inline("data:application/json,%7B%22name%22%3A%22Y%22%7D");
        assert_eq!(r.name.as_deref(), Some("Y"));
        assert_eq!(resolve_inline("data:,not json").status, "failed");
        assert_eq!(resolve_inline("ipfs://bafy").status, "pending");
    }
}
