//! Sending a transaction and waiting for it: the one place every command that signs with the
//! user's key (approve and purchase, requestExecution, reclaim, withdraw) goes through.
//!
//! Why a module of its own: two `nexus` commands run at once with one key (a script, or a wallet
//! used alongside) used to collide on the nonce and print raw RPC text ("nonce too low",
//! "replacement transaction underpriced"), and a command whose transaction had been replaced
//! waited for a receipt that could never come. Here:
//!
//! - **Nonce**: read from the node's *pending* count just before each send, so transactions of
//!   other processes already in the mempool are counted.
//! - **Clash**: when the node refuses the nonce ([`nonce_clash`]: "nonce too low",
//!   "replacement transaction underpriced", "already known"), the transaction is signed again
//!   with a fresh nonce (the pending count, and at least one more than the nonce that clashed),
//!   up to [`TxSettings::max_attempts`] times. Two commands therefore both land.
//! - **Wait**: bounded by [`TxSettings::receipt_timeout`] (`--receipt-timeout`, default
//!   [`DEFAULT_RECEIPT_TIMEOUT`]). The wait also ends early once the nonce is seen consumed by
//!   another transaction (the key's mined count past our nonce, and two seconds later still no
//!   receipt and the node no longer knowing our transaction): ours can then never be mined. Every ending says what happened, whether
//!   anything was paid, and what to do ([`TxError`]).
//!
//! Concurrent commands compute their fees the same way, so a clash is refused as underpriced
//! and retried rather than one replacing the other; should another sender replace ours anyway
//! (a higher fee on the same nonce), the wait reports it as replaced.

use std::time::Duration;

use alloy::contract::CallBuilder;
use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, TxHash};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use alloy::transports::{RpcError, TransportError};

use super::chain::{Chain, explain};

/// The default bound on waiting for a receipt: ten Ethereum mainnet blocks, far more than an L2
/// or the local devnet needs.
pub const DEFAULT_RECEIPT_TIMEOUT: Duration = Duration::from_secs(120);

/// How transactions are sent and waited for.
#[derive(Clone, Debug)]
pub struct TxSettings {
    /// How long to wait for a receipt before giving up (and saying what state the transaction
    /// is in).
    pub receipt_timeout: Duration,
    /// How often the node is asked for the receipt.
    pub poll_interval: Duration,
    /// Sends of one transaction, the first included, before a run of nonce clashes is reported.
    pub max_attempts: u32,
}

impl Default for TxSettings {
    fn default() -> Self {
        Self { receipt_timeout: DEFAULT_RECEIPT_TIMEOUT, poll_interval: Duration::from_millis(500), max_attempts: 5 }
    }
}

/// Why a transaction did not end in a successful receipt. The messages are meant for the user.
#[derive(Debug, thiserror::Error)]
pub enum TxError {
    /// The node refused the transaction for another reason than its nonce (a revert during gas
    /// estimation, insufficient funds, ...): nothing was sent. The caller explains it.
    #[error("{0}")]
    Refused(TransportError),
    #[error(
        "the node refused {attempts} nonces in a row as already used ({last}): another sender keeps using {from}'s \
         nonces; nothing was sent or paid. Wait for its transactions to be mined, then run the command again"
    )]
    NonceClashes { from: Address, attempts: u32, last: String },
    #[error(
        "transaction {hash} was replaced: another transaction from {from} with the same nonce ({nonce}) was mined \
         instead, so this one can never be mined. Nothing was paid for it (no fee, no effect). If you did not send the \
         other one (a wallet or another command using this key), check your balances, then run the command again"
    )]
    Replaced { hash: TxHash, from: Address, nonce: u64 },
    #[error(
        "transaction {hash} (nonce {nonce}) was not mined within {} s and the node no longer knows it: it was replaced \
         by another transaction from {from} with the same nonce that is still pending, or dropped from the mempool. \
         Nothing was paid for it; run the command again",
        .waited.as_secs()
    )]
    Vanished { hash: TxHash, from: Address, nonce: u64, waited: Duration },
    #[error(
        "transaction {hash} (nonce {nonce}) is still pending after {} s: nothing has been paid yet, but it may still be \
         mined (then it takes effect). Check it later (`cast receipt {hash}`), wait longer with --receipt-timeout, or \
         cancel it by sending a transaction with nonce {nonce} and a higher fee{}",
        .waited.as_secs(),
        .last_error.as_deref().map(|e| format!(" (the node's last error: {e})")).unwrap_or_default()
    )]
    StillPending { hash: TxHash, nonce: u64, waited: Duration, last_error: Option<String> },
    #[error("transaction {hash} reverted: its gas fee was paid, nothing else happened")]
    Reverted { hash: TxHash },
}

