//! The agent's one way out: plain HTTP/1.1 over the egress socket the relayer mounts into the
//! container (`/run/egress.sock`; `docs/ARCHITECTURE.md`, "The agent container contract").
//!
//! The container has no network and no DNS. An agent writes each request with an absolute URL
//! (`GET https://api.example/x HTTP/1.1`) to the socket; the relayer's proxy checks it against
//! the agent's curated `network` policy, adds operator-held keys, makes the upstream connection
//! itself (TLS included) and streams the answer back. So this client never does TLS or name
//! resolution, and a request the proxy refuses comes back as an ordinary HTTP error whose body
//! starts with `egress refused:`.
//!
//! Deliberately small and synchronous (agents are sync programs): one connection per request
//! (`Connection: close`, the proxy serves one request per connection anyway), responses read
//! whole and bounded ([`Egress::max_body`]), socket timeouts on every read and write. A hyper or
//! reqwest client was rejected: they bring an async runtime and a connector stack into every
//! static agent binary for a job this size.

use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Where the relayer mounts the egress socket inside the container.
pub const DEFAULT_SOCKET: &str = "/run/egress.sock";
/// Environment variable naming another socket (agent tests point it at a test proxy).
pub const SOCKET_ENV: &str = "NEXUS_EGRESS_SOCKET";
/// Default bound of a response body. The proxy's bytes-in budget bounds the whole execution;
/// this bounds one response in the agent's memory (256 MiB container).
pub const DEFAULT_MAX_BODY: usize = 8 * 1024 * 1024;
/// Bound of a response head (status line and headers).
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Default timeout of each socket read or write. The proxy enforces the real per-request and
/// total budgets; this only keeps an agent from hanging on a socket that went silent.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// How much of an error body [`HttpError::Status`] keeps (for the agent's log line).
const ERROR_SNIPPET_BYTES: usize = 300;

/// Why a request produced no usable response.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("no network: this execution has no egress socket at {0} (the agent's metadata grants no network)")]
    NoNetwork(PathBuf),
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: &'static str },
    #[error("invalid header {0:?}")]
    InvalidHeader(String),
    #[error("cannot reach the egress proxy: {0}")]
    Connect(#[source] io::Error),
    #[error("egress socket: {0}")]
    Io(#[source] io::Error),
    #[error("malformed response from the egress proxy: {0}")]
    Malformed(&'static str),
    #[error("response body larger than {0} bytes")]
    TooLarge(usize),
    #[error("HTTP {status}: {snippet}")]
    Status { status: u16, snippet: String },
    #[error("response is not the expected JSON: {0}")]
    Json(#[source] serde_json::Error),
}

impl HttpError {
    /// Whether the proxy (not the upstream) refused the request: policy, budget or address.
    pub fn is_egress_refusal(&self) -> bool {
        matches!(self, HttpError::Status { snippet, .. } if snippet.starts_with("egress refused:"))
    }
}

impl From<HttpError> for crate::AgentError {
    fn from(error: HttpError) -> Self {
        crate::AgentError::Failed(error.to_string())
    }
}

/// One request.
#[derive(Debug, Clone)]
pub struct Request {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    pub fn new(method: &str, url: impl Into<String>) -> Self {
        Request { method: method.to_ascii_uppercase(), url: url.into(), headers: Vec::new(), body: Vec::new() }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// A JSON body with its content type.
    pub fn json<T: Serialize>(self, value: &T) -> Result<Self, HttpError> {
        let body = serde_json::to_vec(value).map_err(HttpError::Json)?;
        Ok(self.header("content-type", "application/json").body(body))
    }

    /// The bytes written to the socket.
    fn encode(&self) -> Result<Vec<u8>, HttpError> {
        let host = authority(&self.url)?;
        if !self.method.bytes().all(|b| b.is_ascii_uppercase()) || self.method.is_empty() {
            return Err(HttpError::InvalidHeader(self.method.clone()));
        }
        let mut head = format!("{} {} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n", self.method, self.url);
        for (name, value) in &self.headers {
            // A CR or LF would let a header value start a header (or a request) of its own.
            let token = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b));
            if !token || value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
                return Err(HttpError::InvalidHeader(name.clone()));
            }
            let lower = name.to_ascii_lowercase();
            if ["host", "connection", "content-length", "transfer-encoding"].contains(&lower.as_str()) {
                return Err(HttpError::InvalidHeader(name.clone()));
            }
            let _ = write!(head, "{name}: {value}\r\n");
        }
        if !self.body.is_empty() || matches!(self.method.as_str(), "POST" | "PUT" | "PATCH") {
            let _ = write!(head, "content-length: {}\r\n", self.body.len());
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&self.body);
        Ok(bytes)
    }
}

/// `host[:port]` of an absolute http(s) URL, checked for what would break the request line.
fn authority(url: &str) -> Result<&str, HttpError> {
    let invalid = |reason| HttpError::InvalidUrl { url: url.chars().take(200).collect(), reason };
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| invalid("expected an absolute http:// or https:// URL"))?;
    if url.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(invalid("spaces and control characters must be percent-encoded"));
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    if authority.is_empty() || authority.contains('@') {
        return Err(invalid("expected a host (and no userinfo)"));
    }
    Ok(authority)
}

