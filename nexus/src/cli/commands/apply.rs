//! `nexus apply <id>`: act on an execution's action proposals, after showing exactly what will
//! happen and asking.
//!
//! Agents never sign (issue 15): an output's `proposals` are suggestions, validated by
//! nexus-proposals. This command is where a wallet decides:
//!
//! 1. Read the output as its requester (sign-in, as `nexus output`; with `--account` as the
//!    smart account, which is also who sends the calls), take the proposals (`--index N`: one).
//! 2. Check every selected proposal before anything is signed ([`proposal_checks`]: a call's
//!    chain is the connected one, an on-chain authorisation's domain too, well-known
//!    asset-moving signatures need `--allow-permit`; [`submit`]: where a signature may be
//!    posted). One refusal refuses the whole command: nothing is half-applied by surprise.
//! 3. Show each proposal as `nexus proposals` does (`proposals_view`: calls decoded, typed data
//!    laid out, the agent's words neutralised), then who sends or signs it and where, and ask
//!    once for the whole selection ([`confirm`]; `--yes` answers for scripts; no terminal and
//!    no `--yes` refuses).
//! 4. Apply in order. Calls: one transaction each from the key (`Chain::send_request`: fresh
//!    nonces, bounded waits), each sent only after the previous one is mined, so an `approve`
//!    is in place for the swap after it; the first refusal or revert stops the rest. With
//!    `--account`: all selected calls in one `executeBatch` user operation (all or nothing),
//!    paid by the account itself, since the sponsor pays for marketplace calls only; the batch
//!    goes out where the first selected call stands. Typed data: signed with the key (EIP-712
//!    signing hash), also with `--account` (venues recover an ECDSA signer; none of them asks
//!    a smart account's EIP-1271), and posted to `submitTo` with the signature as
//!    `{"r","s","v"}` (Hyperliquid's `/exchange` form); the venue's answer is printed through
//!    `terminal::Untrusted`, and a non-2xx status or Hyperliquid's `{"status":"err"}` fails.
//!
//! stdout gets one line per applied proposal (a transaction hash, a user operation, or the
//! venue's answer); the view and the question go to stderr with the rest of the narration.
//!
//! [`proposal_checks`]: super::super::proposal_checks
//! [`submit`]: super::super::submit
//! [`confirm`]: super::super::confirm

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, Bytes, U256};
use alloy::rpc::types::TransactionRequest;
use alloy::signers::Signer;
use alloy::signers::local::PrivateKeySigner;
use anyhow::Context;
use nexus_accounts::{Call, SmartAccount};
use nexus_proposals::Proposal;
use nexus_proposals::eip712::TypedData;
use serde_json::{Map, Value};

use super::super::account::{self, BundlerArgs};
use super::super::api::Api;
use super::super::chain::Chain;
use super::super::confirm::{Consent, confirm};
use super::super::proposal_checks::{self, Danger};
use super::super::proposals_view::{Decoder, ProposalView};
use super::super::submit::{self, Route, Target};
use super::super::terminal::Untrusted;
use super::super::{ChainSettings, KeyArgs};
use super::Outcome;
use super::proposals::read_proposals;

/// How `nexus apply` selects, asks and sends.
pub(super) struct ApplyOptions<'a> {
    /// Only this proposal (as `nexus proposals` numbers them); all when `None`.
    pub(super) index: Option<usize>,
    /// Send the calls from the smart account, in one user operation (`--account`).
    pub(super) via: Option<&'a BundlerArgs>,
    pub(super) consent: Consent,
    /// `--allow-permit`: sign well-known asset-moving typed data anyway.
    pub(super) allow_permit: bool,
    /// `--submit-route`: where a venue's origin is actually served.
    pub(super) routes: &'a [Route],
}

/// A proposal that passed the checks, with what applying it needs.
struct Checked<'p> {
    index: usize,
    proposal: &'p Proposal,
    action: Action,
}

/// What applying a checked proposal does.
enum Action {
    /// A transaction (or one call of the account's batch).
    Send { to: Address, value: U256, data: Bytes },
    /// Sign `typed` with the key and post `body` with the signature added to `target`.
    Sign {
        typed: Box<TypedData>,
        body: Map<String, Value>,
        target: Target,
        /// A well-known asset-moving signature allowed by `--allow-permit`: warned about.
        danger: Option<Danger>,
    },
}

