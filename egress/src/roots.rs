//! Operator roots (`EgressConfig::extra_roots`) from PEM text: the relayer config names PEM
//! files (a sandbox's or a company proxy's CA), the proxy wants DER certificates.

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// Why a PEM text gave no roots.
#[derive(Debug, thiserror::Error)]
pub enum RootsError {
    #[error("not PEM certificates: {0}")]
    Pem(String),
    #[error("no CERTIFICATE block")]
    Empty,
}

/// Every `CERTIFICATE` block of `pem` (other blocks, such as keys, are skipped); at least one.
pub fn roots_from_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, RootsError> {
    let roots = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| RootsError::Pem(format!("{e:?}")))?;
    if roots.is_empty() {
        return Err(RootsError::Empty);
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificates_are_read_and_anything_else_refused() {
        let ca = rcgen::generate_simple_self_signed(vec!["ca.test".into()]).expect("cert");
        let pem = format!("{}{}", ca.signing_key.serialize_pem(), ca.cert.pem());
        let roots = roots_from_pem(pem.as_bytes()).expect("one root");
        assert_eq!(roots.len(), 1);
        assert_eq!(roots[0].as_ref(), ca.cert.der().as_ref());
        assert!(matches!(roots_from_pem(b"hello"), Err(RootsError::Empty)));
        let broken = "-----BEGIN CERTIFICATE-----\n@@@\n-----END CERTIFICATE-----\n";
        assert!(roots_from_pem(broken.as_bytes()).is_err());
    }
}
