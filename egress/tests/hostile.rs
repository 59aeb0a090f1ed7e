//! The hostile egress set, at library level, next to normal requests that must still
//! succeed. Every refusal must reach the agent as an HTTP error marked by the proxy and come
//! with a `CallRecord`; no refused request may reach an upstream.

mod support;

use std::time::Duration;

use nexus_egress::{Budget, Outcome, Refusal};
use serde_json::json;
use support::{Behaviour, Harness, SECRET, Upstream};

/// `api.test` (GET/POST under /v1/ and /v2/, with a header key under /v1/ and a query key under
/// /v2/) and `other.test` (anything under /).
fn network(api: u16, other: u16) -> serde_json::Value {
    json!({
        "rules": [
            { "scheme": "http", "host": "api.test", "port": api, "methods": ["GET", "POST"], "pathPrefixes": ["/v1/", "/v2/"] },
            { "scheme": "http", "host": "other.test", "port": other, "methods": ["GET", "POST"], "pathPrefixes": ["/"] },
            { "scheme": "http", "host": "private.test", "port": api, "methods": ["GET"], "pathPrefixes": ["/"] },
            { "scheme": "http", "host": "meta.test", "port": api, "methods": ["GET"], "pathPrefixes": ["/"] },
            { "scheme": "http", "host": "loop.test", "port": api, "methods": ["GET"], "pathPrefixes": ["/"] }
        ],
        "secrets": [
            { "name": "api-key", "host": "api.test", "pathPrefix": "/v1/", "header": "Authorization" },
            { "name": "query-key", "host": "api.test", "pathPrefix": "/v2/", "query": "key" }
        ]
    })
}

async fn setup(behaviour: Behaviour, budget: Budget) -> (Upstream, Upstream, Harness) {
    let api = Upstream::start(behaviour).await;
    let other = Upstream::start(Behaviour::Echo).await;
    let harness = Harness::start(network(api.port, other.port), budget).await;
    (api, other, harness)
}

fn get(url: &str) -> String {
    format!("GET {url} HTTP/1.1\r\nhost: x\r\n\r\n")
}

/// Sends `raw`, expects a proxy refusal with `status`, and returns the record's refusal.
async fn refused(h: &mut Harness, raw: &str, status: u16) -> Refusal {
    let reply = h.send(raw).await;
    assert_eq!(reply.status, status, "{}", reply.text());
    assert!(reply.refused_by_proxy(), "{}", reply.head);
    assert!(reply.text().starts_with("egress refused: "), "{}", reply.text());
    match h.record().await.outcome {
        Outcome::Refused(refusal) => {
            assert_eq!(refusal.status().as_u16(), status);
            refusal
        }
        other => panic!("expected a refusal record, got {other:?}"),
    }
}

#[tokio::test]
async fn normal_get_and_post_succeed() {
    let (api, _other, mut h) = setup(Behaviour::Echo, Budget::default()).await;
    let reply = h.send(&get(&format!("http://API.test:{}/v1/items?x=1", api.port))).await;
    assert_eq!(reply.status, 200);
    assert!(reply.complete);
    let echoed = reply.text();
    assert!(echoed.starts_with("GET /v1/items?x=1 HTTP/1.1\r\n"), "{echoed}");
    assert!(echoed.to_ascii_lowercase().contains(&format!("host: api.test:{}\r\n", api.port)), "{echoed}");
    let record = h.record().await;
    assert_eq!((record.method.as_str(), record.host.as_str(), record.path.as_str()), ("GET", "api.test", "/v1/items"));
    assert_eq!(record.outcome, Outcome::Status(200));
    assert!(record.bytes_out > 0 && record.bytes_in > echoed.len() as u64, "{record}");

    let post = format!(
        "POST http://api.test:{}/v1/items HTTP/1.1\r\nhost: api.test\r\nconnection: keep-alive, x-drop\r\nx-drop: 1\r\ncontent-length: 5\r\n\r\nhello",
        api.port
    );
    let reply = h.send(&post).await;
    assert_eq!(reply.status, 200);
    let echoed = reply.text().to_ascii_lowercase();
    assert!(echoed.ends_with("\r\n\r\nhello") && echoed.contains("content-length: 5\r\n"), "{echoed}");
    assert!(!echoed.contains("x-drop") && !echoed.contains("keep-alive"), "hop-by-hop forwarded: {echoed}");
    assert_eq!(h.record().await.outcome, Outcome::Status(200));
    assert_eq!(api.seen().len(), 2);
}