pub(super) async fn apply(
    api: &Api,
    settings: &ChainSettings<'_>,
    key: &KeyArgs,
    request: U256,
    options: ApplyOptions<'_>,
) -> anyhow::Result<Outcome> {
    let signer = key.signer()?;
    let chain = Chain::connect(settings, Some(signer.clone())).await?;
    let smart = match options.via {
        Some(bundler) => Some(account::open_self_paid(&chain, signer.clone(), bundler).await?),
        None => None,
    };
    // The relayer validated the shape before settling; validated again here, as any wallet would.
    let proposals = read_proposals(api, &chain, &signer, smart.as_ref(), request).await?;
    anyhow::ensure!(!proposals.is_empty(), "execution {request}'s output has no proposals");
    let mut decoder = Decoder::new(&chain.deployments)?;
    if let Some(smart) = &smart {
        decoder = decoder.with_account(smart.address())?;
    }
    let all = proposals.as_slice();
    let selected: Vec<(usize, &Proposal)> = match options.index {
        None => all.iter().enumerate().collect(),
        Some(i) => match all.get(i) {
            Some(p) => vec![(i, p)],
            None => anyhow::bail!(
                "execution {request} has {} proposal(s), numbered 0 to {}: there is no --index {i}",
                all.len(),
                all.len() - 1
            ),
        },
    };

    let connected = chain.deployments.chain_id;
    let mut checked = Vec::new();
    let mut refused = Vec::new();
    for (index, proposal) in selected {
        match check(proposal, connected, &options) {
            Ok(action) => checked.push(Checked { index, proposal, action }),
            Err(e) => refused.push(format!("proposal {index} is refused: {e:#}")),
        }
    }
    if !refused.is_empty() {
        anyhow::bail!("{}; nothing was signed or sent", refused.join("; "));
    }

    let from = match &smart {
        Some(s) => format!("your smart account {} (owner {}, paying its own gas)", s.address(), s.owner()),
        None => format!("your wallet {}", signer.address()),
    };
    eprintln!("execution {request}: {} proposal(s) to apply on chain {connected}", checked.len());
    for c in &checked {
        eprintln!("{}", view(&decoder, c, &from, signer.address())?);
    }
    confirm(options.consent, &format!("Apply {} proposal(s)?", checked.len()))?;

    let mut batch_sent = false;
    for (n, c) in checked.iter().enumerate() {
        let done = match (&c.action, &smart) {
            (Action::Send { to, value, data, .. }, None) => send_call(&chain, c.index, *to, *value, data).await,
            // The batch holds every selected call; it goes where the first one stands.
            (Action::Send { .. }, Some(_)) if batch_sent => continue,
            (Action::Send { .. }, Some(smart)) => {
                batch_sent = true;
                send_batch(smart, &checked).await
            }
            (Action::Sign { typed, body, target, .. }, _) => sign_and_post(&signer, c.index, typed, body, target).await,
        };
        match done {
            Ok(line) => println!("{line}"),
            Err(e) => {
                // Earlier calls are mined and stay applied: say so, and what was not attempted.
                let rest = checked.len() - n - 1;
                anyhow::bail!("{e:#}; {n} proposal(s) applied before it (listed above), {rest} after it not sent");
            }
        }
    }
    Ok(Outcome::Done)
}

/// The checks of one proposal (see `proposal_checks` and `submit`), and what applying it does.
fn check(proposal: &Proposal, connected: u64, options: &ApplyOptions<'_>) -> anyhow::Result<Action> {
    match proposal {
        Proposal::Call { chain_id, to, value, data, .. } => {
            proposal_checks::check_call_chain(*chain_id, connected)?;
            Ok(Action::Send { to: *to, value: *value, data: data.clone() })
        }
        Proposal::TypedData { typed_data, submit_to, submit_body, .. } => {
            // nexus-proposals' validation guarantees an object; checked, not assumed.
            let Value::Object(body) = submit_body else { anyhow::bail!("its submitBody is not a JSON object") };
            let typed = nexus_proposals::eip712::parse(typed_data).context("its typed data")?;
            let domain = &typed.domain;
            // A chain id past u64 is no chain anyone is connected to.
            let chain_id = domain.chain_id.map(|c| u64::try_from(c).unwrap_or(u64::MAX));
            proposal_checks::check_domain(chain_id, domain.verifying_contract, connected)?;
            // The types the signature covers: the primary type and every type it reaches.
            let covered = typed.resolver.linearize(&typed.primary_type).unwrap_or_default();
            let danger = proposal_checks::danger(&typed.primary_type, covered.iter().map(|t| t.type_name()));
            let danger = proposal_checks::check_danger(danger, options.allow_permit)?;
            let target = Target::resolve(submit_to, options.routes)?;
            Ok(Action::Sign { typed: Box::new(typed), body: body.clone(), target, danger })
        }
    }
}