/// A response, read whole.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Header names lower-cased, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header named `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json<T: DeserializeOwned>(&self) -> Result<T, HttpError> {
        serde_json::from_slice(&self.body).map_err(HttpError::Json)
    }

    /// `self` for a 1xx-3xx status; [`HttpError::Status`] with the start of the body otherwise.
    pub fn error_for_status(self) -> Result<Self, HttpError> {
        if self.status < 400 {
            return Ok(self);
        }
        let snippet: String = self.text().chars().filter(|c| !c.is_control()).take(ERROR_SNIPPET_BYTES).collect();
        Err(HttpError::Status { status: self.status, snippet })
    }
}

/// The egress socket of this execution.
#[derive(Debug, Clone)]
pub struct Egress {
    socket: PathBuf,
    max_body: usize,
    timeout: Duration,
}

impl Egress {
    /// The socket named by [`SOCKET_ENV`], else [`DEFAULT_SOCKET`]. Fails with
    /// [`HttpError::NoNetwork`] when it does not exist: the execution has no network.
    pub fn from_env() -> Result<Self, HttpError> {
        let socket = std::env::var_os(SOCKET_ENV).map_or_else(|| PathBuf::from(DEFAULT_SOCKET), PathBuf::from);
        Self::at(socket)
    }

    pub fn at(socket: impl Into<PathBuf>) -> Result<Self, HttpError> {
        let socket = socket.into();
        if !socket.exists() {
            return Err(HttpError::NoNetwork(socket));
        }
        Ok(Egress { socket, max_body: DEFAULT_MAX_BODY, timeout: DEFAULT_TIMEOUT })
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Bounds each response body.
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// Bounds each socket read and write.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn get(&self, url: &str) -> Result<Response, HttpError> {
        self.send(&Request::new("GET", url))
    }

    pub fn post_json<T: Serialize>(&self, url: &str, body: &T) -> Result<Response, HttpError> {
        self.send(&Request::new("POST", url).json(body)?)
    }

    pub fn send(&self, request: &Request) -> Result<Response, HttpError> {
        let bytes = request.encode()?;
        let mut stream = UnixStream::connect(&self.socket).map_err(HttpError::Connect)?;
        stream.set_read_timeout(Some(self.timeout)).map_err(HttpError::Io)?;
        stream.set_write_timeout(Some(self.timeout)).map_err(HttpError::Io)?;
        stream.write_all(&bytes).map_err(HttpError::Io)?;
        read_response(BufReader::new(stream), self.max_body)
    }
}