/// Which nonce clash the node reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NonceClash {
    /// The nonce is already mined.
    TooLow,
    /// Another transaction with this nonce is in the mempool, with at least our fee.
    ReplacementUnderpriced,
    /// This very transaction (same bytes) is already in the mempool: another process sent an
    /// identical one, and both commands mean a transaction each.
    AlreadyKnown,
}

/// Whether a JSON-RPC error from sending is a nonce clash, and which one.
///
/// The code decides where the node gives a distinct one: Besu answers -32001 for "nonce too
/// low". Geth, Reth and Erigon answer -32000 and anvil -32003 (EIP-1474 "transaction rejected")
/// for every refusal, nonce clashes as well as insufficient funds or an oversized transaction, so
/// for those codes the message decides, matched as a documented fallback on the wording the
/// nodes use. Any other code is not a clash, whatever its text says: a revert (code 3) can quote
/// a contract's reason string, which anyone can make read "nonce too low".
pub fn nonce_clash(code: i64, message: &str) -> Option<NonceClash> {
    const BESU_NONCE_TOO_LOW: i64 = -32001;
    const SERVER_ERROR: i64 = -32000;
    const TRANSACTION_REJECTED: i64 = -32003;
    if code == BESU_NONCE_TOO_LOW {
        return Some(NonceClash::TooLow);
    }
    if code != SERVER_ERROR && code != TRANSACTION_REJECTED {
        return None;
    }
    let message = message.to_ascii_lowercase();
    if message.contains("nonce too low") {
        Some(NonceClash::TooLow)
    } else if message.contains("replacement transaction underpriced") || message.contains("replacement fee too low") {
        Some(NonceClash::ReplacementUnderpriced)
    } else if message.contains("already known")
        || message.contains("already imported")
        || message.contains("known transaction")
    {
        Some(NonceClash::AlreadyKnown)
    } else {
        None
    }
}

impl std::fmt::Display for NonceClash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NonceClash::TooLow => "nonce too low",
            NonceClash::ReplacementUnderpriced => "replacement transaction underpriced",
            NonceClash::AlreadyKnown => "already known",
        })
    }
}

fn clash_of(e: &TransportError) -> Option<NonceClash> {
    match e {
        RpcError::ErrorResp(payload) => nonce_clash(payload.code, &payload.message),
        _ => None,
    }
}

/// Sends `from`'s transactions through `provider` (which signs for `from`) and waits for them.
pub struct Sender<'a> {
    pub provider: &'a DynProvider,
    pub from: Address,
    pub settings: &'a TxSettings,
}

