//! https upstreams: the certificate is verified against the webpki roots plus the operator's
//! extra roots, for the policy's host name (not the address connected to).
//!
//! `tests/tls/` holds a test CA (`ca.pem`) and a leaf for `tls.test` signed by it (key in
//! `leaf.key`), made once with openssl, valid for 100 years; they protect nothing.

mod support;

use std::sync::Arc;

use nexus_egress::{Budget, Outcome, Refusal};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::json;
use support::{Behaviour, Harness};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

const CA: &[u8] = include_bytes!("tls/ca.pem");
const LEAF: &[u8] = include_bytes!("tls/leaf.pem");
const KEY: &[u8] = include_bytes!("tls/leaf.key");

/// An https echo server for `tls.test` on 127.0.0.1; returns its port.
async fn tls_upstream() -> u16 {
    let certs = vec![CertificateDer::from_pem_slice(LEAF).expect("leaf")];
    let key = PrivateKeyDer::from_pem_slice(KEY).expect("key");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server config");
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(tcp).await {
                    let raw = support::read_request(&mut tls).await;
                    let _ = support::respond(&mut tls, Behaviour::Echo, &raw).await;
                }
            });
        }
    });
    port
}

fn network(port: u16) -> serde_json::Value {
    json!({ "rules": [
        { "scheme": "https", "host": "tls.test", "port": port, "methods": ["GET"], "pathPrefixes": ["/"] },
        { "scheme": "https", "host": "wrong.test", "port": port, "methods": ["GET"], "pathPrefixes": ["/"] }
    ] })
}

fn ca() -> Vec<CertificateDer<'static>> {
    vec![CertificateDer::from_pem_slice(CA).expect("ca")]
}

#[tokio::test]
async fn https_with_an_operator_root_succeeds() {
    let port = tls_upstream().await;
    let mut h = Harness::start_with(network(port), Budget::default(), ca()).await;
    let reply = h.send(&format!("GET https://tls.test:{port}/hello HTTP/1.1\r\n\r\n")).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(reply.text().starts_with("GET /hello HTTP/1.1\r\n"), "{}", reply.text());
    assert_eq!(h.record().await.outcome, Outcome::Status(200));
}

#[tokio::test]
async fn unverifiable_certificates_are_refused() {
    let port = tls_upstream().await;
    // Without the test CA: unknown issuer.
    let mut h = Harness::start_with(network(port), Budget::default(), Vec::new()).await;
    let reply = h.send(&format!("GET https://tls.test:{port}/ HTTP/1.1\r\n\r\n")).await;
    assert_eq!(reply.status, 502, "{}", reply.text());
    assert!(reply.refused_by_proxy());
    assert!(matches!(h.record().await.outcome, Outcome::Refused(Refusal::Upstream(e)) if e.contains("TLS")));
    // With it, but for a name the certificate does not cover.
    let mut h = Harness::start_with(network(port), Budget::default(), ca()).await;
    let reply = h.send(&format!("GET https://wrong.test:{port}/ HTTP/1.1\r\n\r\n")).await;
    assert_eq!(reply.status, 502, "{}", reply.text());
    assert!(matches!(h.record().await.outcome, Outcome::Refused(Refusal::Upstream(e)) if e.contains("TLS")));
}
