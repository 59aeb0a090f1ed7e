//! The relayer's errors, with their causes kept, and whether retrying can fix them.
//!
//! Every [`RelayerError`] is a failure on the relayer's side (its database, node or Docker
//! engine, or data it holds), never the agent's: the claim is released and the request retried
//! until its deadline comes within the settle margin, when it settles as a failure (see the
//! crate docs). [`RelayerError::is_retryable`] tells a failure that goes away by itself (a
//! dropped connection, a rate limit, a restarting engine) from one that needs someone to act (a
//! settle the contract refuses for a reason we cannot explain, a transaction the node refuses,
//! a row that does not decode); the worker logs the second kind as an error rather than a
//! warning. Both are still retried: settling such a request as a failure at once would refund
//! requests that a fixed configuration (a granted role, a funded key) would have served.
//!
//! [`RpcErrorKind`] classifies what the node said from alloy's typed error values (the JSON-RPC
//! error code, revert data, the transport's own variants); the one answer nodes give only as
//! text, "nonce too low", is read in [`is_nonce_too_low`] and nowhere else.

use alloy::primitives::U256;
use alloy::transports::{RpcError, TransportError, TransportErrorKind};

use crate::chain::ChainError;

/// Why the relayer could not do its part for a request (or could not start).
#[derive(Debug, thiserror::Error)]
pub enum RelayerError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("chain: {0}")]
    Chain(#[from] ChainError),
    #[error("{0}")]
    Docker(#[from] DockerError),
    /// The relayer key does not parse. No source on purpose: the parser's message may quote
    /// the key's characters, and this error is logged.
    #[error("configuration: the relayer key is not a hex private key")]
    Key,
    #[error("configuration: rpc url {url}: {source}")]
    RpcUrl {
        url: String,
        #[source]
        source: <alloy::transports::http::reqwest::Url as std::str::FromStr>::Err,
    },
    /// `agents.output_schema` (JSONB, written by the indexer) did not parse back.
    #[error("agents.output_schema of agent {agent_id} is not JSON: {source}")]
    OutputSchema {
        agent_id: U256,
        #[source]
        source: serde_json::Error,
    },
    /// A column of the request's row outside what the contract allows (a uint40 deadline, a
    /// block time): the row was not written by the indexer from a real event.
    #[error("executions row of request {request_id}: {column} {value} is out of range")]
    OutOfRange { request_id: U256, column: &'static str, value: i64 },
    #[error("encoding the container's stdin envelope: {0}")]
    Envelope(#[source] serde_json::Error),
    /// The egress proxy could not be built (TLS roots) at start.
    #[error("egress: {0}")]
    Egress(#[from] nexus_egress::EgressError),
    /// A run directory or socket for the egress proxy could not be made (a full or read-only
    /// temporary directory): the host's problem, retried.
    #[error("egress run directory: {0}")]
    EgressDir(#[source] std::io::Error),
}

impl RelayerError {
    /// Whether the same work may succeed later without anyone changing anything: true for
    /// unreachable or overloaded dependencies, false for refusals and bad data (see the
    /// module docs for what the worker does with either).
    pub fn is_retryable(&self) -> bool {
        match self {
            RelayerError::Database(e) => database_is_retryable(e),
            RelayerError::Chain(e) => e.is_retryable(),
            RelayerError::Docker(e) => e.is_retryable(),
            RelayerError::EgressDir(_) => true,
            RelayerError::Egress(_)
            | RelayerError::Migrate(_)
            | RelayerError::Key
            | RelayerError::RpcUrl { .. }
            | RelayerError::OutputSchema { .. }
            | RelayerError::OutOfRange { .. }
            | RelayerError::Envelope(_) => false,
        }
    }
}

/// A database error that a reconnect, or simply a later attempt, can get past: the connection
/// (lost, refused, pool exhausted) or a SQLSTATE class that names a transient condition.
/// Everything else (a constraint, a column that does not decode, a missing type) fails again.
fn database_is_retryable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // 08: connection exception; 40: serialization failure or deadlock; 53: insufficient
            // resources; 57: operator intervention (admin shutdown, crash recovery).
            ["08", "40", "53", "57"].iter().any(|class| code.starts_with(class))
        }),
        _ => false,
    }
}

/// A Docker Engine call that failed or never answered: the engine's fault, not the agent's.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("docker {call}: {source}")]
    Api {
        call: &'static str,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("docker {call} timed out")]
    TimedOut { call: &'static str },
    #[error("docker: the container's wait stream ended without an exit status")]
    WaitEnded,
    /// The directory mounted into a container (its egress run directory) could not be made.
    #[error("docker: preparing the container's run directory: {0}")]
    RunDir(#[source] std::io::Error),
}

impl DockerError {
    pub(crate) fn api(call: &'static str) -> impl FnOnce(bollard::errors::Error) -> DockerError {
        move |source| DockerError::Api { call, source }
    }

    /// The engine was unreachable, slow or failing on its side (5xx); a 4xx answer (a name in
    /// use, a bad request) or an answer we cannot parse repeats.
    pub fn is_retryable(&self) -> bool {
        use bollard::errors::Error as E;
        match self {
            DockerError::Api { source, .. } => match source {
                E::DockerResponseServerError { status_code, .. } => *status_code >= 500,
                E::IOError { .. }
                | E::HyperResponseError { .. }
                | E::HyperLegacyError { .. }
                | E::RequestTimeoutError
                | E::DockerStreamError { .. }
                | E::SocketNotFoundError(_) => true,
                _ => false,
            },
            DockerError::TimedOut { .. } | DockerError::WaitEnded | DockerError::RunDir(_) => true,
        }
    }
}

/// What a failed JSON-RPC request ran into, from alloy's typed error values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RpcErrorKind {
    /// No usable answer: the connection failed or dropped, the transport task is gone, the
    /// endpoint answered with an HTTP error status and no JSON-RPC error.
    Unreachable,
    /// The node asks us to come back later: rate limits and the transient provider errors alloy
    /// knows (`ErrorPayload::is_retry_err`), or a null result where one was due.
    Transient,
    /// The transaction's nonce is already used (mined, or another sender of the key took it).
    NonceTooLow,
    /// The EVM reverted: error code 3 or revert data in the error.
    Reverted,
    /// The node refused the request for another reason (insufficient funds, underpriced, an
    /// unsupported method, bad parameters, an HTTP 4xx).
    Refused,
    /// Our side of the exchange is wrong: the request did not serialize, the answer does not
    /// decode (an ABI that does not match the contract, no contract at the address), the signer
    /// failed, a feature the transport lacks.
    Invalid,
}

impl RpcErrorKind {
    /// Classifies an error of a raw provider call.
    pub fn of(error: &TransportError) -> Self {
        match error {
            RpcError::ErrorResp(payload) => {
                // EIP-1474 / geth: code 3 is "execution reverted" with the revert data; some
                // nodes use another code but still attach the data.
                if payload.code == 3 || payload.as_revert_data().is_some() {
                    RpcErrorKind::Reverted
                } else if payload.is_retry_err() {
                    RpcErrorKind::Transient
                } else if is_nonce_too_low(payload.code, &payload.message) {
                    RpcErrorKind::NonceTooLow
                } else {
                    RpcErrorKind::Refused
                }
            }
            RpcError::NullResp => RpcErrorKind::Transient,
            RpcError::Transport(kind) => Self::of_transport(kind),
            RpcError::SerError(_)
            | RpcError::DeserError { .. }
            | RpcError::UnsupportedFeature(_)
            | RpcError::LocalUsageError(_) => RpcErrorKind::Invalid,
        }
    }

    /// Classifies an error of a contract call, estimate or send through the bindings.
    pub fn of_contract(error: &alloy::contract::Error) -> Self {
        use alloy::contract::Error as E;
        use alloy::providers::PendingTransactionError as P;
        match error {
            E::TransportError(e) | E::PendingTransactionError(P::TransportError(e)) => Self::of(e),
            // The heartbeat that watches pending transactions went away or timed out.
            E::PendingTransactionError(_) => RpcErrorKind::Unreachable,
            _ => RpcErrorKind::Invalid,
        }
    }

    fn of_transport(kind: &TransportErrorKind) -> Self {
        if let Some(http) = kind.as_http_error() {
            // Some gateways send the node's JSON-RPC error with a non-200 status: classify the
            // error object, not the status, when the body holds one.
            if let Some(answer) = error_in_body(&http.body) {
                return Self::of(&answer);
            }
            return match http.status {
                408 | 429 => RpcErrorKind::Transient,
                500.. => RpcErrorKind::Unreachable,
                _ => RpcErrorKind::Refused,
            };
        }
        match kind {
            TransportErrorKind::NonRetryable(_) => RpcErrorKind::Refused,
            TransportErrorKind::PubsubUnavailable => RpcErrorKind::Invalid,
            // Connection errors (`Custom`: the HTTP client's, the websocket's), a gone backend,
            // a missing batch response, and whatever variant alloy adds later.
            _ => RpcErrorKind::Unreachable,
        }
    }

    /// Whether repeating the request (after a resync, for [`RpcErrorKind::NonceTooLow`]) may
    /// succeed.
    pub fn is_retryable(self) -> bool {
        matches!(self, RpcErrorKind::Unreachable | RpcErrorKind::Transient | RpcErrorKind::NonceTooLow)
    }
}

/// The JSON-RPC error object in an HTTP error body (a whole response, `{"error": {...}}`, or the
/// bare object, possibly followed by the gateway's own text), as the error response it is.
fn error_in_body(body: &str) -> Option<TransportError> {
    let value = serde_json::Deserializer::from_str(body).into_iter::<serde_json::Value>().next()?.ok()?;
    let object = value.get("error").unwrap_or(&value);
    Some(RpcError::ErrorResp(serde_json::from_value(object.clone()).ok()?))
}

/// Whether the node refused a transaction because its nonce is already used.
///
/// The one place node error *text* decides anything, because no code says it: geth and erigon
/// answer `-32000 "nonce too low: address 0x.., tx: 5 state: 6"`, anvil and reth `-32003 "nonce
/// too low"`, besu `-32001 "Nonce too low"`, nethermind `-32010`; all are in JSON-RPC 2.0's
/// range for implementation-defined server errors, shared with every other refusal. So: a
/// server error (that range) whose message says it, in any case.
pub fn is_nonce_too_low(code: i64, message: &str) -> bool {
    (-32099..=-32000).contains(&code) && message.to_ascii_lowercase().contains("nonce too low")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The error response a node sends, parsed as alloy parses it off the wire.
    fn response(code: i64, message: &str, data: Option<&str>) -> TransportError {
        let mut object = serde_json::json!({ "code": code, "message": message });
        if let Some(data) = data {
            object["data"] = serde_json::from_str(data).expect("data is JSON");
        }
        RpcError::ErrorResp(serde_json::from_value(object).expect("an error object"))
    }

    #[test]
    fn nonce_too_low_as_each_node_says_it() {
        for (code, message) in [
            (-32000, "nonce too low: address 0x70997970C51812dc3A010C7d01b50e0d17dc79C8, tx: 5 state: 6"),
            (-32003, "nonce too low"),
            (-32001, "Nonce too low"),
            (-32010, "Transaction nonce too low. Expected nonce 6"),
        ] {
            assert_eq!(RpcErrorKind::of(&response(code, message, None)), RpcErrorKind::NonceTooLow, "{code} {message}");
        }
        // The same words outside a server error are not the node refusing our nonce: a revert
        // reason (code 3) is the contract talking, a transport error never reached the node.
        let revert = response(3, "execution reverted: nonce too low", Some(r#""0x08c379a0""#));
        assert_eq!(RpcErrorKind::of(&revert), RpcErrorKind::Reverted);
        let custom = TransportErrorKind::custom_str("proxy said: nonce too low");
        assert_eq!(RpcErrorKind::of(&custom), RpcErrorKind::Unreachable);
        assert_eq!(RpcErrorKind::of(&response(-32000, "nonce too high", None)), RpcErrorKind::Refused);
        assert_eq!(
            RpcErrorKind::of(&response(-32000, "replacement transaction underpriced", None)),
            RpcErrorKind::Refused
        );
    }

    #[test]
    fn transport_failures_are_retryable() {
        for error in [
            TransportErrorKind::backend_gone(),
            TransportErrorKind::custom_str("error sending request: connection refused"),
            TransportErrorKind::http_error(502, "Bad Gateway".into()),
            TransportErrorKind::http_error(503, String::new()),
        ] {
            let kind = RpcErrorKind::of(&error);
            assert_eq!(kind, RpcErrorKind::Unreachable, "{error}");
            assert!(kind.is_retryable(), "{error}");
        }
        for error in [
            TransportErrorKind::http_error(429, String::new()),
            RpcError::NullResp,
            response(-32005, "limit exceeded", None),
            response(429, "Too Many Requests", None),
        ] {
            assert_eq!(RpcErrorKind::of(&error), RpcErrorKind::Transient, "{error}");
            assert!(RpcErrorKind::of(&error).is_retryable());
        }
    }

    #[test]
    fn a_json_rpc_error_in_an_http_error_body_is_read_as_one() {
        let body = r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"nonce too low"}}"#;
        assert_eq!(RpcErrorKind::of(&TransportErrorKind::http_error(400, body.into())), RpcErrorKind::NonceTooLow);
        let bare = "{\"code\":-32601,\"message\":\"the method eth_foo does not exist\"}\nupstream said no";
        assert_eq!(RpcErrorKind::of(&TransportErrorKind::http_error(500, bare.into())), RpcErrorKind::Refused);
        assert_eq!(
            RpcErrorKind::of(&TransportErrorKind::http_error(401, "unauthorized".into())),
            RpcErrorKind::Refused
        );
    }

    #[test]
    fn reverts_and_refusals_are_not_retryable() {
        use alloy::sol_types::SolError;
        use nexus_bindings::marketplace::AgentMarketplace;
        let data = AgentMarketplace::RequestNotOpen { requestId: U256::from(7) }.abi_encode();
        let revert = response(
            3,
            "execution reverted: custom error 0x2f0470fc",
            Some(&format!("\"{}\"", alloy::hex::encode_prefixed(&data))),
        );
        assert_eq!(RpcErrorKind::of(&revert), RpcErrorKind::Reverted);
        assert!(!RpcErrorKind::Reverted.is_retryable());
        let funds = response(-32000, "insufficient funds for gas * price + value", None);
        assert_eq!(RpcErrorKind::of(&funds), RpcErrorKind::Refused);
        assert!(!RpcErrorKind::of(&funds).is_retryable());
        let unparsable = serde_json::from_str::<u64>("x").expect_err("not a number");
        let deser = RpcError::DeserError { err: unparsable, text: "x".into() };
        assert_eq!(RpcErrorKind::of(&deser), RpcErrorKind::Invalid);
        let pubsub = TransportErrorKind::pubsub_unavailable();
        assert_eq!(RpcErrorKind::of(&pubsub), RpcErrorKind::Invalid);
    }

    #[test]
    fn contract_errors_classify_their_transport_error() {
        let send: alloy::contract::Error = response(-32003, "nonce too low", None).into();
        assert_eq!(RpcErrorKind::of_contract(&send), RpcErrorKind::NonceTooLow);
        let abi: alloy::contract::Error = alloy::sol_types::Error::Overrun.into();
        assert_eq!(RpcErrorKind::of_contract(&abi), RpcErrorKind::Invalid);
    }

    #[test]
    fn relayer_errors_say_whether_a_retry_can_help() {
        let gone: RelayerError = sqlx::Error::PoolTimedOut.into();
        assert!(gone.is_retryable());
        let decode: RelayerError = sqlx::Error::ColumnNotFound("status".into()).into();
        assert!(!decode.is_retryable());
        let engine_down = DockerError::Api {
            call: "create container",
            source: bollard::errors::Error::DockerResponseServerError { status_code: 500, message: "boom".into() },
        };
        assert!(RelayerError::from(engine_down).is_retryable());
        let conflict = DockerError::Api {
            call: "create container",
            source: bollard::errors::Error::DockerResponseServerError { status_code: 400, message: "bad".into() },
        };
        assert!(!RelayerError::from(conflict).is_retryable());
        assert!(RelayerError::from(DockerError::TimedOut { call: "remove container" }).is_retryable());
        let row = RelayerError::OutOfRange { request_id: U256::from(1), column: "deadline", value: -1 };
        assert!(!row.is_retryable());
    }
}
