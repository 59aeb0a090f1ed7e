//! `nexus run`: upload the input, request an execution and, with `--wait`, follow it to its
//! settlement over the API's websocket.

use std::time::Duration;

use alloy::primitives::{Address, U256, keccak256};
use anyhow::Context;
use nexus_accounts::{Call, SmartAccount};
use nexus_bindings::AgentMarketplace;
use nexus_bindings::credit_id;
use nexus_graphql::model::ExecutionStatus;
use serde::Deserialize;
use serde_json::{Value, json};

use super::super::account::{self, BundlerArgs};
use super::super::api::{Api, ApiError};
use super::super::chain::{Chain, event};
use super::super::terminal::Untrusted;
use super::super::ws::{Event, Subscriptions};
use super::super::{ChainSettings, KeyArgs};
use super::output::{print_bytes, print_output, sign_in};
use super::resolve::{Agent, resolve};
use super::{Outcome, rfc3339};

/// A credit of `agent` that `me` holds: preferably at today's price, else any older one.
pub(super) async fn find_credit(api: &Api, chain: &Chain, me: Address, agent: &Agent) -> anyhow::Result<U256> {
    let market = chain.marketplace();
    let current = credit_id::encode(agent.id, agent.price);
    if !market.balanceOf(me, current).call().await.context("reading the credit balance")?.is_zero() {
        return Ok(current);
    }
    #[derive(Deserialize)]
    struct Held {
        entitlements: Nodes,
    }
    #[derive(Deserialize)]
    struct Nodes {
        nodes: Vec<Entitlement>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Entitlement {
        credit_id: String,
    }
    let held: Held = api
        .query(
            "query($h: Address!, $a: BigInt!) { entitlements(filter: { holder: $h, agentId: $a }, first: 20) {
               nodes { creditId } } }",
            json!({ "h": me.to_checksum(None), "a": agent.id.to_string() }),
            None,
        )
        .await?;
    for e in held.entitlements.nodes {
        let Ok(credit) = e.credit_id.parse::<U256>() else { continue };
        if !market.balanceOf(me, credit).call().await.context("reading the credit balance")?.is_zero() {
            return Ok(credit);
        }
    }
    anyhow::bail!("no credits for {}: buy some first with `nexus buy {} --units N`", agent.label, agent.id)
}

/// How `nexus run` sends and follows the request.
pub(super) struct RunOptions<'a> {
    pub(super) wait: bool,
    pub(super) timeout: Option<Duration>,
    /// Through the smart account (`--account`).
    pub(super) via: Option<&'a BundlerArgs>,
}

pub(super) async fn run(
    api: &Api,
    settings: &ChainSettings<'_>,
    key: &KeyArgs,
    agent: &str,
    input: &std::path::Path,
    options: RunOptions<'_>,
) -> anyhow::Result<Outcome> {
    let bytes = std::fs::read(input).with_context(|| format!("reading the input {}", input.display()))?;
    serde_json::from_slice::<Value>(&bytes)
        .with_context(|| format!("the input {} is not a JSON document", input.display()))?;
    let signer = key.signer()?;
    let mut chain = Chain::connect(settings, Some(signer.clone())).await?;
    let agent = resolve(api, &chain, agent).await?;
    let smart = match options.via {
        Some(bundler) => Some(account::open(&chain, signer.clone(), api.base(), bundler).await?),
        None => None,
    };
    let me = smart.as_ref().map_or(signer.address(), SmartAccount::address);
    let credit = find_credit(api, &chain, me, &agent).await?;

    // The chain commits to the hash; the relayer fetches the bytes by it. Check the server
    // stored exactly these bytes before paying for a request that could never run.
    let local = keccak256(&bytes);
    let size = bytes.len();
    let stored = api.put_blob(bytes, "application/json").await.context("uploading the input")?;
    anyhow::ensure!(
        stored == local,
        "the API stored the input under {stored}, but its keccak256 is {local}; not requesting"
    );
    eprintln!("uploaded the input ({size} bytes, keccak256 {local})");

    let market = chain.marketplace();
    let (requested, sent) = match (&smart, options.via) {
        (Some(smart), Some(bundler)) => {
            let now = chain.now().await?;
            let call = Call::request_execution(*market.address(), credit, local);
            let receipt = match account::usable_session_key(smart, bundler, now).await? {
                Some(grant) => {
                    eprintln!("signing with the account's session key {}", grant.key.address());
                    smart.session_key(grant.key).execute(call).await
                }
                None => {
                    eprintln!("no usable session key (`nexus account create` grants one): the owner key signs");
                    smart.execute(call).await
                }
            }
            .map_err(|e| account::explain("requestExecution", e))?;
            let requested = receipt
                .logs
                .iter()
                .find_map(|l| l.log_decode::<AgentMarketplace::ExecutionRequested>().ok())
                .map(|l| l.inner.data);
            let sent = format!(
                "user operation {}, tx {}, gas sponsored",
                receipt.user_op_hash, receipt.receipt.transaction_hash
            );
            (requested, sent)
        }
        _ => {
            let receipt = chain.send("requestExecution", market.requestExecution(credit, local)).await?;
            (event::<AgentMarketplace::ExecutionRequested>(&receipt), format!("tx {}", receipt.transaction_hash))
        }
    };
    let requested = requested.context("the request emitted no ExecutionRequested event")?;
    let id = requested.requestId;
    let token = chain.token(requested.token).await?;
    eprintln!(
        "requested execution {id} of {} ({sent}); escrowed {}, deadline {}",
        agent.label,
        token.format(U256::from(requested.unitPrice)),
        rfc3339(requested.deadline.to::<u64>())
    );
    let (wait, timeout) = (options.wait, options.timeout);
    if !wait {
        println!("{id}");
        eprintln!("follow it: nexus output {id} (once settled)");
        return Ok(Outcome::Done);
    }
    let timeout = match timeout {
        Some(t) => t,
        None => {
            let now = chain.now().await?;
            Duration::from_secs(requested.deadline.to::<u64>().saturating_sub(now) + 30)
        }
    };
    let session = sign_in(api, &chain, &signer, smart.as_ref()).await?;
    let settled = follow(api, &session, id, timeout).await?;
    let outcome = if settled.status == ExecutionStatus::Succeeded {
        print_output(api, id, &session).await?;
        eprintln!("execution {id} succeeded");
        Outcome::Done
    } else {
        // A failed run may still have left an output (an error report); show it if so.
        if let Ok(bytes) = api.output(id, &session).await {
            print_bytes(&bytes);
        }
        let refund = settled.payout.as_deref().and_then(|p| p.parse::<U256>().ok()).unwrap_or(agent.price);
        let verb = if settled.status == ExecutionStatus::Reclaimed { "reclaimed" } else { "failed" };
        eprintln!(
            "execution {id} {verb}: {} refunded to your marketplace balance (`nexus withdraw` to take it)",
            token.format(refund)
        );
        Outcome::ExecutionFailed
    };
    Ok(outcome)
}

