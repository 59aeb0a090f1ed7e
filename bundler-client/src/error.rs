//! Typed bundler errors.
//!
//! Why parse messages: bundlers report a rejected operation as a JSON-RPC error whose code says
//! only which phase failed (ERC-7769: -32500 account/EntryPoint validation, -32501 paymaster, ...)
//! while the precise cause is the EntryPoint's `FailedOp` reason, an `AAxy` code embedded in the
//! message ("AA24 signature error"). [`Rejection::kind`] turns both into one enum a caller can
//! match on, keeping the code and message for logs.

use std::time::Duration;

use alloy::primitives::B256;
use alloy::transports::{RpcError, TransportErrorKind};

/// What went wrong with a user operation, as far as the bundler or EntryPoint said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RejectionKind {
    // AA1x: account creation.
    /// AA10: `initCode` given but the sender already exists.
    SenderAlreadyConstructed,
    /// AA13: the factory call reverted or ran out of gas.
    InitCodeFailed,
    /// AA14: the factory returned an address other than the sender.
    InitCodeWrongSender,
    /// AA15: the factory did not deploy code at the sender.
    InitCodeDidNotDeploy,
    // AA2x: account validation.
    /// AA20: no code at the sender and no `initCode`.
    AccountNotDeployed,
    /// AA21: the account could not pay its prefund (no deposit, no paymaster).
    PrefundNotPaid,
    /// AA22 / -32503: the signature's validity window does not include now.
    ExpiredOrNotDue,
    /// AA23: `validateUserOp` reverted.
    AccountReverted,
    /// AA24 / -32507: the account rejected the signature.
    InvalidSignature,
    /// AA25: the nonce is not the account's next nonce for its key (e.g. already used).
    InvalidNonce,
    /// AA26: validation used more than `verificationGasLimit`.
    OverVerificationGasLimit,
    // AA3x: paymaster validation.
    /// AA30: no code at the paymaster.
    PaymasterNotDeployed,
    /// AA31 / -32508: the paymaster's EntryPoint deposit cannot cover the operation.
    PaymasterDepositTooLow,
    /// AA32: the paymaster's validity window does not include now.
    PaymasterExpiredOrNotDue,
    /// AA33: `validatePaymasterUserOp` reverted (bad `paymasterData`, for example).
    PaymasterReverted,
    /// AA34: the paymaster rejected its signature.
    PaymasterInvalidSignature,
    /// AA36: paymaster validation used more than `paymasterVerificationGasLimit`.
    PaymasterOverVerificationGasLimit,
    // AA4x / AA5x: gas and post-operation.
    /// AA40 / AA41: verification gas limits too high or too low.
    VerificationGas,
    /// AA50: the paymaster's `postOp` reverted.
    PostOpReverted,
    /// AA51: the prefund was below the actual gas cost.
    PrefundBelowActualCost,
    /// AA9x: malformed operation or bundle (bad `paymasterAndData`, gas values overflow...).
    InvalidOperation,
    // Bundler-side rules (ERC-7769 codes without an AA code).
    /// -32602: the request's parameters are invalid (fields, gas, fees the bundler refuses).
    InvalidParams,
    /// -32502: validation used an opcode or storage ERC-7562 forbids.
    ForbiddenOpcode,
    /// -32504: the paymaster or factory is throttled or banned.
    ThrottledOrBanned,
    /// -32505: an entity's stake or unstake delay is too low.
    StakeTooLow,
    /// -32506: unsupported signature aggregator.
    UnsupportedAggregator,
    /// -32521: the operation's execution reverted during estimation.
    ExecutionReverted,
    /// Anything else the bundler refused; see the message.
    Other,
}

impl RejectionKind {
    /// The kind named by an EntryPoint `AAxy` code.
    pub fn from_aa_code(code: u8) -> Self {
        use RejectionKind::*;
        match code {
            10 => SenderAlreadyConstructed,
            13 => InitCodeFailed,
            14 => InitCodeWrongSender,
            15 => InitCodeDidNotDeploy,
            20 => AccountNotDeployed,
            21 => PrefundNotPaid,
            22 => ExpiredOrNotDue,
            23 => AccountReverted,
            24 => InvalidSignature,
            25 => InvalidNonce,
            26 => OverVerificationGasLimit,
            30 => PaymasterNotDeployed,
            31 => PaymasterDepositTooLow,
            32 => PaymasterExpiredOrNotDue,
            33 => PaymasterReverted,
            34 => PaymasterInvalidSignature,
            36 => PaymasterOverVerificationGasLimit,
            40 | 41 => VerificationGas,
            50 => PostOpReverted,
            51 => PrefundBelowActualCost,
            90..=99 => InvalidOperation,
            _ => Other,
        }
    }