#[tokio::test]
async fn policy_refusals() {
    let (api, other, mut h) = setup(Behaviour::Echo, Budget::default()).await;
    let p = api.port;
    let r = refused(&mut h, &get(&format!("http://evil.test:{p}/v1/x")), 403).await;
    assert_eq!(r, Refusal::HostNotAllowed("evil.test".into()));
    let raw = format!("DELETE http://api.test:{p}/v1/x HTTP/1.1\r\nhost: x\r\n\r\n");
    assert!(matches!(refused(&mut h, &raw, 403).await, Refusal::MethodNotAllowed { .. }));
    assert!(matches!(
        refused(&mut h, &get(&format!("http://api.test:{p}/admin")), 403).await,
        Refusal::PathNotAllowed { .. }
    ));
    assert!(matches!(
        refused(&mut h, &get(&format!("http://api.test:{p}/v1/../admin")), 403).await,
        Refusal::AmbiguousPath { .. }
    ));
    assert!(matches!(
        refused(&mut h, &get(&format!("http://api.test:{p}/v1/%2e%2e/admin")), 403).await,
        Refusal::AmbiguousPath { .. }
    ));
    assert!(matches!(
        refused(&mut h, &get(&format!("https://api.test:{p}/v1/x")), 403).await,
        Refusal::SchemeOrPortNotAllowed { .. }
    ));
    assert!(matches!(refused(&mut h, &get(&format!("http://127.0.0.1:{p}/v1/x")), 403).await, Refusal::IpLiteral(_)));
    assert!(matches!(refused(&mut h, &get(&format!("http://[::1]:{p}/v1/x")), 403).await, Refusal::IpLiteral(_)));
    assert!(api.seen().is_empty() && other.seen().is_empty());
}

#[tokio::test]
async fn names_resolving_to_blocked_addresses_are_refused() {
    let (api, _other, mut h) = setup(Behaviour::Echo, Budget::default()).await;
    for (host, range) in [("private.test", "private"), ("meta.test", "cloud metadata"), ("loop.test", "loopback")] {
        let r = refused(&mut h, &get(&format!("http://{host}:{}/", api.port)), 403).await;
        assert!(matches!(r, Refusal::BlockedAddress { range: got, .. } if got == range), "{host}: {r:?}");
    }
    assert!(api.seen().is_empty());
}

#[tokio::test]
async fn connect_origin_form_and_smuggling_are_refused() {
    let (api, other, mut h) = setup(Behaviour::Echo, Budget::default()).await;
    let p = api.port;
    let connect = format!("CONNECT api.test:{p} HTTP/1.1\r\nhost: api.test:{p}\r\n\r\n");
    assert_eq!(refused(&mut h, &connect, 405).await, Refusal::Connect);
    assert_eq!(refused(&mut h, "GET /v1/x HTTP/1.1\r\nhost: api.test\r\n\r\n", 400).await, Refusal::NotAbsoluteForm);
    let smuggle = format!(
        "POST http://api.test:{p}/v1/x HTTP/1.1\r\nhost: api.test\r\ncontent-length: 4\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\nGET http://other.test:{}/ HTTP/1.1\r\nhost: other.test\r\n\r\n",
        other.port
    );
    assert!(matches!(refused(&mut h, &smuggle, 400).await, Refusal::AmbiguousFraming(_)));
    let duplicate =
        format!("POST http://api.test:{p}/v1/x HTTP/1.1\r\ncontent-length: 1\r\ncontent-length: 1\r\n\r\nx");
    assert!(matches!(refused(&mut h, &duplicate, 400).await, Refusal::AmbiguousFraming(_)));
    // The same smuggle with the Transfer-Encoding line hidden behind a bare LF.
    let hidden = format!(
        "POST http://api.test:{p}/v1/x HTTP/1.1\r\ncontent-length: 4\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n"
    );
    assert!(matches!(refused(&mut h, &hidden, 400).await, Refusal::AmbiguousFraming(_)));
    assert!(api.seen().is_empty() && other.seen().is_empty());
}

