//! Test upstreams (raw TCP servers on 127.0.0.1 with scripted behaviour), a raw agent client
//! on the proxy's Unix socket, and a harness wiring a session to a test resolver.
//!
//! Both ends are hand-written on purpose: the agent side must be able to send what no HTTP
//! client would (CL+TE, CONNECT, origin-form), and the upstream side must misbehave on demand
//! (drip, oversize) while recording exactly what reached it.

#![allow(dead_code)]

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nexus_egress::{Budget, CallRecord, Egress, EgressConfig, Policy, Routes, SecretValue, Secrets, StaticResolver};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UnixListener, UnixStream};
use tokio::sync::mpsc;

/// What an upstream does with each request.
#[derive(Debug, Clone, Copy)]
pub enum Behaviour {
    /// 200 with the raw request (head and body) as the body.
    Echo,
    /// 200 with `n` bytes and a Content-Length.
    Big(usize),
    /// 200 with `n` bytes, chunked (no length known up front).
    BigChunked(usize),
    /// Waits this long before answering at all.
    SlowHead(Duration),
    /// Sends the head promptly, then one body byte every 100 ms, 100 bytes in all.
    Drip,
}

pub struct Upstream {
    pub port: u16,
    /// Every raw request received.
    pub seen: Arc<Mutex<Vec<String>>>,
}

impl Upstream {
    pub async fn start(behaviour: Behaviour) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind upstream");
        let port = listener.local_addr().expect("addr").port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let log = log.clone();
                tokio::spawn(async move {
                    let raw = read_request(&mut stream).await;
                    log.lock().expect("lock").push(raw.clone());
                    let _ = respond(&mut stream, behaviour, &raw).await;
                });
            }
        });
        Upstream { port, seen }
    }

    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().expect("lock").clone()
    }
}

pub async fn read_request<S: tokio::io::AsyncRead + Unpin>(stream: &mut S) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                break;
            }
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

pub async fn respond<S: tokio::io::AsyncWrite + Unpin>(
    stream: &mut S,
    behaviour: Behaviour,
    raw: &str,
) -> std::io::Result<()> {
    match behaviour {
        Behaviour::Echo => {
            let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", raw.len());
            stream.write_all(head.as_bytes()).await?;
            stream.write_all(raw.as_bytes()).await?;
        }
        Behaviour::Big(n) => {
            stream.write_all(format!("HTTP/1.1 200 OK\r\ncontent-length: {n}\r\n\r\n").as_bytes()).await?;
            stream.write_all(&vec![b'x'; n]).await?;
        }
        Behaviour::BigChunked(n) => {
            stream.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n").await?;
            for _ in 0..n / 1000 {
                stream.write_all(format!("3e8\r\n{}\r\n", "x".repeat(1000)).as_bytes()).await?;
            }
            stream.write_all(b"0\r\n\r\n").await?;
        }
        Behaviour::SlowHead(wait) => {
            tokio::time::sleep(wait).await;
            stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await?;
        }
        Behaviour::Drip => {
            stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n").await?;
            for _ in 0..100 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                stream.write_all(b"x").await?;
            }
        }
    }
    stream.flush().await
}

/// The agent's view of one exchange.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
    /// The response ended cleanly (full Content-Length or last chunk).
    pub complete: bool,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn refused_by_proxy(&self) -> bool {
        self.head.to_ascii_lowercase().contains("x-nexus-egress: refused")
    }
}

/// Sends raw bytes as the agent and reads the reply to EOF.
pub async fn send(socket: &PathBuf, raw: &[u8]) -> Reply {
    let mut stream = UnixStream::connect(socket).await.expect("connect socket");
    stream.write_all(raw).await.expect("write request");
    let mut buf = Vec::new();
    // A cut response ends in a reset or early EOF; either way what arrived is the reply.
    let _ = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut buf)).await;
    parse(&buf)
}

