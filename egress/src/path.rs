//! Request paths: the proxy forwards exactly the path it checked, and refuses paths whose
//! meaning could differ between its prefix check and the upstream's router.
//!
//! Rejected design: normalising (resolving `..`, decoding `%2e`) and forwarding the normal form.
//! That makes the proxy's reading authoritative only if every upstream reads paths the same way,
//! which they do not (some decode twice, some treat `\` or `;` specially). Refusing the
//! ambiguous forms instead costs legitimate agents nothing: an API client never needs a dot
//! segment, an encoded slash or an encoded percent in the path it calls.

use crate::Refusal;

/// Longest request path accepted (bytes, before the query).
pub const MAX_PATH_BYTES: usize = 2048;

/// Checks a request path (the URI's path, query excluded). Returns it unchanged when it has one
/// meaning: starts with `/`, no empty, `.` or `..` segment (also before a `;` parameter), no
/// backslash, no control or non-ASCII byte, and no percent-encoded `.`, `/`, `\` or `%`.
pub fn check(path: &str) -> Result<&str, Refusal> {
    let refuse = |why| Err(Refusal::AmbiguousPath { path: path.chars().take(200).collect(), why });
    if path.len() > MAX_PATH_BYTES {
        return refuse("too long");
    }
    let Some(rest) = path.strip_prefix('/') else {
        return refuse("does not start with /");
    };
    if path.bytes().any(|b| b == b'\\' || !(0x21..0x7f).contains(&b)) {
        return refuse("backslash, space, control or non-ASCII byte");
    }
    let lower = path.to_ascii_lowercase();
    for encoded in ["%2e", "%2f", "%5c", "%25"] {
        if lower.contains(encoded) {
            return refuse("percent-encoded dot, slash, backslash or percent");
        }
    }
    if rest.is_empty() {
        return Ok(path);
    }
    // A trailing slash is one empty last segment, which is allowed (`/v1/` is common).
    let segments: Vec<&str> = rest.split('/').collect();
    for (i, segment) in segments.iter().enumerate() {
        let bare = segment.split(';').next().unwrap_or_default();
        if bare == "." || bare == ".." {
            return refuse("dot segment");
        }
        if segment.is_empty() && i + 1 != segments.len() {
            return refuse("empty segment");
        }
    }
    Ok(path)
}

/// Whether `path` is under `prefix` on a segment boundary: `/v1` covers `/v1` and `/v1/x` but
/// not `/v10`; a prefix ending in `/` covers everything below it. Case-sensitive, as paths are.
pub fn under(path: &str, prefix: &str) -> bool {
    match path.strip_prefix(prefix) {
        Some(rest) => prefix.ends_with('/') || rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_pass_unchanged() {
        for p in ["/", "/v1", "/v1/", "/v1/orders", "/info;v=2", "/a%20b", "/x-y_z~.json"] {
            assert_eq!(check(p), Ok(p), "{p}");
        }
    }

    #[test]
    fn ambiguous_paths_are_refused() {
        for p in [
            "v1",
            "/v1/../admin",
            "/v1/./x",
            "/v1/..;/admin",
            "/v1/%2e%2e/admin",
            "/v1/%2E%2E/admin",
            "/v1%2fadmin",
            "/v1/%252e%252e/admin",
            "/v1\\..\\admin",
            "/v1//admin",
            "/v1/\u{e9}",
            "/v1/a b",
        ] {
            assert!(matches!(check(p), Err(Refusal::AmbiguousPath { .. })), "{p}");
        }
        assert!(check(&format!("/{}", "a".repeat(MAX_PATH_BYTES))).is_err());
    }

    #[test]
    fn prefixes_match_on_segment_boundaries() {
        assert!(under("/v1", "/v1"));
        assert!(under("/v1/x", "/v1"));
        assert!(!under("/v10", "/v1"));
        assert!(under("/v1/x", "/v1/"));
        assert!(!under("/v1", "/v1/"));
        assert!(under("/anything", "/"));
        assert!(!under("/V1/x", "/v1"));
    }
}
