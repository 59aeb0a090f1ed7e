//! End-to-end egress through the relayer (issue 15): a real container (the hostile agent's
//! `egress` behaviour) attacks the proxy through `/run/egress.sock` with raw bytes, next to a
//! normal allowed GET, against a local upstream routed in for `https://api.example.com`. Every
//! attack must come back as a clear HTTP error to the agent AND a system line in the
//! execution's log, the normal GET must succeed, the operator's key must reach only its host
//! and prefix, and the run must settle as the agent's exit says. Run twice: the second request
//! takes a pre-started container, whose socket is bound after it was created.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use alloy::primitives::U256;
use common::Stack;
use nexus_egress::{EgressConfig, Routes, SecretValue, Secrets};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const SETTLE_TIMEOUT: Duration = Duration::from_secs(90);
const KEY: &str = "sk-test-9f8e7d6c";
/// Bytes of `/v1/big`: over the agent's `bytesIn` budget (64 KiB).
const BIG: usize = 200_000;

/// A plain-HTTP upstream on 127.0.0.1 standing in for `https://api.example.com`; keeps every
/// request head it received.
async fn upstream() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind upstream");
    let port = listener.local_addr().expect("addr").port();
    let heads = Arc::new(Mutex::new(Vec::new()));
    let seen = heads.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                seen.lock().expect("heads").push(head.clone());
                let path = head.split(' ').nth(1).unwrap_or("").to_owned();
                let body: Vec<u8> = match path.as_str() {
                    "/v1/big" => vec![b'x'; BIG],
                    "/v1/echo" => head.into_bytes(),
                    _ => br#"{"ok":true}"#.to_vec(),
                };
                let answer = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                let _ = stream.write_all(answer.as_bytes()).await;
                let _ = stream.write_all(&body).await;
            });
        }
    });
    (port, heads)
}

fn metadata() -> String {
    let doc = serde_json::json!({
        "name": "egress-attacker",
        "network": {
            "rules": [{"scheme": "https", "host": "api.example.com", "methods": ["GET", "POST"], "pathPrefixes": ["/v1"]}],
            "budget": {"requests": 20, "bytesIn": 65536},
            "secrets": [{"name": "apikey", "host": "api.example.com", "pathPrefix": "/v1/keyed", "header": "x-api-key"}]
        }
    });
    format!("data:application/json,{doc}")
}