    /// The kind an ERC-7769 JSON-RPC error code implies when the message has no `AAxy` code.
    pub fn from_rpc_code(code: i64) -> Self {
        use RejectionKind::*;
        match code {
            -32602 => InvalidParams,
            -32502 => ForbiddenOpcode,
            -32503 => ExpiredOrNotDue,
            -32504 => ThrottledOrBanned,
            -32505 => StakeTooLow,
            -32506 => UnsupportedAggregator,
            -32507 => InvalidSignature,
            -32508 => PaymasterDepositTooLow,
            -32521 => ExecutionReverted,
            _ => Other,
        }
    }
}

/// The first `AAxy` code in `message` (`"... AA24 signature error"` → 24).
pub fn aa_code(message: &str) -> Option<u8> {
    let bytes = message.as_bytes();
    bytes.windows(4).enumerate().find_map(|(i, w)| {
        let boundary = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
        let after = bytes.get(i + 4).is_none_or(|b| !b.is_ascii_alphanumeric());
        (boundary && after && &w[..2] == b"AA" && w[2].is_ascii_digit() && w[3].is_ascii_digit())
            .then(|| (w[2] - b'0') * 10 + (w[3] - b'0'))
    })
}

/// A user operation the bundler (or paymaster service) refused, with its cause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind:?} (JSON-RPC {code}): {message}")]
pub struct Rejection {
    pub kind: RejectionKind,
    /// The JSON-RPC error code.
    pub code: i64,
    /// The bundler's message, which carries the `AAxy` reason when there is one.
    pub message: String,
    /// The error's `data`, raw JSON, when present.
    pub data: Option<String>,
}

impl Rejection {
    /// Classifies a JSON-RPC error: an `AAxy` code in the message wins, else the error code.
    pub fn new(code: i64, message: String, data: Option<String>) -> Self {
        let kind = aa_code(&message)
            .map(RejectionKind::from_aa_code)
            .filter(|kind| *kind != RejectionKind::Other)
            .unwrap_or_else(|| RejectionKind::from_rpc_code(code));
        Self { kind, code, message, data }
    }
}

/// Why a bundler-client call failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The bundler or paymaster service refused the request; see the kind.
    #[error("rejected: {0}")]
    Rejected(#[from] Rejection),
    /// The endpoint could not be reached, or answered something that is not JSON-RPC.
    #[error("transport: {0}")]
    Transport(RpcError<TransportErrorKind>),
    /// A chain read (nonce, counterfactual address, fees) failed.
    #[error("chain call: {0}")]
    Chain(#[from] alloy::contract::Error),
    /// The local key could not sign.
    #[error("signing: {0}")]
    Signer(#[from] alloy::signers::Error),
    /// No receipt for the operation within the timeout.
    #[error("user operation {user_op_hash} not included after {waited:?}")]
    Timeout { user_op_hash: B256, waited: Duration },
    /// The bundler does not serve the EntryPoint this client was built for.
    #[error("bundler serves entry points {served:?}, not {wanted}")]
    UnsupportedEntryPoint { wanted: alloy::primitives::Address, served: Vec<alloy::primitives::Address> },
}

impl From<RpcError<TransportErrorKind>> for Error {
    fn from(err: RpcError<TransportErrorKind>) -> Self {
        match err {
            RpcError::ErrorResp(payload) => Error::Rejected(Rejection::new(
                payload.code,
                payload.message.into_owned(),
                payload.data.map(|d| d.get().to_owned()),
            )),
            other => Error::Transport(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aa_codes_are_found_and_classified() {
        assert_eq!(aa_code("UserOperation reverted during simulation with reason: AA24 signature error"), Some(24));
        assert_eq!(aa_code("AA25 invalid account nonce"), Some(25));
        assert_eq!(aa_code("no code here, BAA123"), None);
        let r = Rejection::new(-32500, "validation reverted: AA24 signature error".into(), None);
        assert_eq!(r.kind, RejectionKind::InvalidSignature);
        let r = Rejection::new(-32501, "AA31 paymaster deposit too low".into(), None);
        assert_eq!(r.kind, RejectionKind::PaymasterDepositTooLow);
        let r = Rejection::new(-32602, "maxFeePerGas must be at least 1".into(), None);
        assert_eq!(r.kind, RejectionKind::InvalidParams);
        assert_eq!(Rejection::new(-32000, "weird".into(), None).kind, RejectionKind::Other);
    }
}
