//! The JSON-RPC face of the service: the two ERC-7677 methods, their parameters
//! (`[userOp, entryPoint, chainId, context?]`, checked against this sponsor's EntryPoint and chain
//! before any policy runs) and the error codes every refusal carries, so a wallet can tell "fix
//! your request" from "not sponsored" from "retry later".

use alloy::primitives::{Address, U256};
use nexus_bundler_client::UserOperation;
use serde_json::Value;

use crate::service::Sponsor;

/// The ERC-7677 methods served.
pub const PM_STUB_DATA: &str = "pm_getPaymasterStubData";
pub const PM_DATA: &str = "pm_getPaymasterData";

/// JSON-RPC error codes.
pub mod codes {
    /// Body is not JSON.
    pub const PARSE_ERROR: i64 = -32700;
    /// Not a JSON-RPC request object.
    pub const INVALID_REQUEST: i64 = -32600;
    /// Not one of the two ERC-7677 methods.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// Malformed parameters, another EntryPoint or chain.
    pub const INVALID_PARAMS: i64 = -32602;
    /// The database failed; nothing was signed.
    pub const INTERNAL: i64 = -32603;
    /// The policy refused the operation; the message gives the reason.
    pub const REFUSED: i64 = -32000;
    /// Too many requests from this client address (EIP-1474 "limit exceeded"); retry later.
    pub const LIMITED: i64 = -32005;
}

/// A JSON-RPC error answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (JSON-RPC {code})")]
pub struct RpcError {
    pub code: i64,
    pub message: String,
}

impl RpcError {
    pub(crate) fn new(code: i64, message: impl Into<String>) -> Self {
        RpcError { code, message: message.into() }
    }

    pub(crate) fn refused(message: impl Into<String>) -> Self {
        Self::new(codes::REFUSED, message)
    }
}

impl Sponsor {
    /// One JSON-RPC request object → its `result` or error.
    pub async fn handle(&self, method: &str, params: &Value) -> Result<Value, RpcError> {
        let stub = match method {
            PM_STUB_DATA => true,
            PM_DATA => false,
            other => return Err(RpcError::new(codes::METHOD_NOT_FOUND, format!("method {other} not found"))),
        };
        let op = self.check_params(params)?;
        let data = if stub { self.stub_data(&op).await? } else { self.data(&op).await? };
        serde_json::to_value(data).map_err(|e| RpcError::new(codes::INTERNAL, format!("cannot encode the answer: {e}")))
    }

    /// `[userOp, entryPoint, chainId, context?]`, with this service's EntryPoint and chain.
    fn check_params(&self, params: &Value) -> Result<UserOperation, RpcError> {
        let invalid = |m: String| RpcError::new(codes::INVALID_PARAMS, m);
        let list =
            params.as_array().ok_or_else(|| invalid("params must be [userOp, entryPoint, chainId, context]".into()))?;
        if list.len() < 3 || list.len() > 4 {
            return Err(invalid(format!("expected 3 or 4 params, got {}", list.len())));
        }
        let op: UserOperation =
            serde_json::from_value(list[0].clone()).map_err(|e| invalid(format!("invalid user operation: {e}")))?;
        let entry_point: Address =
            serde_json::from_value(list[1].clone()).map_err(|e| invalid(format!("invalid entry point: {e}")))?;
        let chain_id: U256 =
            serde_json::from_value(list[2].clone()).map_err(|e| invalid(format!("invalid chain id: {e}")))?;
        if entry_point != self.config.entry_point {
            return Err(invalid(format!(
                "entry point {entry_point} is not supported (this paymaster uses {})",
                self.config.entry_point
            )));
        }
        if chain_id != U256::from(self.config.chain_id) {
            return Err(invalid(format!(
                "chain {chain_id} is not supported (this paymaster is on chain {})",
                self.config.chain_id
            )));
        }
        Ok(op)
    }
}
