//! URL mode: fetching a page through the egress door.
//!
//! Only pages under [`ALLOWED`] are fetched, the same origins and path prefixes the metadata's
//! `network` rules list: the proxy would refuse anything else anyway, but checking here first
//! turns a buyer's typo into an input error (exit 2, no refund question) instead of a refused
//! request. Redirects are not followed (the target might be outside the policy); the error names
//! where the page moved so the buyer can ask for that URL.

use agent_io::http::{Egress, HttpError, Request};
use serde::Serialize;

use crate::MAX_TEXT_BYTES;
use crate::html::{self, PageText};

/// `(host, path prefix)` pairs the summarizer fetches from, over https. Wikipedia: stable,
/// server-rendered article HTML at `/wiki/<Title>`, no key, and its terms allow automated reads
/// at this rate. Adding a host means adding it here and to the metadata's `network` rules.
pub const ALLOWED: &[(&str, &str)] = &[("en.wikipedia.org", "/wiki/")];
pub const MAX_URL_BYTES: usize = 2048;
/// Largest page body read (HTML is several times its text).
pub const MAX_PAGE_BYTES: usize = 4 * 1024 * 1024;

/// What was fetched.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    pub url: String,
    pub title: Option<String>,
    pub content_type: String,
    /// Bytes of the page body.
    pub bytes: usize,
    /// Whether the page's text was cut to the summarizer's text limit.
    pub truncated: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("url must be an https URL of at most {MAX_URL_BYTES} bytes under one of: {}", allowed())]
    NotAllowed,
    #[error("the page answered HTTP {0}")]
    NotFound(u16),
    #[error("the page moved to {0:?}: ask for that URL")]
    Redirect(String),
    #[error("content type {0:?} is neither HTML nor plain text")]
    ContentType(String),
    #[error("the page has no text to summarize")]
    Empty,
    #[error("fetching the page: {0}")]
    Http(#[from] HttpError),
}

impl WebError {
    /// Whether the buyer's URL is at fault (exit 2) rather than the network or the site (exit 1).
    pub fn is_input(&self) -> bool {
        !matches!(self, WebError::Http(_))
    }
}

fn allowed() -> String {
    ALLOWED.iter().map(|(h, p)| format!("https://{h}{p}")).collect::<Vec<_>>().join(", ")
}

/// Checks `url` against [`ALLOWED`] without sending anything.
pub fn check_url(url: &str) -> Result<(), WebError> {
    if url.len() > MAX_URL_BYTES || url.bytes().any(|b| b <= b' ' || b == 0x7f || b == b'#' || b == b'\\') {
        return Err(WebError::NotAllowed);
    }
    let rest = url.strip_prefix("https://").ok_or(WebError::NotAllowed)?;
    let slash = rest.find('/').ok_or(WebError::NotAllowed)?;
    let (host, path) = rest.split_at(slash);
    let path = path.split('?').next().unwrap_or_default();
    let dot_segment = path.split('/').any(|s| s == "." || s == ".." || s.eq_ignore_ascii_case("%2e%2e"));
    let listed =
        ALLOWED.iter().any(|(h, p)| host.eq_ignore_ascii_case(h) && path.starts_with(p) && path.len() > p.len());
    if dot_segment || !listed {
        return Err(WebError::NotAllowed);
    }
    Ok(())
}

/// The text of a fetched body by its content type.
pub fn page_text(content_type: &str, body: &[u8]) -> Result<PageText, WebError> {
    let mime = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    let text = String::from_utf8_lossy(body);
    let page = match mime.as_str() {
        "text/html" | "application/xhtml+xml" => html::to_text(&text, MAX_TEXT_BYTES),
        "text/plain" => {
            let mut cut = text.len().min(MAX_TEXT_BYTES);
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            PageText { title: None, text: text[..cut].trim().to_owned(), truncated: cut < text.len() }
        }
        _ => return Err(WebError::ContentType(mime.chars().take(100).collect())),
    };
    if page.text.is_empty() {
        return Err(WebError::Empty);
    }
    Ok(page)
}

/// Fetches `url` (checked with [`check_url`]) and returns its text and what was fetched.
pub fn fetch(net: &Egress, url: &str) -> Result<(String, Source), WebError> {
    check_url(url)?;
    let request = Request::new("GET", url).header("accept", "text/html, text/plain;q=0.9");
    let response = net.send(&request)?;
    match response.status {
        200..=299 => {}
        300..=399 => {
            let to = response.header("location").unwrap_or("(no location)");
            return Err(WebError::Redirect(to.chars().filter(|c| !c.is_control()).take(300).collect()));
        }
        404 | 410 => return Err(WebError::NotFound(response.status)),
        _ => return Err(response.error_for_status().err().map_or(WebError::Empty, WebError::Http)),
    }
    let content_type = response.header("content-type").unwrap_or("application/octet-stream").to_owned();
    let page = page_text(&content_type, &response.body)?;
    let source = Source {
        url: url.to_owned(),
        title: page.title,
        content_type: content_type.split(';').next().unwrap_or_default().trim().to_owned(),
        bytes: response.body.len(),
        truncated: page.truncated,
    };
    Ok((page.text, source))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_pages_pass() {
        assert!(check_url("https://en.wikipedia.org/wiki/Tide").is_ok());
        assert!(check_url("https://en.wikipedia.org/wiki/Caf%C3%A9?oldid=1").is_ok());
        for bad in [
            "http://en.wikipedia.org/wiki/Tide",
            "https://en.wikipedia.org/w/api.php?action=query",
            "https://en.wikipedia.org/wiki/",
            "https://en.wikipedia.org:8443/wiki/Tide",
            "https://user@en.wikipedia.org/wiki/Tide",
            "https://evil.example/wiki/Tide",
            "https://en.wikipedia.org.evil.example/wiki/Tide",
            "https://en.wikipedia.org/wiki/../w/index.php",
            "https://en.wikipedia.org/wiki/Tide#History",
            "https://en.wikipedia.org/wiki/Two words",
        ] {
            assert!(matches!(check_url(bad), Err(WebError::NotAllowed)), "{bad}");
        }
        assert!(check_url(&format!("https://en.wikipedia.org/wiki/{}", "a".repeat(MAX_URL_BYTES))).is_err());
    }

    #[test]
    fn html_and_plain_text_are_read_other_types_refused() {
        let page = page_text("text/html; charset=UTF-8", b"<title>T</title><p>One. Two.</p>").expect("html");
        assert_eq!((page.title.as_deref(), page.text.as_str()), (Some("T"), "One. Two."));
        let page = page_text("text/plain", b"  Plain words.\n").expect("text");
        assert_eq!((page.title, page.text.as_str(), page.truncated), (None, "Plain words.", false));
        assert!(
            matches!(page_text("application/pdf", b"%PDF"), Err(WebError::ContentType(t)) if t == "application/pdf")
        );
        assert!(matches!(page_text("text/html", b"<script>x</script>"), Err(WebError::Empty)));
        let long = "word ".repeat(MAX_TEXT_BYTES / 5 + 10);
        assert!(page_text("text/plain", long.as_bytes()).expect("text").truncated);
    }
}
