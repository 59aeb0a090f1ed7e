//! Private results: Sign-In with Ethereum (EIP-4361) → a short-lived bearer token.
//!
//! Why a token and not a signature per request: wallets prompt for every signature, and an
//! execution's output is read several times (GraphQL, the raw download, a log subscription).
//! The token is stateless (HMAC-SHA256 over the address and expiry with a server secret), so
//! checking it costs no database round trip; it is short-lived because it cannot be revoked.
//!
//! Sign-in checks, in order: the message parses as EIP-4361; its domain is this server's, its
//! chain id the configured chain, version 1; it is not expired, not before its `Not Before`, not
//! issued in the future; the signature is the address's — by `ecrecover` for an account without
//! code, by EIP-1271 `isValidSignature` called on-chain for a smart account; finally the nonce,
//! which this server issued, is consumed atomically (`used_at` set only if still NULL), so a
//! signed message can be exchanged for a token exactly once. The nonce is consumed last so a
//! forged signature cannot burn someone else's nonce.
//!
//! This module is the protocol (messages, signatures, tokens) and imports nothing above the
//! scalars; the resolvers that store and consume nonces are the `mutation` module, and the HTTP
//! layer reads tokens through [`AuthConfig::verify`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use alloy::primitives::{Address, B256, Bytes, FixedBytes, Signature, eip191_hash_message};
use alloy::providers::{DynProvider, Provider};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::scalars;

alloy::sol! {
    #[sol(rpc)]
    interface IERC1271 {
        function isValidSignature(bytes32 hash, bytes signature) external view returns (bytes4 magicValue);
    }
}

/// `isValidSignature`'s answer for a valid signature (its own selector, per EIP-1271).
const ERC1271_MAGIC: [u8; 4] = [0x16, 0x26, 0xba, 0x7e];

/// How far in the future a message's `Issued At` may be: wallet clocks drift.
const CLOCK_SKEW: Duration = Duration::from_secs(60);

/// `signInChallenge`s one client address may ask for: a burst (a few tabs, retries), then one
/// per second. Each stores a nonce row until it expires, so without a bound a script could fill
/// the table.
pub const CHALLENGE_BURST: f64 = 30.0;
pub const CHALLENGE_RATE_PER_SECOND: f64 = 1.0;

/// Who is making the request: the signed-in address, if a valid token came with it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Viewer(pub Option<Address>);

/// Token signing and lifetimes (from configuration).
#[derive(Clone)]
pub struct AuthConfig {
    pub secret: Vec<u8>,
    pub token_ttl: Duration,
    pub nonce_ttl: Duration,
    /// The EIP-4361 `domain` messages must name (`host[:port]` of this API as users reach it).
    pub domain: String,
    /// The chain id messages must name; `None` accepts any.
    pub chain_id: Option<u64>,
}

/// Why a bearer token was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("malformed bearer token")]
    Malformed,
    #[error("bearer token signature is invalid")]
    BadSignature,
    #[error("bearer token expired; sign in again")]
    Expired,
}

/// Bytes from the operating system's CSPRNG (nonces and the fallback token secret).
pub fn random_bytes<const N: usize>() -> Result<[u8; N], getrandom::Error> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out)?;
    Ok(out)
}

pub(crate) fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn mac(secret: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length; new_from_slice cannot fail for it.
    <Hmac<Sha256> as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!("HMAC takes any key length"))
}

impl AuthConfig {
    /// A token for `address` valid until `expires` (unix seconds).
    pub fn issue(&self, address: Address, expires: u64) -> String {
        let payload = format!("v1.{}.{expires}", alloy::hex::encode(address));
        let mut m = mac(&self.secret);
        m.update(payload.as_bytes());
        let tag = m.finalize().into_bytes();
        format!("{}.{}", URL_SAFE_NO_PAD.encode(payload), URL_SAFE_NO_PAD.encode(tag))
    }

    /// The address a token was issued to, if it is authentic and unexpired.
    pub fn verify(&self, token: &str) -> Result<Address, TokenError> {
        let (payload, tag) = token.split_once('.').ok_or(TokenError::Malformed)?;
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| TokenError::Malformed)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| TokenError::Malformed)?;
        let mut m = mac(&self.secret);
        m.update(&payload);
        m.verify_slice(&tag).map_err(|_| TokenError::BadSignature)?;
        let text = std::str::from_utf8(&payload).map_err(|_| TokenError::Malformed)?;
        let mut parts = text.split('.');
        let (Some("v1"), Some(addr), Some(exp), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(TokenError::Malformed);
        };
        let address: Address = addr.parse().map_err(|_| TokenError::Malformed)?;
        let expires: u64 = exp.parse().map_err(|_| TokenError::Malformed)?;
        if expires <= now_secs() {
            return Err(TokenError::Expired);
        }
        Ok(address)
    }
}

