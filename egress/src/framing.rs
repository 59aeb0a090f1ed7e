//! The request head, read and checked before hyper parses it.
//!
//! hyper resolves ambiguous framing itself (with both `Content-Length` and `Transfer-Encoding` it
//! drops the length and reads chunks; identical duplicate lengths are merged), so by the time a
//! request reaches the service the ambiguity is invisible and cannot be refused or recorded.
//! The proxy refuses it instead: a request whose framing two parsers could read differently is
//! a smuggling attempt, not a request. This module reads the head bytes (bounded), refuses
//! CL+TE, duplicate or list-valued `Content-Length`, any `Transfer-Encoding` but a single
//! `chunked`, and obsolete line folding, then replays the bytes to hyper ([`Prefixed`]).
//!
//! The agent's side serves one request per connection (no keep-alive), so this check sees every
//! request head, and no byte left over by one request can be read as the start of another.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

use crate::Refusal;

/// Largest request head accepted (also hyper's read buffer).
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// What the head says, for the record, and whether its framing is acceptable.
#[derive(Debug)]
pub(crate) struct Head {
    pub method: String,
    pub target: String,
    pub verdict: Result<(), Refusal>,
}

/// Reads until the end of the head. `Ok(None)`: the agent closed without sending anything.
pub(crate) async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> io::Result<Option<(Bytes, Head)>> {
    let mut buf = BytesMut::with_capacity(4096);
    loop {
        if let Some(end) = find_end(&buf) {
            let head = check(&buf[..end]);
            return Ok(Some((buf.freeze(), head)));
        }
        if bare_line_break(&buf) {
            // Refused without waiting for a CRLF CRLF that a bare-LF head never sends.
            let head = check(&buf);
            return Ok(Some((buf.freeze(), head)));
        }
        if buf.len() >= MAX_HEAD_BYTES {
            let mut head = check(&buf);
            head.verdict = Err(Refusal::Malformed(format!("request head larger than {MAX_HEAD_BYTES} bytes")));
            return Ok(Some((buf.freeze(), head)));
        }
        if stream.read_buf(&mut buf).await? == 0 {
            if buf.is_empty() {
                return Ok(None);
            }
            let mut head = check(&buf);
            head.verdict = Err(Refusal::Malformed("connection closed inside the request head".into()));
            return Ok(Some((buf.freeze(), head)));
        }
    }
}

fn find_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// A CR not followed by LF, or an LF not preceded by CR. hyper (httparse) accepts a bare LF as
/// a line end while this check splits on CRLF, so a head mixing them could hide a header from
/// one of the two readers: refused, whatever it holds.
fn bare_line_break(buf: &[u8]) -> bool {
    buf.iter().enumerate().any(|(i, &b)| match b {
        b'\n' => i == 0 || buf[i - 1] != b'\r',
        // A CR at the very end may be followed by its LF in the next read.
        b'\r' => buf.get(i + 1).is_some_and(|&next| next != b'\n'),
        _ => false,
    })
}

fn check(head: &[u8]) -> Head {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let method: String = parts.next().unwrap_or_default().chars().take(16).collect();
    let target: String = parts.next().unwrap_or_default().chars().take(256).collect();
    let verdict = if bare_line_break(head) {
        Err(Refusal::AmbiguousFraming("bare CR or LF in the request head"))
    } else {
        framing(lines)
    };
    Head { method, target, verdict }
}

fn framing<'a>(lines: impl Iterator<Item = &'a str>) -> Result<(), Refusal> {
    let (mut lengths, mut encodings) = (0, 0);
    for line in lines.take_while(|l| !l.is_empty()) {
        if line.starts_with([' ', '\t']) {
            return Err(Refusal::AmbiguousFraming("obsolete header line folding"));
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(Refusal::Malformed("header line without a colon".into()));
        };
        if name.is_empty() || name.bytes().any(|b| b.is_ascii_whitespace()) {
            return Err(Refusal::AmbiguousFraming("whitespace in a header name"));
        }
        if name.eq_ignore_ascii_case("content-length") {
            lengths += 1;
            if value.contains(',') {
                return Err(Refusal::AmbiguousFraming("list-valued Content-Length"));
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            encodings += 1;
            if !value.trim().eq_ignore_ascii_case("chunked") {
                return Err(Refusal::AmbiguousFraming("Transfer-Encoding other than chunked"));
            }
        }
    }
    match (lengths, encodings) {
        (l, e) if l > 0 && e > 0 => Err(Refusal::AmbiguousFraming("both Content-Length and Transfer-Encoding")),
        (l, _) if l > 1 => Err(Refusal::AmbiguousFraming("duplicate Content-Length")),
        (_, e) if e > 1 => Err(Refusal::AmbiguousFraming("duplicate Transfer-Encoding")),
        _ => Ok(()),
    }
}

/// A stream that first yields bytes already read from it.
pub(crate) struct Prefixed<S> {
    prefix: Bytes,
    inner: S,
}

impl<S> Prefixed<S> {
    pub fn new(prefix: Bytes, inner: S) -> Self {
        Self { prefix, inner }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.prefix.has_remaining() {
            let n = self.prefix.len().min(buf.remaining());
            buf.put_slice(&self.prefix[..n]);
            self.prefix.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(head: &str) -> Result<(), Refusal> {
        check(head.as_bytes()).verdict
    }

    #[test]
    fn ambiguous_framing_is_refused() {
        let ok = "POST http://a.test/ HTTP/1.1\r\nHost: a.test\r\nContent-Length: 3\r\n\r\n";
        assert_eq!(verdict(ok), Ok(()));
        assert_eq!(verdict("POST http://a.test/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"), Ok(()));
        for bad in [
            "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\ncontent-length: 3\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nX: a\r\n b\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length : 3\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 3\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nX: 1\rTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\nContent-Length: 3\n\n",
        ] {
            assert!(matches!(verdict(bad), Err(Refusal::AmbiguousFraming(_))), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn a_bare_lf_head_is_refused_without_waiting_for_crlf() {
        let (mut agent, mut proxy) = tokio::io::duplex(1024);
        // The agent keeps its end open: the verdict must not wait for more bytes.
        tokio::io::AsyncWriteExt::write_all(&mut agent, b"GET http://a.test/ HTTP/1.1\nHost: a\n\n")
            .await
            .expect("write");
        let read = tokio::time::timeout(std::time::Duration::from_secs(2), read_head(&mut proxy)).await;
        let (_, head) = read.expect("no wait").expect("io").expect("a head");
        assert!(matches!(head.verdict, Err(Refusal::AmbiguousFraming(_))));
    }

    #[tokio::test]
    async fn prefix_is_replayed_before_the_rest() {
        let (mut a, b) = tokio::io::duplex(64);
        tokio::io::AsyncWriteExt::write_all(&mut a, b"world").await.expect("write");
        drop(a);
        let mut s = Prefixed::new(Bytes::from_static(b"hello "), b);
        let mut out = String::new();
        s.read_to_string(&mut out).await.expect("read");
        assert_eq!(out, "hello world");
    }
}
