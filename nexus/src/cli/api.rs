//! The HTTP side of the AgentNexus API as a client sees it: GraphQL queries, blob upload,
//! Sign-In with Ethereum and the private output download.
//!
//! Errors are typed so the commands can tell a user what to do: an API that does not answer
//! (start `make dev` or fix `--graphql-url`) is not the same as a refusal (403: not your
//! execution) or a GraphQL error.

use alloy::primitives::{Address, B256, U256};
use alloy::signers::Signer;
use alloy::signers::local::PrivateKeySigner;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// Why a call to the API failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the AgentNexus API at {url} is unreachable ({reason}); is `make dev` running? (or pass --graphql-url)")]
    Unreachable { url: String, reason: String },
    #[error("denied by the API ({status}): {message}")]
    Denied { status: u16, message: String },
    #[error("the API answered {status}: {message}")]
    Status { status: u16, message: String },
    #[error("the API refused the query: {0}")]
    GraphQl(String),
    #[error("unexpected answer from the API: {0}")]
    Decode(String),
}

/// A client of one API server.
#[derive(Clone)]
pub struct Api {
    base: String,
    http: reqwest::Client,
}

/// The sign-in challenge's fields the message must repeat.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Challenge {
    nonce: String,
    domain: String,
    chain_id: Option<u64>,
}

#[derive(Deserialize)]
struct Uploaded {
    hash: B256,
}

impl Api {
    /// `base` is the server's root (`http://127.0.0.1:4000`); a trailing `/graphql` is accepted.
    pub fn new(base: &str) -> Self {
        let base = base.trim_end_matches('/');
        let base = base.strip_suffix("/graphql").unwrap_or(base).to_string();
        // No overall timeout: an upload may be large. Connecting is bounded.
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Api { base, http }
    }

    /// The server's root URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The graphql-transport-ws endpoint.
    pub fn ws_url(&self) -> String {
        let ws = if let Some(rest) = self.base.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if let Some(rest) = self.base.strip_prefix("http://") {
            format!("ws://{rest}")
        } else {
            self.base.clone()
        };
        format!("{ws}/graphql/ws")
    }

    fn unreachable(&self, e: reqwest::Error) -> ApiError {
        ApiError::Unreachable { url: self.base.clone(), reason: without_url(&e) }
    }