#[tokio::test]
async fn oversized_responses_are_refused_or_cut() {
    let budget = Budget { bytes_in: 3000, ..Budget::default() };
    let (api, _other, mut h) = setup(Behaviour::Big(5000), budget).await;
    let r = refused(&mut h, &get(&format!("http://api.test:{}/v1/big", api.port)), 507).await;
    assert_eq!(r, Refusal::BytesIn(3000));

    let (api, _other, mut h) = setup(Behaviour::BigChunked(10_000), budget).await;
    let reply = h.send(&get(&format!("http://api.test:{}/v1/big", api.port))).await;
    assert_eq!(reply.status, 200);
    assert!(!reply.complete && reply.body.len() < 3000, "{} bytes, complete: {}", reply.body.len(), reply.complete);
    let record = h.record().await;
    assert_eq!(record.outcome, Outcome::Cut { status: 200, refusal: Refusal::BytesIn(3000) });
}

#[tokio::test]
async fn slow_upstreams_time_out() {
    let budget = Budget { request_timeout: Duration::from_millis(400), ..Budget::default() };
    let (api, _other, mut h) = setup(Behaviour::SlowHead(Duration::from_secs(5)), budget).await;
    let started = std::time::Instant::now();
    let r = refused(&mut h, &get(&format!("http://api.test:{}/v1/slow", api.port)), 504).await;
    assert_eq!(r, Refusal::Timeout(400));
    assert!(started.elapsed() < Duration::from_secs(3));

    let (api, _other, mut h) = setup(Behaviour::Drip, budget).await;
    let reply = h.send(&get(&format!("http://api.test:{}/v1/drip", api.port))).await;
    assert_eq!(reply.status, 200);
    assert!(!reply.complete, "a dripping body must be cut, got {} bytes", reply.body.len());
    assert_eq!(h.record().await.outcome, Outcome::Cut { status: 200, refusal: Refusal::Timeout(400) });
}

#[tokio::test]
async fn request_loops_stop_at_the_budget() {
    let budget = Budget { requests: 3, bytes_out: 2000, ..Budget::default() };
    let (api, _other, mut h) = setup(Behaviour::Echo, budget).await;
    let body = "y".repeat(3000);
    let big =
        format!("POST http://api.test:{}/v1/x HTTP/1.1\r\ncontent-length: {}\r\n\r\n{body}", api.port, body.len());
    assert_eq!(refused(&mut h, &big, 413).await, Refusal::BytesOut(2000));
    for _ in 0..2 {
        assert_eq!(h.send(&get(&format!("http://api.test:{}/v1/x", api.port))).await.status, 200);
        assert_eq!(h.record().await.outcome, Outcome::Status(200));
    }
    let r = refused(&mut h, &get(&format!("http://api.test:{}/v1/x", api.port)), 429).await;
    assert_eq!(r, Refusal::RequestCount(3));
    assert_eq!(api.seen().len(), 2);
}