// ---------------------------------------------------------------- EIP-4361

/// The fields of an EIP-4361 message this server checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiweMessage {
    pub domain: String,
    pub address: Address,
    pub statement: Option<String>,
    pub uri: String,
    pub version: String,
    pub chain_id: u64,
    pub nonce: String,
    pub issued_at: i64,
    pub expiration_time: Option<i64>,
    pub not_before: Option<i64>,
}

/// Why a sign-in message was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SiweError {
    #[error("not an EIP-4361 message: {0}")]
    Syntax(String),
    #[error("message is for domain `{found}`, this server is `{expected}`")]
    Domain { expected: String, found: String },
    #[error("message is for chain {found}, this server serves chain {expected}")]
    Chain { expected: u64, found: u64 },
    #[error("unsupported message version `{0}` (expected 1)")]
    Version(String),
    #[error("message expired")]
    Expired,
    #[error("message is not valid yet (Not Before)")]
    NotYetValid,
    #[error("message issued in the future")]
    IssuedInFuture,
    #[error("signature does not match the message's address")]
    WrongSigner,
    #[error("signature is malformed (expected 65 bytes as 0x-hex)")]
    MalformedSignature,
    #[error("nonce was already used")]
    NonceUsed,
    #[error("nonce unknown or expired; ask for a new one")]
    NonceUnknown,
}

const PREAMBLE: &str = " wants you to sign in with your Ethereum account:";

fn rfc3339(s: &str, field: &str) -> Result<i64, SiweError> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp())
        .map_err(|_| SiweError::Syntax(format!("`{field}` is not an RFC 3339 time")))
}

impl SiweMessage {
    /// Parses the ABNF of EIP-4361 (fields in their fixed order, optional ones may be absent).
    pub fn parse(text: &str) -> Result<Self, SiweError> {
        let syntax = |m: &str| SiweError::Syntax(m.to_string());
        let mut lines = text.split('\n').peekable();
        let first = lines.next().ok_or_else(|| syntax("empty message"))?;
        let domain = first.strip_suffix(PREAMBLE).ok_or_else(|| syntax("first line must end with the preamble"))?;
        let domain = domain.split_once("://").map_or(domain, |(_, d)| d).to_string();
        if domain.is_empty() {
            return Err(syntax("missing domain"));
        }
        let address_line = lines.next().ok_or_else(|| syntax("missing address"))?;
        let address = scalars::parse_hex::<20>(address_line)
            .map(Address::from)
            .ok_or_else(|| syntax("second line must be the address (0x + 40 hex digits)"))?;
        let mixed = address_line[2..].chars().any(|c| c.is_ascii_uppercase())
            && address_line[2..].chars().any(|c| c.is_ascii_lowercase());
        if mixed && address.to_checksum(None) != address_line {
            return Err(syntax("address has an invalid EIP-55 checksum"));
        }
        if lines.next() != Some("") {
            return Err(syntax("expected an empty line after the address"));
        }
        let mut statement = None;
        if let Some(line) = lines.peek()
            && !line.starts_with("URI: ")
        {
            statement = Some(line.to_string());
            lines.next();
            if lines.next() != Some("") {
                return Err(syntax("expected an empty line after the statement"));
            }
        }
        let mut field = |name: &str, required: bool| -> Result<Option<String>, SiweError> {
            let prefix = format!("{name}: ");
            match lines.peek() {
                Some(line) if line.starts_with(&prefix) => {
                    let value = line[prefix.len()..].to_string();
                    lines.next();
                    Ok(Some(value))
                }
                _ if required => Err(SiweError::Syntax(format!("missing `{name}`"))),
                _ => Ok(None),
            }
        };
        let uri = field("URI", true)?.unwrap_or_default();
        let version = field("Version", true)?.unwrap_or_default();
        let chain_id = field("Chain ID", true)?
            .unwrap_or_default()
            .parse::<u64>()
            .map_err(|_| syntax("`Chain ID` is not a number"))?;
        let nonce = field("Nonce", true)?.unwrap_or_default();
        if nonce.len() < 8 || !nonce.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(syntax("`Nonce` must be at least 8 letters or digits"));
        }
        let issued_at = rfc3339(&field("Issued At", true)?.unwrap_or_default(), "Issued At")?;
        let expiration_time = field("Expiration Time", false)?.map(|t| rfc3339(&t, "Expiration Time")).transpose()?;
        let not_before = field("Not Before", false)?.map(|t| rfc3339(&t, "Not Before")).transpose()?;
        let _request_id = field("Request ID", false)?;
        if lines.peek() == Some(&"Resources:") {
            lines.next();
            while lines.peek().is_some_and(|l| l.starts_with("- ")) {
                lines.next();
            }
        }
        if lines.any(|l| !l.is_empty()) {
            return Err(syntax("unexpected text after the fields"));
        }
        Ok(SiweMessage {
            domain,
            address,
            statement,
            uri,
            version,
            chain_id,
            nonce,
            issued_at,
            expiration_time,
            not_before,
        })
    }

    /// Field checks against the server's configuration and the clock `now` (unix seconds).
    pub fn check(&self, config: &AuthConfig, now: i64) -> Result<(), SiweError> {
        if self.domain != config.domain {
            return Err(SiweError::Domain { expected: config.domain.clone(), found: self.domain.clone() });
        }
        if self.version != "1" {
            return Err(SiweError::Version(self.version.clone()));
        }
        if let Some(expected) = config.chain_id
            && self.chain_id != expected
        {
            return Err(SiweError::Chain { expected, found: self.chain_id });
        }
        if self.expiration_time.is_some_and(|t| t <= now) {
            return Err(SiweError::Expired);
        }
        if self.not_before.is_some_and(|t| t > now) {
            return Err(SiweError::NotYetValid);
        }
        if self.issued_at > now + CLOCK_SKEW.as_secs() as i64 {
            return Err(SiweError::IssuedInFuture);
        }
        Ok(())
    }
}