fn parse(buf: &[u8]) -> Reply {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n").expect("a response head");
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status");
    let rest = &buf[end + 4..];
    let lower = head.to_ascii_lowercase();
    if lower.contains("transfer-encoding: chunked") {
        let (body, complete) = dechunk(rest);
        return Reply { status, head, body, complete };
    }
    let length =
        lower.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse::<usize>().ok());
    let complete = length.is_none_or(|n| n == rest.len());
    Reply { status, head, body: rest.to_vec(), complete }
}

fn dechunk(mut rest: &[u8]) -> (Vec<u8>, bool) {
    let mut body = Vec::new();
    loop {
        let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") else { return (body, false) };
        let Ok(size) = usize::from_str_radix(String::from_utf8_lossy(&rest[..line_end]).trim(), 16) else {
            return (body, false);
        };
        rest = &rest[line_end + 2..];
        if size == 0 {
            return (body, true);
        }
        if rest.len() < size + 2 {
            body.extend_from_slice(&rest[..rest.len().min(size)]);
            return (body, false);
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

pub const SECRET: &str = "sk-TOP-SECRET-VALUE";

/// One session on a fresh socket: hosts `api.test` and `other.test` resolve to 127.0.0.1 (the
/// only allowed address), `private.test` to 10.0.0.1, `meta.test` to 169.254.169.254 and
/// `loop.test` to 127.0.0.2 (loopback, not allowed).
pub struct Harness {
    pub socket: PathBuf,
    pub records: mpsc::Receiver<CallRecord>,
    _dir: tempfile::TempDir,
    _serve: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Harness {
    pub async fn start(network: serde_json::Value, budget: Budget) -> Harness {
        Self::start_with(network, budget, Vec::new()).await
    }

    /// With operator-added TLS roots.
    pub async fn start_with(
        network: serde_json::Value,
        budget: Budget,
        extra_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
    ) -> Harness {
        Self::start_full(network, budget, extra_roots, Routes::default()).await
    }

    /// With operator routes.
    pub async fn start_routed(network: serde_json::Value, routes: Routes) -> Harness {
        Self::start_full(network, Budget::default(), Vec::new(), routes).await
    }

    async fn start_full(
        network: serde_json::Value,
        budget: Budget,
        extra_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
        routes: Routes,
    ) -> Harness {
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        let resolver = StaticResolver::default()
            .with("api.test", ip("127.0.0.1"))
            .with("other.test", ip("127.0.0.1"))
            .with("private.test", ip("10.0.0.1"))
            .with("meta.test", ip("169.254.169.254"))
            .with("loop.test", ip("127.0.0.2"))
            .with("tls.test", ip("127.0.0.1"))
            .with("wrong.test", ip("127.0.0.1"));
        let mut secrets = Secrets::default();
        secrets.insert("api-key", SecretValue::new(format!("Bearer {SECRET}")));
        secrets.insert("query-key", SecretValue::new(SECRET));
        let config = EgressConfig { budget, allow_addresses: vec![ip("127.0.0.1")], secrets, extra_roots, routes };
        let egress = Egress::new(config, Arc::new(resolver)).expect("egress");
        let policy = Policy::from_json(&network).expect("policy");
        let (tx, records) = mpsc::channel(256);
        let session = egress.session(policy, tx).expect("session");
        let dir = tempfile::tempdir().expect("tempdir");
        let socket = dir.path().join("egress.sock");
        let listener = UnixListener::bind(&socket).expect("bind socket");
        let serve = tokio::spawn(session.serve(listener));
        Harness { socket, records, _dir: dir, _serve: serve }
    }

    pub async fn send(&self, raw: &str) -> Reply {
        send(&self.socket, raw.as_bytes()).await
    }

    pub async fn record(&mut self) -> CallRecord {
        tokio::time::timeout(Duration::from_secs(10), self.records.recv())
            .await
            .expect("a record in time")
            .expect("record channel open")
    }
}
