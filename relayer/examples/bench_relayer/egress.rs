//! `relayer.egress_overhead_ms_p50` / `_p99`: what the egress proxy adds to one request. The
//! same small GET to a local upstream, [`ROUNDS`] times directly over TCP and [`ROUNDS`] times
//! through a proxy session on a Unix socket (the relayer's own `nexus_egress` setup: policy
//! check, route, address filter, one upstream connection per request, record), alternating so
//! both see the same machine load. Reported as the difference of the two distributions'
//! percentiles. Bar (issue 15): p50 < 2 ms.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use nexus_egress::{Budget, Egress, EgressConfig, Policy, Routes, StaticResolver};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

/// Requests each way.
const ROUNDS: usize = 2000;
const BODY: &[u8] = br#"{"ok":true}"#;

/// Answers every connection's one request with [`BODY`].
async fn upstream() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 2048];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", BODY.len());
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(BODY).await;
            });
        }
    });
    Ok(port)
}

/// Sends `request` and reads the answer to its end; checks it is a 200.
async fn exchange<S: AsyncReadExt + AsyncWriteExt + Unpin>(mut stream: S, request: &[u8]) -> Result<()> {
    stream.write_all(request).await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    anyhow::ensure!(answer.starts_with(b"HTTP/1.1 200"), "answer: {}", String::from_utf8_lossy(&answer));
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// (p50, p99) of the overhead in milliseconds.
pub async fn overhead(percentile: fn(&mut [f64], f64) -> f64) -> Result<(f64, f64)> {
    let port = upstream().await?;
    let routes = Routes::parse([("https://api.bench.example", format!("http://127.0.0.1:{port}").as_str())])?;
    let budget = Budget {
        requests: u32::try_from(ROUNDS).unwrap_or(u32::MAX) + 10,
        total_time: Duration::from_secs(600),
        ..Budget::default()
    };
    let config = EgressConfig { budget, allow_addresses: vec![[127, 0, 0, 1].into()], routes, ..Default::default() };
    let egress = Egress::new(config, Arc::new(StaticResolver::default()))?;
    let policy = Policy::from_json(&serde_json::json!({"rules": [
        {"scheme": "https", "host": "api.bench.example", "methods": ["GET"], "pathPrefixes": ["/v1"]}
    ]}))?;
    // Records are drained as the relayer does (its log writer), so the bench pays their cost.
    let (tx, mut records) = tokio::sync::mpsc::channel(256);
    tokio::spawn(async move { while records.recv().await.is_some() {} });
    let session = egress.session(policy, tx)?;
    let dir = tempfile::tempdir()?;
    let socket = dir.path().join("egress.sock");
    let serving = tokio::spawn(session.serve(UnixListener::bind(&socket)?));

    let direct_request = format!("GET /v1/x HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n").into_bytes();
    let proxied_request = b"GET https://api.bench.example/v1/x HTTP/1.1\r\nHost: api.bench.example\r\n\r\n".to_vec();
    let (mut direct, mut proxied) = (Vec::with_capacity(ROUNDS), Vec::with_capacity(ROUNDS));
    for _ in 0..ROUNDS {
        let t = Instant::now();
        exchange(TcpStream::connect(("127.0.0.1", port)).await?, &direct_request).await.context("direct")?;
        direct.push(ms(t.elapsed()));
        let t = Instant::now();
        exchange(UnixStream::connect(&socket).await?, &proxied_request).await.context("through the proxy")?;
        proxied.push(ms(t.elapsed()));
    }
    serving.abort();
    let (direct50, proxied50) = (percentile(&mut direct, 50.0), percentile(&mut proxied, 50.0));
    let (direct99, proxied99) = (percentile(&mut direct, 99.0), percentile(&mut proxied, 99.0));
    eprintln!(
        "bench-relayer: egress direct p50 {direct50:.3} ms, proxied p50 {proxied50:.3} ms ({ROUNDS} requests each)"
    );
    Ok((proxied50 - direct50, proxied99 - direct99))
}