impl Sender<'_> {
    /// Sends `request` with the key's next nonce, retrying on nonce clashes, and waits for a
    /// successful receipt (bounded).
    pub async fn send(&self, request: TransactionRequest) -> Result<TransactionReceipt, TxError> {
        let nonce = self.pending_nonce().await?;
        self.send_from_nonce(request, nonce).await
    }

    async fn pending_nonce(&self) -> Result<u64, TxError> {
        self.provider.get_transaction_count(self.from).pending().await.map_err(TxError::Refused)
    }

    /// [`Sender::send`] with the first attempt's nonce given (the retries read it again).
    async fn send_from_nonce(
        &self,
        request: TransactionRequest,
        mut nonce: u64,
    ) -> Result<TransactionReceipt, TxError> {
        let request = request.with_from(self.from);
        let mut attempt = 1;
        let hash = loop {
            match self.provider.send_transaction(request.clone().with_nonce(nonce)).await {
                Ok(pending) => break *pending.tx_hash(),
                Err(e) => {
                    let Some(clash) = clash_of(&e) else { return Err(TxError::Refused(e)) };
                    if attempt >= self.settings.max_attempts {
                        return Err(TxError::NonceClashes {
                            from: self.from,
                            attempts: attempt,
                            last: format!("{clash} at nonce {nonce}"),
                        });
                    }
                    // Never the same nonce twice: a node whose pending count lags would send us
                    // back to the nonce that just clashed.
                    let next = self.pending_nonce().await?.max(nonce + 1);
                    eprintln!(
                        "nonce {nonce} is already used by another transaction from {} ({clash}): signing again with nonce {next}",
                        self.from
                    );
                    nonce = next;
                    attempt += 1;
                }
            }
        };
        self.wait(hash, nonce).await
    }

    /// Waits for `hash` (sent with `nonce`) to be mined, at most `receipt_timeout`.
    async fn wait(&self, hash: TxHash, nonce: u64) -> Result<TransactionReceipt, TxError> {
        let started = tokio::time::Instant::now();
        let give_up = started + self.settings.receipt_timeout;
        let mut last_error = None;
        // Since when the nonce has been seen mined while our receipt is missing.
        let mut taken_since: Option<tokio::time::Instant> = None;
        loop {
            match self.poll(hash, nonce).await {
                Ok(Look::Mined(receipt)) if receipt.status() => return Ok(*receipt),
                Ok(Look::Mined(_)) => return Err(TxError::Reverted { hash }),
                Ok(Look::NonceTaken) => {
                    let since = *taken_since.get_or_insert_with(tokio::time::Instant::now);
                    // Still no receipt, and the node does not know our transaction at all: it
                    // was never mined, and never will be.
                    if since.elapsed() >= REPLACED_AFTER
                        && matches!(self.provider.get_transaction_by_hash(hash).await, Ok(None))
                    {
                        return Err(TxError::Replaced { hash, from: self.from, nonce });
                    }
                }
                Ok(Look::Pending) => taken_since = None,
                Err(e) => last_error = Some(e.to_string()),
            }
            if tokio::time::Instant::now() >= give_up {
                let waited = started.elapsed();
                // Does the node still hold our transaction? If not, it will not be mined.
                return match self.provider.get_transaction_by_hash(hash).await {
                    Ok(None) if taken_since.is_some() => Err(TxError::Replaced { hash, from: self.from, nonce }),
                    Ok(None) => Err(TxError::Vanished { hash, from: self.from, nonce, waited }),
                    Ok(Some(_)) => Err(TxError::StillPending { hash, nonce, waited, last_error }),
                    Err(e) => Err(TxError::StillPending { hash, nonce, waited, last_error: Some(e.to_string()) }),
                };
            }
            tokio::time::sleep_until((tokio::time::Instant::now() + self.settings.poll_interval).min(give_up)).await;
        }
    }

    /// One look at the node. RPC failures are returned, and tolerated by [`Sender::wait`] until
    /// the bound.
    async fn poll(&self, hash: TxHash, nonce: u64) -> Result<Look, TransportError> {
        // The mined count first, then the receipt: if the count is past our nonce, the block
        // holding that nonce was there before the receipt was asked for.
        let mined = self.provider.get_transaction_count(self.from).latest().await?;
        if let Some(receipt) = self.provider.get_transaction_receipt(hash).await? {
            return Ok(Look::Mined(Box::new(receipt)));
        }
        Ok(if mined > nonce { Look::NonceTaken } else { Look::Pending })
    }
}

/// What one look at the node showed.
enum Look {
    Mined(Box<TransactionReceipt>),
    /// The key's mined count is past our nonce and our receipt is missing: another transaction
    /// took the nonce, or the node has not stored our receipt yet.
    NonceTaken,
    Pending,
}

/// How long the nonce must be seen taken without our receipt before the transaction is declared
/// replaced. A node can serve the new nonce a moment before the block's receipts (anvil does,
/// under load), so one look is not enough.
const REPLACED_AFTER: Duration = Duration::from_secs(2);

impl Chain {
    /// Sends a prepared contract call from the signing key and waits for its successful receipt.
    /// Refusals are explained in words (the contracts' custom errors decoded), prefixed with
    /// `what`.
    pub async fn send<P, D>(&self, what: &str, call: CallBuilder<P, D>) -> anyhow::Result<TransactionReceipt> {
        self.send_request(what, call.into_transaction_request()).await
    }

    /// [`Chain::send`] for a transaction built elsewhere (an agent's proposed call: target,
    /// value and calldata as proposed).
    pub async fn send_request(&self, what: &str, request: TransactionRequest) -> anyhow::Result<TransactionReceipt> {
        let from = self.sender.ok_or_else(|| anyhow::anyhow!("{what}: no key to sign with"))?;
        let sender = Sender { provider: &self.provider, from, settings: &self.tx };
        sender.send(request).await.map_err(|e| match e {
            TxError::Refused(e) => explain(what, alloy::contract::Error::TransportError(e)),
            e => anyhow::anyhow!("{what}: {e}"),
        })
    }
}

#[cfg(test)]
#[path = "tx_tests.rs"]
mod tests;