/// The execution's final state as the API reports it.
pub(super) struct Settled {
    status: ExecutionStatus,
    payout: Option<String>,
}

pub(super) const EXECUTION_UPDATED: &str = "subscription($id: BigInt!) { executionUpdated(id: $id) { status payout } }";
pub(super) const EXECUTION_LOGS: &str =
    "subscription($id: BigInt!) { executionLogs(id: $id) { attempt seq stream line } }";

/// Follows execution `id` over the websocket until it leaves REQUESTED, printing status changes
/// and log lines to stderr.
pub(super) async fn follow(api: &Api, session: &str, id: U256, timeout: Duration) -> anyhow::Result<Settled> {
    let give_up = tokio::time::Instant::now() + timeout;
    let mut subs = Subscriptions::connect(&api.ws_url(), Some(session)).await?;
    let vars = json!({ "id": id.to_string() });
    subs.subscribe("execution", EXECUTION_UPDATED, vars.clone()).await?;
    let (mut status, mut logs_on, mut last_seq): (Option<ExecutionStatus>, bool, Option<i64>) = (None, false, None);
    let last = loop {
        let next = tokio::time::timeout_at(give_up, subs.next()).await.map_err(|_| {
            anyhow::anyhow!(
                "execution {id} was not settled within {} s; if its deadline passes unsettled, `nexus reclaim {id}` refunds it",
                timeout.as_secs()
            )
        })??;
        match next {
            Event::Next { id: sub, data } if sub == "execution" => {
                let e = &data["executionUpdated"];
                let now = ExecutionStatus::deserialize(&e["status"]).map_err(|err| {
                    anyhow::anyhow!("the API sent execution {id} an unknown status {}: {err}", Untrusted(&e["status"]))
                })?;
                if status != Some(now) {
                    eprintln!("status: {}", Untrusted(&e["status"].as_str().unwrap_or_default()));
                }
                status = Some(now);
                // Log lines are requester-only and need the execution indexed: ask once it is.
                if !logs_on {
                    subs.subscribe("logs", EXECUTION_LOGS, vars.clone()).await?;
                    logs_on = true;
                }
                if now != ExecutionStatus::Requested {
                    break Settled { status: now, payout: e["payout"].as_str().map(str::to_string) };
                }
            }
            Event::Next { data, .. } => {
                let l = &data["executionLogs"];
                // The agent's own words: never raw on the user's terminal.
                let (stream, line) = (l["stream"].as_str().unwrap_or("?"), l["line"].as_str().unwrap_or_default());
                eprintln!("  [{}] {}", Untrusted(stream), Untrusted(line));
                last_seq = l["seq"].as_i64();
            }
            Event::Error { id: sub, message } if sub == "logs" => {
                eprintln!("warning: no log lines: {}", Untrusted(&message))
            }
            Event::Error { message, .. } => anyhow::bail!("following execution {id}: {message}"),
            Event::Complete { id: sub } if sub == "execution" => anyhow::bail!("the API ended the subscription"),
            Event::Complete { .. } => {}
        }
    };
    // Lines the relayer wrote before settling that the socket had not delivered yet.
    #[derive(Deserialize)]
    struct Rest {
        execution: Option<Lines>,
    }
    #[derive(Deserialize)]
    struct Lines {
        logs: Vec<LogLine>,
    }
    #[derive(Deserialize)]
    struct LogLine {
        stream: String,
        line: String,
    }
    let rest: Result<Rest, ApiError> = api
        .query(
            "query($id: BigInt!, $after: Int) { execution(id: $id) { logs(afterSeq: $after) { stream line } } }",
            json!({ "id": id.to_string(), "after": last_seq }),
            Some(session),
        )
        .await;
    if let Ok(Rest { execution: Some(lines) }) = rest {
        for l in lines.logs {
            eprintln!("  [{}] {}", Untrusted(&l.stream), Untrusted(&l.line));
        }
    }
    Ok(last)
}