    /// Turns a non-2xx answer into an error carrying the server's message.
    async fn check(&self, response: reqwest::Response) -> Result<reqwest::Response, ApiError> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let text = response.text().await.unwrap_or_default();
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["errors"][0]["message"].as_str().map(str::to_string))
            .unwrap_or_else(|| text.trim().chars().take(300).collect());
        let status = status.as_u16();
        Err(if status == 401 || status == 403 {
            ApiError::Denied { status, message }
        } else {
            ApiError::Status { status, message }
        })
    }

    /// Runs a GraphQL operation; returns `data` decoded as `T`.
    pub async fn query<T: DeserializeOwned>(
        &self,
        query: &str,
        variables: Value,
        token: Option<&str>,
    ) -> Result<T, ApiError> {
        let mut request =
            self.http.post(format!("{}/graphql", self.base)).json(&json!({ "query": query, "variables": variables }));
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        let response = request.send().await.map_err(|e| self.unreachable(e))?;
        let body: Value = self.check(response).await?.json().await.map_err(|e| ApiError::Decode(e.to_string()))?;
        if let Some(errors) = body.get("errors").and_then(Value::as_array).filter(|e| !e.is_empty()) {
            let messages: Vec<&str> = errors.iter().filter_map(|e| e["message"].as_str()).collect();
            return Err(ApiError::GraphQl(messages.join("; ")));
        }
        serde_json::from_value(body["data"].clone()).map_err(|e| ApiError::Decode(e.to_string()))
    }

    /// Uploads a blob; returns the hash the server stored it under.
    pub async fn put_blob(&self, bytes: Vec<u8>, media_type: &str) -> Result<B256, ApiError> {
        let response = self
            .http
            .put(format!("{}/v1/blobs", self.base))
            .header(reqwest::header::CONTENT_TYPE, media_type)
            .body(bytes)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        let uploaded: Uploaded =
            self.check(response).await?.json().await.map_err(|e| ApiError::Decode(e.to_string()))?;
        Ok(uploaded.hash)
    }

    /// Signs in with Ethereum (EIP-4361) as `signer`'s own address; returns the bearer token.
    pub async fn sign_in(&self, signer: &PrivateKeySigner, fallback_chain_id: u64) -> Result<String, ApiError> {
        self.sign_in_as(signer.address(), fallback_chain_id, async |message: String| {
            signer.sign_message(message.as_bytes()).await.map(|s| s.as_bytes().to_vec()).map_err(|e| e.to_string())
        })
        .await
    }

    /// Signs in as `address`, `sign` producing the signature of the message (an EOA's EIP-191
    /// signature, or the bytes a smart account's EIP-1271 check accepts).
    pub async fn sign_in_as(
        &self,
        address: Address,
        fallback_chain_id: u64,
        sign: impl AsyncFnOnce(String) -> Result<Vec<u8>, String>,
    ) -> Result<String, ApiError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct ChallengeData {
            sign_in_challenge: Challenge,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct SignInData {
            sign_in: Session,
        }
        #[derive(Deserialize)]
        struct Session {
            token: String,
        }
        let challenge: ChallengeData =
            self.query("mutation { signInChallenge { nonce domain chainId } }", json!({}), None).await?;
        let c = challenge.sign_in_challenge;
        let message = siwe_message(&c.domain, address, &self.base, c.chain_id.unwrap_or(fallback_chain_id), &c.nonce);
        let signature = sign(message.clone())
            .await
            .map_err(|e| ApiError::Decode(format!("could not sign the sign-in message: {e}")))?;
        let signature = format!("0x{}", alloy::hex::encode(signature));
        let session: SignInData = self
            .query(
                "mutation($m: String!, $s: String!) { signIn(message: $m, signature: $s) { token } }",
                json!({ "m": message, "s": signature }),
                None,
            )
            .await
            .map_err(|e| match e {
                ApiError::GraphQl(m) => ApiError::Denied { status: 401, message: m },
                e => e,
            })?;
        Ok(session.sign_in.token)
    }

    /// The output document of execution `id` (requester only).
    pub async fn output(&self, id: U256, token: &str) -> Result<Vec<u8>, ApiError> {
        let response = self
            .http
            .get(format!("{}/v1/executions/{id}/output", self.base))
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        let bytes = self.check(response).await?.bytes().await.map_err(|e| ApiError::Decode(e.to_string()))?;
        Ok(bytes.to_vec())
    }
}

/// A reqwest error's description without the URL (already named by the caller).
pub(super) fn without_url(e: &reqwest::Error) -> String {
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut deepest = None;
    while let Some(s) = source {
        deepest = Some(s.to_string());
        source = s.source();
    }
    deepest.unwrap_or_else(|| e.to_string())
}

/// An EIP-4361 message for `address`, as the server's challenge asks for it.
fn siwe_message(domain: &str, address: Address, uri: &str, chain_id: u64, nonce: &str) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let issued = chrono::DateTime::from_timestamp(now, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default();
    format!(
        "{domain} wants you to sign in with your Ethereum account:\n{}\n\n\
         Sign in to AgentNexus to read your execution outputs.\n\n\
         URI: {uri}\nVersion: 1\nChain ID: {chain_id}\nNonce: {nonce}\nIssued At: {issued}",
        address.to_checksum(None)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let api = Api::new("http://127.0.0.1:4000/graphql/");
        assert_eq!(api.ws_url(), "ws://127.0.0.1:4000/graphql/ws");
        assert_eq!(Api::new("https://api.example").ws_url(), "wss://api.example/graphql/ws");
    }

    #[test]
    fn siwe_message_has_the_fields_in_order() {
        let m = siwe_message("localhost:4000", Address::repeat_byte(0xab), "http://x", 31337, "abcdef0123456789");
        let lines: Vec<&str> = m.lines().collect();
        assert_eq!(lines[0], "localhost:4000 wants you to sign in with your Ethereum account:");
        assert_eq!(lines[1], Address::repeat_byte(0xab).to_checksum(None));
        assert_eq!(&lines[5..9], ["URI: http://x", "Version: 1", "Chain ID: 31337", "Nonce: abcdef0123456789"]);
        assert!(lines[9].starts_with("Issued At: 20"), "{}", lines[9]);
    }
}