/// Reads a status line, headers and a body framed by `Transfer-Encoding: chunked`,
/// `Content-Length` or the end of the connection.
fn read_response(mut reader: impl BufRead, max_body: usize) -> Result<Response, HttpError> {
    let mut head_bytes = 0;
    let status_line = read_line(&mut reader, &mut head_bytes)?;
    let mut parts = status_line.splitn(3, ' ');
    let (version, code) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    if !version.starts_with("HTTP/1.") || code.len() != 3 {
        return Err(HttpError::Malformed("status line"));
    }
    let status = code.parse::<u16>().map_err(|_| HttpError::Malformed("status code"))?;
    let mut headers = Vec::new();
    loop {
        let line = read_line(&mut reader, &mut head_bytes)?;
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').ok_or(HttpError::Malformed("header line"))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let response = Response { status, headers, body: Vec::new() };
    let chunked = response.header("transfer-encoding").is_some_and(|te| te.to_ascii_lowercase().ends_with("chunked"));
    let body = if chunked {
        read_chunked(&mut reader, max_body)?
    } else if let Some(length) = response.header("content-length") {
        let length = length.parse::<usize>().map_err(|_| HttpError::Malformed("content-length"))?;
        if length > max_body {
            return Err(HttpError::TooLarge(max_body));
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).map_err(HttpError::Io)?;
        body
    } else {
        read_bounded(&mut reader, max_body)?
    };
    Ok(Response { body, ..response })
}

/// One CRLF-terminated line of the head, counted against [`MAX_HEAD_BYTES`].
fn read_line(reader: &mut impl BufRead, head_bytes: &mut usize) -> Result<String, HttpError> {
    let mut line = Vec::new();
    let limit = (MAX_HEAD_BYTES - *head_bytes) as u64;
    reader.take(limit).read_until(b'\n', &mut line).map_err(HttpError::Io)?;
    *head_bytes += line.len();
    if line.last() != Some(&b'\n') {
        return Err(HttpError::Malformed(if *head_bytes >= MAX_HEAD_BYTES {
            "head too large"
        } else {
            "truncated head"
        }));
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    String::from_utf8(line).map_err(|_| HttpError::Malformed("non-UTF-8 head"))
}

fn read_bounded(reader: &mut impl Read, max_body: usize) -> Result<Vec<u8>, HttpError> {
    let mut body = Vec::new();
    reader.take(max_body as u64 + 1).read_to_end(&mut body).map_err(HttpError::Io)?;
    if body.len() > max_body {
        return Err(HttpError::TooLarge(max_body));
    }
    Ok(body)
}

fn read_chunked(reader: &mut impl BufRead, max_body: usize) -> Result<Vec<u8>, HttpError> {
    let mut body = Vec::new();
    let mut line_bytes = 0;
    loop {
        // Chunk-size lines share one bound so a stream of empty extensions cannot run forever.
        let line = read_line(reader, &mut line_bytes)?;
        let size = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size, 16).map_err(|_| HttpError::Malformed("chunk size"))?;
        if size == 0 {
            // Trailers (the proxy drops them) up to the empty line.
            while !read_line(reader, &mut line_bytes)?.is_empty() {}
            return Ok(body);
        }
        if body.len().saturating_add(size) > max_body {
            return Err(HttpError::TooLarge(max_body));
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..]).map_err(HttpError::Io)?;
        if !read_line(reader, &mut line_bytes)?.is_empty() {
            return Err(HttpError::Malformed("chunk not followed by CRLF"));
        }
    }
}

/// `base?k=v&...` with keys and values percent-encoded (RFC 3986 unreserved kept).
pub fn with_query(base: &str, params: &[(&str, &str)]) -> String {
    let mut url = base.to_owned();
    for (i, (key, value)) in params.iter().enumerate() {
        url.push(if i == 0 && !base.contains('?') { '?' } else { '&' });
        percent_encode_into(&mut url, key);
        url.push('=');
        percent_encode_into(&mut url, value);
    }
    url
}