/// What the user reads before answering: the proposal as `nexus proposals` shows it (decoded,
/// the agent's words neutralised), then what this command will do with it.
fn view(decoder: &Decoder, c: &Checked<'_>, from: &str, signer: Address) -> anyhow::Result<String> {
    let shown = ProposalView::new(decoder, c.index, c.proposal)?.render();
    let then = match &c.action {
        Action::Send { .. } => format!("  => sent from {from}"),
        Action::Sign { target, danger, .. } => {
            let warning = danger.as_ref().map_or_else(String::new, |d| {
                format!("  !!! WARNING: {} is {} (allowed by --allow-permit)\n", d.type_name, d.what)
            });
            format!(
                "{warning}  => signed by your key {signer}, the body posted with the signature to {}",
                Untrusted(target.describe())
            )
        }
    };
    Ok(format!("{shown}{then}\n"))
}

/// One call from the key, mined before the next one is sent.
async fn send_call(chain: &Chain, index: usize, to: Address, value: U256, data: &Bytes) -> anyhow::Result<String> {
    let request = TransactionRequest::default().with_to(to).with_value(value).with_input(data.clone());
    let receipt = chain.send_request(&format!("proposal {index}"), request).await?;
    Ok(format!(
        "proposal {index}: tx {} (block {})",
        receipt.transaction_hash,
        receipt.block_number.map_or_else(|| "?".to_string(), |b| b.to_string())
    ))
}

/// Every selected call in one user operation of the smart account.
async fn send_batch(smart: &SmartAccount, checked: &[Checked<'_>]) -> anyhow::Result<String> {
    let (indices, calls): (Vec<String>, Vec<Call>) = checked
        .iter()
        .filter_map(|c| match &c.action {
            Action::Send { to, value, data, .. } => {
                Some((c.index.to_string(), Call { target: *to, value: *value, data: data.clone() }))
            }
            Action::Sign { .. } => None,
        })
        .unzip();
    let what = format!("proposals {} (one user operation)", indices.join(", "));
    let receipt = smart.execute_batch(calls).await.map_err(|e| account::explain(&what, e))?;
    Ok(format!("{what}: user operation {}, tx {}", receipt.user_op_hash, receipt.receipt.transaction_hash))
}

/// Signs the typed data with the key and posts it, with the signature, to the venue.
async fn sign_and_post(
    signer: &PrivateKeySigner,
    index: usize,
    typed: &TypedData,
    body: &Map<String, Value>,
    target: &Target,
) -> anyhow::Result<String> {
    let what = format!("proposal {index}");
    let hash = typed.eip712_signing_hash().with_context(|| format!("{what}: hashing the typed data"))?;
    let signature = signer.sign_hash(&hash).await.with_context(|| format!("{what}: signing"))?;
    let mut body = body.clone();
    body.insert(
        "signature".to_string(),
        serde_json::json!({
            "r": format!("{:#x}", signature.r()),
            "s": format!("{:#x}", signature.s()),
            "v": 27 + u8::from(signature.v()),
        }),
    );
    let answer = submit::post(target, &Value::Object(body)).await.with_context(|| what.clone())?;
    let cut = if answer.truncated { " (cut)" } else { "" };
    let text = Untrusted(answer.body.trim());
    // Hyperliquid answers refusals with 200 and `{"status": "err", ...}`.
    let venue_refused = serde_json::from_str::<Value>(&answer.body).is_ok_and(|v| v["status"] == "err");
    if !(200..300).contains(&answer.status) || venue_refused {
        anyhow::bail!("{what}: {} answered {}: {text}{cut}", target.contacted, answer.status);
    }
    Ok(format!("{what}: signed and posted to {}: {} {text}{cut}", target.contacted, answer.status))
}
