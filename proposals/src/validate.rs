//! The shape check of proposals: the limits in [`crate::limits`] plus the structural rules a
//! wallet relies on (a decodable `submitTo`, a `submitBody` the signature can be added to,
//! JSON numbers that survive re-serialisation).

use std::io;

use serde_json::Value;

use crate::Proposal;
use crate::limits::{
    MAX_CALL_DATA_BYTES, MAX_PROPOSALS, MAX_SUBMIT_BODY_JSON_BYTES, MAX_SUBMIT_TO_BYTES, MAX_SUMMARY_CHARS,
    MAX_TYPED_DATA_JSON_BYTES,
};

/// Why an output's proposals were refused. The `Display` text is what the relayer writes to
/// the run's system log, so it names the entry and the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProposalsError {
    #[error("output is not a JSON document: {0}")]
    NotJson(String),
    #[error("`proposals` must be an array")]
    NotAnArray,
    #[error("{count} proposals, at most {MAX_PROPOSALS}")]
    TooMany { count: usize },
    /// The entry is not a proposal at all (unknown `kind`, missing or unknown field, wrong type).
    #[error("proposal {index}: {reason}")]
    Shape { index: usize, reason: String },
    /// The entry is a proposal but breaks a rule.
    #[error("proposal {index}: {rule}")]
    Invalid { index: usize, rule: Rule },
}