async fn system_lines(stack: &Stack, request: U256) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT line FROM execution_logs WHERE request_id = $1::numeric AND stream = 'system' ORDER BY seq",
    )
    .bind(request.to_string())
    .fetch_all(&stack.pool)
    .await
    .expect("logs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_egress_is_refused_and_logged_while_an_allowed_call_succeeds() {
    let stack = Stack::start("relayer_egress").await;
    let (port, heads) = upstream().await;
    let mut secrets = Secrets::default();
    secrets.insert("apikey", SecretValue::new(KEY));
    let upstream_origin = format!("http://127.0.0.1:{port}");
    let routes = Routes::parse([("https://api.example.com", upstream_origin.as_str())]).expect("route");
    let relayer = stack
        .relayer(|c| {
            c.egress = Some(EgressConfig {
                allow_addresses: vec![[127, 0, 0, 1].into()],
                routes,
                secrets,
                ..Default::default()
            })
        })
        .await;
    let agent = stack.register_with_metadata("hostile", 60, &metadata()).await;
    let credit = stack.buy(agent, 2).await;
    let input = serde_json::json!({"behaviour": "egress", "host": "api.example.com", "port": port}).to_string();

    for round in ["cold", "pre-started"] {
        let request = stack.request(credit, stack.upload(input.as_bytes()).await).await;
        let (status, output) = stack.settled(request, SETTLE_TIMEOUT).await;
        let lines = system_lines(&stack, request).await;
        assert_eq!(status, "Succeeded", "{round}: the agent exits 0 with its report; log: {lines:?}");
        let bytes: Vec<u8> = sqlx::query_scalar("SELECT bytes FROM blobs WHERE hash = $1")
            .bind(output.expect("output").to_vec())
            .fetch_one(&stack.pool)
            .await
            .expect("output blob");
        let report: serde_json::Value = serde_json::from_slice(&bytes).expect("report");
        println!("{round} report: {report:#}");
        let status_of = |name: &str| report[name]["status"].as_u64().unwrap_or_else(|| panic!("{name}: {report}"));
        assert_eq!(status_of("allowed"), 200, "{round}: the normal GET succeeds");
        assert_eq!(report["allowed"]["body"], r#"{"ok":true}"#);
        for (attack, expected, line) in [
            ("host_not_listed", 403, "egress GET evil.example.net/v1/ok -> refused 403"),
            ("wrong_method", 403, "egress DELETE api.example.com/v1/ok -> refused 403"),
            ("wrong_path", 403, "egress GET api.example.com/admin -> refused 403"),
            ("ip_literal", 403, "egress GET 127.0.0.1/v1/ok -> refused 403"),
            ("connect", 405, "egress CONNECT"),
            ("smuggling", 400, "refused 400"),
            ("oversized_response", 507, "egress GET api.example.com/v1/big -> refused 507"),
            ("key_to_other_host", 403, "egress GET evil.example.net/v1/keyed -> refused 403"),
        ] {
            assert_eq!(status_of(attack), expected, "{round}: {attack}: {}", report[attack]);
            let body = report[attack]["body"].as_str().unwrap_or_default();
            assert!(body.starts_with("egress refused: "), "{round}: {attack} is told why: {body:?}");
            assert!(lines.iter().any(|l| l.contains(line)), "{round}: {attack} logged as {line:?}: {lines:?}");
        }
        // The key went to its host and prefix only; what the agent could read back has none.
        let echoed = report["key_read_back"]["body"].as_str().unwrap_or_default();
        assert!(echoed.contains("GET /v1/echo"), "{round}: the echo reached the upstream: {echoed}");
        assert!(!echoed.contains(KEY) && !bytes.windows(KEY.len()).any(|w| w == KEY.as_bytes()), "{round}");
        // The request budget (20) ends the loop with a 429, logged.
        let looped = &report["budget_loop"];
        assert_eq!(looped["last"]["status"], 429, "{round}: {looped}");
        assert!(looped["sent"].as_u64().is_some_and(|n| n < 20), "{round}: {looped}");
        assert!(lines.iter().any(|l| l.contains("-> refused 429")), "{round}: {lines:?}");
    }
    // No request head the upstream saw carries the key (the agent never asked for /v1/keyed).
    assert!(heads.lock().expect("heads").iter().all(|h| !h.contains(KEY)), "the key leaked upstream");

    let metrics = relayer.metrics.render();
    for series in [
        "nexus_relayer_egress_requests_total{outcome=\"forwarded\"}",
        "nexus_relayer_egress_refusals_total{reason=\"connect\"} 2",
        "nexus_relayer_egress_refusals_total{reason=\"host\"} 4",
        "nexus_relayer_egress_refusals_total{reason=\"budget_requests\"} 2",
        "nexus_relayer_egress_request_seconds_count",
    ] {
        assert!(metrics.contains(series), "{series} in {metrics}");
    }
    relayer.stop().await;
    stack.stop().await;
}

/// An agent whose metadata is not content-addressed gets no socket, and its log says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metadata_without_a_network_section_gets_no_socket() {
    let stack = Stack::start("relayer_egress_none").await;
    let relayer = stack.relayer(|_| {}).await;
    let agent = stack.register_with_metadata("hostile", 60, r#"data:application/json,{"name":"no-network"}"#).await;
    let credit = stack.buy(agent, 1).await;
    let input = serde_json::json!({"behaviour": "egress", "loop": 1}).to_string();
    let request = stack.request(credit, stack.upload(input.as_bytes()).await).await;
    let (status, output) = stack.settled(request, SETTLE_TIMEOUT).await;
    assert_eq!(status, "Succeeded");
    let bytes: Vec<u8> = sqlx::query_scalar("SELECT bytes FROM blobs WHERE hash = $1")
        .bind(output.expect("output").to_vec())
        .fetch_one(&stack.pool)
        .await
        .expect("output blob");
    let report: serde_json::Value = serde_json::from_slice(&bytes).expect("report");
    assert_eq!(report["allowed"]["status"], 0, "no socket to connect to: {report}");
    let lines = system_lines(&stack, request).await;
    assert!(lines.iter().any(|l| l.contains("no network section")), "{lines:?}");
    relayer.stop().await;
    stack.stop().await;
}