/// Whether `signature` over `message` (EIP-191 personal message) is `address`'s: ECDSA for an
/// account without code; EIP-1271 on-chain for a contract account.
pub async fn verify_signature(
    provider: Option<&DynProvider>,
    address: Address,
    message: &str,
    signature: &[u8],
) -> Result<(), SiweError> {
    let hash: B256 = eip191_hash_message(message);
    let code = match provider {
        Some(p) => p.get_code_at(address).await.map_err(|e| {
            tracing::warn!(error = %e, "eth_getCode failed during sign-in");
            SiweError::WrongSigner
        })?,
        None => Bytes::new(),
    };
    if !code.is_empty() {
        let Some(p) = provider else { return Err(SiweError::WrongSigner) };
        let wallet = IERC1271::new(address, p);
        let answer: FixedBytes<4> = wallet
            .isValidSignature(hash, Bytes::copy_from_slice(signature))
            .call()
            .await
            .map_err(|_| SiweError::WrongSigner)?;
        return if answer.0 == ERC1271_MAGIC { Ok(()) } else { Err(SiweError::WrongSigner) };
    }
    let sig = Signature::try_from(signature).map_err(|_| SiweError::MalformedSignature)?;
    match sig.recover_address_from_prehash(&hash) {
        Ok(a) if a == address => Ok(()),
        _ => Err(SiweError::WrongSigner),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> AuthConfig {
        AuthConfig {
            secret: b"secret".to_vec(),
            token_ttl: Duration::from_secs(60),
            nonce_ttl: Duration::from_secs(60),
            domain: "example.com".into(),
            chain_id: Some(1),
        }
    }

    const MESSAGE: &str = "example.com wants you to sign in with your Ethereum account:\n\
        0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2\n\n\
        Read my outputs.\n\n\
        URI: https://example.com\nVersion: 1\nChain ID: 1\nNonce: abcdef0123456789\n\
        Issued At: 2026-01-01T00:00:00Z\nExpiration Time: 2026-01-01T00:10:00Z";

    #[test]
    fn parses_and_checks_a_message() {
        let m = SiweMessage::parse(MESSAGE).expect("parses");
        assert_eq!(m.domain, "example.com");
        assert_eq!(m.statement.as_deref(), Some("Read my outputs."));
        assert_eq!(m.chain_id, 1);
        assert_eq!(m.nonce, "abcdef0123456789");
        let issued = m.issued_at;
        assert_eq!(m.check(&config(), issued + 1), Ok(()));
        assert_eq!(m.check(&config(), issued + 601), Err(SiweError::Expired));
        let mut other = config();
        other.domain = "evil.com".into();
        assert!(matches!(m.check(&other, issued), Err(SiweError::Domain { .. })));
    }

    #[test]
    fn rejects_malformed_messages() {
        assert!(SiweMessage::parse("hello").is_err());
        assert!(SiweMessage::parse(&MESSAGE.replace("Nonce: abcdef0123456789", "Nonce: short")).is_err());
        assert!(SiweMessage::parse(&MESSAGE.replace("0xC02aaA39", "0xc02AAA39")).is_err(), "bad checksum");
    }

    #[test]
    fn tokens_round_trip_and_resist_tampering() {
        let c = config();
        let a = Address::repeat_byte(0x11);
        let t = c.issue(a, now_secs() + 60);
        assert_eq!(c.verify(&t), Ok(a));
        let mut other = c.clone();
        other.secret = b"other".to_vec();
        assert_eq!(other.verify(&t), Err(TokenError::BadSignature));
        assert_eq!(c.verify(&c.issue(a, now_secs() - 1)), Err(TokenError::Expired));
        assert_eq!(c.verify("garbage"), Err(TokenError::Malformed));
    }
}