fn percent_encode_into(out: &mut String, text: &str) {
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    fn response(raw: &str, max: usize) -> Result<Response, HttpError> {
        read_response(raw.as_bytes(), max)
    }

    #[test]
    fn encodes_absolute_form_requests() {
        let bytes = Request::new("post", "https://api.example.com:8443/v1/x?q=1")
            .header("Accept", "application/json")
            .body("{}")
            .encode()
            .unwrap();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "POST https://api.example.com:8443/v1/x?q=1 HTTP/1.1\r\nhost: api.example.com:8443\r\nconnection: close\r\n\
             Accept: application/json\r\ncontent-length: 2\r\n\r\n{}"
        );
    }

    #[test]
    fn refuses_requests_that_would_change_meaning_on_the_wire() {
        for url in ["/v1/x", "ftp://x/", "https://", "https://u@h/", "https://h/a b", "https://h/\r\nX: y"] {
            assert!(matches!(Request::new("GET", url).encode(), Err(HttpError::InvalidUrl { .. })), "{url:?}");
        }
        for (name, value) in [("x", "a\r\nb"), ("bad name", "v"), ("Content-Length", "1"), ("Host", "h")] {
            let r = Request::new("GET", "https://h/").header(name, value).encode();
            assert!(matches!(r, Err(HttpError::InvalidHeader(_))), "{name}");
        }
    }

    #[test]
    fn reads_each_body_framing() {
        let r = response("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello", 100).unwrap();
        assert_eq!((r.status, r.header("x-a"), r.body.as_slice()), (200, Some("b"), &b"hello"[..]));
        let r = response(
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
            100,
        )
        .unwrap();
        assert_eq!(r.text(), "hello world");
        let r = response("HTTP/1.1 404 Not Found\r\n\r\nuntil the end", 100).unwrap();
        assert_eq!((r.status, r.text().as_str()), (404, "until the end"));
    }

    #[test]
    fn bounds_bodies_and_heads() {
        assert!(matches!(
            response("HTTP/1.1 200 OK\r\ncontent-length: 101\r\n\r\n", 100),
            Err(HttpError::TooLarge(100))
        ));
        let chunked =
            format!("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n40\r\n{}\r\n40\r\n", "a".repeat(64));
        assert!(matches!(response(&chunked, 100), Err(HttpError::TooLarge(100))));
        assert!(matches!(
            response(&format!("HTTP/1.1 200 OK\r\n\r\n{}", "a".repeat(101)), 100),
            Err(HttpError::TooLarge(_))
        ));
        let huge = format!("HTTP/1.1 200 OK\r\nx: {}\r\n\r\n", "a".repeat(MAX_HEAD_BYTES));
        assert!(matches!(response(&huge, 100), Err(HttpError::Malformed("head too large"))));
        assert!(matches!(response("SMTP ready\r\n\r\n", 100), Err(HttpError::Malformed(_))));
        assert!(matches!(response("HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nshort", 100), Err(HttpError::Io(_))));
    }

    #[test]
    fn status_errors_keep_a_clean_snippet_and_spot_proxy_refusals() {
        let r = response("HTTP/1.1 403 Forbidden\r\n\r\negress refused: host evil.example is not allowed\x1b[2J", 100);
        let err = r.unwrap().error_for_status().unwrap_err();
        assert!(err.is_egress_refusal());
        assert_eq!(err.to_string(), "HTTP 403: egress refused: host evil.example is not allowed[2J");
        let err = response("HTTP/1.1 500 Oops\r\n\r\nupstream", 100).unwrap().error_for_status().unwrap_err();
        assert!(!err.is_egress_refusal());
    }

    #[test]
    fn query_strings_are_encoded() {
        assert_eq!(
            with_query("https://h/f", &[("latitude", "52.52"), ("hourly", "temperature_2m,rain"), ("q", "a b&c")]),
            "https://h/f?latitude=52.52&hourly=temperature_2m%2Crain&q=a%20b%26c"
        );
        assert_eq!(with_query("https://h/f?x=1", &[("y", "2")]), "https://h/f?x=1&y=2");
    }

    #[test]
    fn talks_to_a_socket_and_reports_a_missing_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("egress.sock");
        assert!(matches!(Egress::at(&path), Err(HttpError::NoNetwork(_))));
        let listener = UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream);
            let mut head = String::new();
            while !head.ends_with("\r\n\r\n") {
                reader.read_line(&mut head).unwrap();
            }
            let mut body = [0u8; 15];
            reader.read_exact(&mut body).unwrap();
            let mut stream = reader.into_inner();
            stream
                .write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{\"ok\":true}",
                )
                .unwrap();
            (head, String::from_utf8(body.to_vec()).unwrap())
        });
        let egress = Egress::at(&path).unwrap();
        let reply = egress.post_json("http://api.test/v1/x", &serde_json::json!({"type":"meta"})).unwrap();
        assert_eq!(reply.json::<serde_json::Value>().unwrap(), serde_json::json!({"ok": true}));
        let (head, body) = server.join().unwrap();
        assert!(head.starts_with("POST http://api.test/v1/x HTTP/1.1\r\nhost: api.test\r\n"), "{head}");
        assert!(head.contains("content-type: application/json\r\ncontent-length: 15\r\n"), "{head}");
        assert_eq!(body, r#"{"type":"meta"}"#);
    }
}
