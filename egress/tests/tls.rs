//! https upstreams: the certificate is verified against the webpki roots plus the operator's
//! extra roots, for the policy's host name (not the address connected to).
//!
//! Each test makes its own CA and a leaf for `tls.test` signed by it (rcgen), so no key material
//! lives in the repository.

mod support;

use std::sync::Arc;

use nexus_egress::{Budget, Outcome, Refusal};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::json;
use support::{Behaviour, Harness};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// A fresh CA and a leaf for `tls.test` it signed: (CA certificate, leaf certificate, leaf key).
fn pki() -> (CertificateDer<'static>, CertificateDer<'static>, PrivateKeyDer<'static>) {
    let ca_key = rcgen::KeyPair::generate().expect("ca key");
    let mut ca = rcgen::CertificateParams::new(Vec::new()).expect("ca params");
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name.push(rcgen::DnType::CommonName, "nexus-egress test CA");
    let ca_cert = ca.self_signed(&ca_key).expect("ca cert");
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let leaf_key = rcgen::KeyPair::generate().expect("leaf key");
    let leaf = rcgen::CertificateParams::new(vec!["tls.test".to_owned()]).expect("leaf params");
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).expect("leaf cert");
    let key = PrivateKeyDer::from_pem_slice(leaf_key.serialize_pem().as_bytes()).expect("key");
    (ca_cert.der().clone(), leaf_cert.der().clone(), key)
}

/// An https echo server for `tls.test` on 127.0.0.1 with a fresh PKI; returns its port and the
/// CA that signed its certificate.
async fn tls_upstream() -> (u16, Vec<CertificateDer<'static>>) {
    let (ca, leaf, key) = pki();
    let certs = vec![leaf];
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
    (port, vec![ca])
}

fn network(port: u16) -> serde_json::Value {
    json!({ "rules": [
        { "scheme": "https", "host": "tls.test", "port": port, "methods": ["GET"], "pathPrefixes": ["/"] },
        { "scheme": "https", "host": "wrong.test", "port": port, "methods": ["GET"], "pathPrefixes": ["/"] }
    ] })
}

#[tokio::test]
async fn https_with_an_operator_root_succeeds() {
    let (port, ca) = tls_upstream().await;
    let mut h = Harness::start_with(network(port), Budget::default(), ca).await;
    let reply = h.send(&format!("GET https://tls.test:{port}/hello HTTP/1.1\r\n\r\n")).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(reply.text().starts_with("GET /hello HTTP/1.1\r\n"), "{}", reply.text());
    assert_eq!(h.record().await.outcome, Outcome::Status(200));
}

#[tokio::test]
async fn unverifiable_certificates_are_refused() {
    let (port, ca) = tls_upstream().await;
    // Without the test CA: unknown issuer.
    let mut h = Harness::start_with(network(port), Budget::default(), Vec::new()).await;
    let reply = h.send(&format!("GET https://tls.test:{port}/ HTTP/1.1\r\n\r\n")).await;
    assert_eq!(reply.status, 502, "{}", reply.text());
    assert!(reply.refused_by_proxy());
    assert!(matches!(h.record().await.outcome, Outcome::Refused(Refusal::Upstream(e)) if e.contains("TLS")));
    // With it, but for a name the certificate does not cover.
    let mut h = Harness::start_with(network(port), Budget::default(), ca).await;
    let reply = h.send(&format!("GET https://wrong.test:{port}/ HTTP/1.1\r\n\r\n")).await;
    assert_eq!(reply.status, 502, "{}", reply.text());
    assert!(matches!(h.record().await.outcome, Outcome::Refused(Refusal::Upstream(e)) if e.contains("TLS")));
}