/// A rule one proposal breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rule {
    #[error("summary is empty")]
    SummaryEmpty,
    #[error("summary has {chars} characters, at most {MAX_SUMMARY_CHARS}")]
    SummaryTooLong { chars: usize },
    /// Control characters (newlines, escapes) and bidirectional overrides would let a summary
    /// rewrite or reorder what the confirmation screen shows around it.
    #[error("summary contains control or bidirectional character U+{code:04X}")]
    SummaryForbiddenChar { code: u32 },
    #[error("chainId is 0")]
    ZeroChainId,
    /// Sending to the zero address burns the value, and some tooling reads it as a contract
    /// creation: never something to propose.
    #[error("`to` is the zero address")]
    ZeroAddressTarget,
    #[error("data has {bytes} bytes, at most {MAX_CALL_DATA_BYTES}")]
    DataTooLarge { bytes: usize },
    #[error("typedData is more than {MAX_TYPED_DATA_JSON_BYTES} bytes of JSON")]
    TypedDataTooLarge,
    #[error("typedData is not EIP-712 JSON: {0}")]
    TypedDataShape(String),
    #[error("submitBody is more than {MAX_SUBMIT_BODY_JSON_BYTES} bytes of JSON")]
    SubmitBodyTooLarge,
    #[error("submitBody must be a JSON object")]
    SubmitBodyNotObject,
    #[error("submitBody already has a `signature` (the wallet adds it)")]
    SubmitBodyHasSignature,
    /// Big integers and decimals would be altered by the JSON round trip between the agent and
    /// the signer (f64), so what gets signed or posted would differ from what the agent wrote.
    /// EIP-712 JSON and exchange APIs carry such values as strings.
    #[error("{field} has a number that is not a 64-bit integer ({number}); write it as a string")]
    InexactNumber { field: &'static str, number: String },
    #[error("submitTo has {bytes} bytes, at most {MAX_SUBMIT_TO_BYTES}")]
    SubmitToTooLong { bytes: usize },
    #[error("submitTo is not an absolute http(s) URL: {0}")]
    SubmitToNotHttpUrl(&'static str),
}

/// Checks every limit and rule of the contract. Parsing ([`crate::Proposals::from_output`])
/// calls it; agents building proposals call it (or [`crate::Proposals::new`]) before writing
/// them. With the `eip712` feature, typed data must also parse as EIP-712 and hash.
pub fn validate(proposals: &[Proposal]) -> Result<(), ProposalsError> {
    if proposals.len() > MAX_PROPOSALS {
        return Err(ProposalsError::TooMany { count: proposals.len() });
    }
    for (index, proposal) in proposals.iter().enumerate() {
        check(proposal).map_err(|rule| ProposalsError::Invalid { index, rule })?;
    }
    Ok(())
}

fn check(proposal: &Proposal) -> Result<(), Rule> {
    check_summary(proposal.summary())?;
    match proposal {
        Proposal::Call { chain_id, to, data, .. } => {
            if *chain_id == 0 {
                return Err(Rule::ZeroChainId);
            }
            if to.is_zero() {
                return Err(Rule::ZeroAddressTarget);
            }
            if data.len() > MAX_CALL_DATA_BYTES {
                return Err(Rule::DataTooLarge { bytes: data.len() });
            }
        }
        Proposal::TypedData { typed_data, submit_to, submit_body, .. } => {
            if !fits_json(typed_data, MAX_TYPED_DATA_JSON_BYTES) {
                return Err(Rule::TypedDataTooLarge);
            }
            check_typed_data_shape(typed_data)?;
            exact_numbers(typed_data, "typedData")?;
            if !fits_json(submit_body, MAX_SUBMIT_BODY_JSON_BYTES) {
                return Err(Rule::SubmitBodyTooLarge);
            }
            let body = submit_body.as_object().ok_or(Rule::SubmitBodyNotObject)?;
            if body.contains_key("signature") {
                return Err(Rule::SubmitBodyHasSignature);
            }
            exact_numbers(submit_body, "submitBody")?;
            submit_host(submit_to)?;
            #[cfg(feature = "eip712")]
            crate::eip712::signing_hash(typed_data)?;
        }
    }
    Ok(())
}

/// A code point is refused if it is a control character (C0, DEL, C1), a line or paragraph
/// separator, or a bidirectional formatting character (the "Trojan Source" set).
fn forbidden(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{061C}' | '\u{200E}' | '\u{200F}')
        || ('\u{202A}'..='\u{202E}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

fn check_summary(summary: &str) -> Result<(), Rule> {
    if summary.trim().is_empty() {
        return Err(Rule::SummaryEmpty);
    }
    let chars = summary.chars().count();
    if chars > MAX_SUMMARY_CHARS {
        return Err(Rule::SummaryTooLong { chars });
    }
    match summary.chars().find(|&c| forbidden(c)) {
        Some(c) => Err(Rule::SummaryForbiddenChar { code: u32::from(c) }),
        None => Ok(()),
    }
}

/// The four members of `eth_signTypedData_v4`'s argument, with their JSON types, and nothing
/// else. (Whether they form valid EIP-712 is the `eip712` feature's check.)
fn check_typed_data_shape(typed_data: &Value) -> Result<(), Rule> {
    let object = typed_data.as_object().ok_or_else(|| Rule::TypedDataShape("not a JSON object".into()))?;
    for (key, want_object) in [("types", true), ("primaryType", false), ("domain", true), ("message", true)] {
        let ok = match object.get(key) {
            Some(value) if want_object => value.is_object(),
            Some(value) => value.as_str().is_some_and(|s| !s.is_empty()),
            None => false,
        };
        if !ok {
            let want = if want_object { "an object" } else { "a non-empty string" };
            return Err(Rule::TypedDataShape(format!("`{key}` must be {want}")));
        }
    }
    if let Some(extra) = object.keys().find(|k| !matches!(k.as_str(), "types" | "primaryType" | "domain" | "message")) {
        return Err(Rule::TypedDataShape(format!("unknown member `{extra}`")));
    }
    Ok(())
}

/// Whether `value`'s compact JSON fits in `limit` bytes. Serialises into a counter that stops
/// at the limit, so an oversized value costs at most `limit` bytes of work, never an allocation.
fn fits_json(value: &Value, limit: usize) -> bool {
    struct Budget(usize);
    impl io::Write for Budget {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0 = self.0.checked_sub(buf.len()).ok_or_else(|| io::Error::other("over the limit"))?;
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    serde_json::to_writer(Budget(limit), value).is_ok()
}

fn exact_numbers(value: &Value, field: &'static str) -> Result<(), Rule> {
    match value {
        Value::Number(n) if !(n.is_i64() || n.is_u64()) => Err(Rule::InexactNumber { field, number: n.to_string() }),
        Value::Array(items) => items.iter().try_for_each(|v| exact_numbers(v, field)),
        Value::Object(members) => members.values().try_for_each(|v| exact_numbers(v, field)),
        _ => Ok(()),
    }
}

/// The authority (`host[:port]`) of a `submitTo` URL, after checking it is an absolute http(s)
/// URL of printable ASCII without credentials. This is what a confirmation screen must show
/// prominently: the signature goes there.
///
/// Deliberately narrower than a general URL parser: non-ASCII hosts must be written in their
/// punycode form, so a look-alike (homograph) host is visible as such.
pub fn submit_host(url: &str) -> Result<&str, Rule> {
    if url.len() > MAX_SUBMIT_TO_BYTES {
        return Err(Rule::SubmitToTooLong { bytes: url.len() });
    }
    if !url.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Rule::SubmitToNotHttpUrl("only printable ASCII without spaces"));
    }
    let scheme_end = url.find("://").ok_or(Rule::SubmitToNotHttpUrl("no scheme"))?;
    if !matches!(url[..scheme_end].to_ascii_lowercase().as_str(), "http" | "https") {
        return Err(Rule::SubmitToNotHttpUrl("scheme must be http or https"));
    }
    let rest = &url[scheme_end + 3..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    if authority.contains('@') {
        return Err(Rule::SubmitToNotHttpUrl("credentials in the URL"));
    }
    let (host, port) = match authority.strip_prefix('[') {
        // An IPv6 literal: `[..]`, then an optional `:port`.
        Some(v6) => {
            let (host, after) = v6.split_once(']').ok_or(Rule::SubmitToNotHttpUrl("unclosed IPv6 literal"))?;
            match after {
                "" => (host, None),
                _ => (host, Some(after.strip_prefix(':').ok_or(Rule::SubmitToNotHttpUrl("bad port"))?)),
            }
        }
        None => match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    if host.is_empty() {
        return Err(Rule::SubmitToNotHttpUrl("no host"));
    }
    if let Some(port) = port {
        let digits = !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
        if !digits || port.parse::<u16>().map_or(true, |p| p == 0) {
            return Err(Rule::SubmitToNotHttpUrl("bad port"));
        }
    }
    Ok(authority)
}