#[tokio::test]
async fn secrets_reach_only_their_host_and_prefix() {
    let (api, other, mut h) = setup(Behaviour::Echo, Budget::default()).await;
    let (a, o) = (api.port, other.port);
    // The agent's own Authorization header is replaced, not duplicated.
    let raw = format!("GET http://api.test:{a}/v1/chat HTTP/1.1\r\nauthorization: agent-made\r\n\r\n");
    assert_eq!(h.send(&raw).await.status, 200);
    let seen = api.seen().remove(0).to_ascii_lowercase();
    assert_eq!(seen.matches("authorization:").count(), 1, "{seen}");
    assert!(seen.contains(&format!("authorization: bearer {}", SECRET.to_ascii_lowercase())), "{seen}");
    // Query placement, replacing the agent's own `key`.
    assert_eq!(h.send(&get(&format!("http://api.test:{a}/v2/tr?key=mine&q=1"))).await.status, 200);
    assert!(api.seen()[1].starts_with(&format!("GET /v2/tr?q=1&key={SECRET} HTTP/1.1")), "{}", api.seen()[1]);

    // Everywhere else: another host (an echo the agent controls), or the same host outside the
    // declared prefix, the key never appears.
    for url in [format!("http://other.test:{o}/v1/chat"), format!("http://other.test:{o}/collect?key=")] {
        let reply = h.send(&get(&url)).await;
        assert_eq!(reply.status, 200);
        assert!(!reply.text().contains(SECRET));
    }
    assert!(other.seen().iter().all(|r| !r.contains(SECRET)) && other.seen().len() == 2);
    let raw = format!("POST http://api.test:{a}/v2/x HTTP/1.1\r\ncontent-length: 0\r\n\r\n");
    h.send(&raw).await;
    let raw = format!("GET http://api.test:{a}/v1 HTTP/1.1\r\n\r\n");
    assert!(h.send(&raw).await.status == 403);
    let last = api.seen().pop().expect("a request");
    assert!(last.starts_with("POST /v2/x?key=") && !last.to_ascii_lowercase().contains("authorization"), "{last}");
    for _ in 0..6 {
        let record = h.record().await;
        assert!(!format!("{record} {record:?}").contains(SECRET));
    }
}

#[tokio::test]
async fn idle_and_excess_connections_are_closed() {
    use tokio::io::AsyncReadExt;
    let budget = Budget { request_timeout: Duration::from_millis(300), ..Budget::default() };
    let (_api, _other, h) = setup(Behaviour::Echo, budget).await;
    // Silent connections fill the session's slots...
    let mut idle = Vec::new();
    for _ in 0..nexus_egress::proxy::MAX_CONNECTIONS {
        idle.push(tokio::net::UnixStream::connect(&h.socket).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    // ...so one more is closed at once, long before the idle ones time out.
    let mut extra = tokio::net::UnixStream::connect(&h.socket).await.expect("connect");
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_millis(200), extra.read_to_end(&mut buf)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "extra connection not closed: {read:?}");
    // The silent ones are closed at the request timeout.
    for mut stream in idle {
        let read = tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut buf)).await;
        assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "idle connection not closed: {read:?}");
    }
}

#[tokio::test]
async fn metadata_budgets_lower_the_operators_never_raise_it() {
    let api = Upstream::start(Behaviour::Echo).await;
    let url = format!("http://api.test:{}/v1/x", api.port);
    for (asked, operator, allowed) in [(1, 64, 1), (1000, 2, 2)] {
        let mut network = network(api.port, 1);
        network["budget"] = json!({ "requests": asked });
        let mut h = Harness::start(network, Budget { requests: operator, ..Budget::default() }).await;
        for _ in 0..allowed {
            assert_eq!(h.send(&get(&url)).await.status, 200);
            h.record().await;
        }
        assert_eq!(refused(&mut h, &get(&url), 429).await, Refusal::RequestCount(allowed));
    }
}

#[tokio::test]
async fn an_agent_that_stops_reading_is_cut_at_the_session_end() {
    use tokio::io::AsyncWriteExt;
    let budget = Budget { total_time: Duration::from_millis(500), ..Budget::default() };
    let (api, _other, mut h) = setup(Behaviour::Big(8 << 20), budget).await;
    let mut stream = tokio::net::UnixStream::connect(&h.socket).await.expect("connect");
    let raw = get(&format!("http://api.test:{}/v1/big", api.port));
    stream.write_all(raw.as_bytes()).await.expect("write");
    // Never read: the response fills the socket buffers and stalls.
    let record = h.record().await;
    assert_eq!(record.outcome, Outcome::Cut { status: 200, refusal: Refusal::TotalTime(500) });
    assert!(record.bytes_in < 8 << 20);
}
