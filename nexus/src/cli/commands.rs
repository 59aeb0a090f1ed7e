//! The commands themselves. Each checks what it can before signing (agent active, balance,
//! credits, deadline) so a mistake is a sentence, not a reverted transaction; the contracts
//! still have the last word, and their refusals are decoded (see `chain::explain`).
//!
//! Output convention: stdout carries results (the catalog, a purchase, a request id, an output
//! document), stderr the narration of long operations (status changes, log lines), so
//! `nexus run ... --wait > out.json` keeps just the output.

use std::time::Duration;

use alloy::primitives::{Address, B256, U256, keccak256};
use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEvent;
use anyhow::Context;
use nexus_accounts::{Call, SmartAccount};
use nexus_bindings::agent::Status;
use nexus_bindings::credit_id;
use nexus_bindings::{AgentMarketplace, NexusAccount};
use serde::Deserialize;
use serde_json::{Value, json};

use super::account::{self, AccountCommand, BundlerArgs};
use super::api::{Api, ApiError};
use super::chain::{Chain, event, explain};
use super::purchase::{self, Quote};
use super::terminal::{Untrusted, clean, json_for_terminal};
use super::ws::{Event, Subscriptions};
use super::{ChainSettings, KeyArgs, UserCommand, WalletArgs};

/// How a command ended, when it did not fail.
pub enum Outcome {
    Done,
    /// The execution ran (or was abandoned) and did not succeed: the exit code says so.
    ExecutionFailed,
}

pub async fn dispatch(command: UserCommand, settings: &ChainSettings<'_>) -> anyhow::Result<Outcome> {
    match command {
        UserCommand::Agents { api } => agents(&Api::new(&api.graphql_url), settings).await,
        UserCommand::Buy { agent, units, account, wallet: WalletArgs { api, key, bundler } } => {
            let via = account.then_some(&bundler);
            buy(&Api::new(&api.graphql_url), settings, &key, &agent, units, via).await
        }
        UserCommand::Run { agent, input, wait, timeout, account, wallet: WalletArgs { api, key, bundler } } => {
            let api = Api::new(&api.graphql_url);
            let options =
                RunOptions { wait, timeout: timeout.map(Duration::from_secs), via: account.then_some(&bundler) };
            run(&api, settings, &key, &agent, &input, options).await
        }
        UserCommand::Account { action, wallet: WalletArgs { api, key, bundler } } => {
            let api = Api::new(&api.graphql_url);
            let signer = key.signer()?;
            let mut chain = Chain::connect(settings, Some(signer.clone())).await?;
            let smart = account::open(&chain, signer, api.base(), &bundler).await?;
            match action {
                AccountCommand::Create { session_uses, session_days, session_max_gas_wei } => {
                    account::create(&mut chain, &smart, &bundler, session_uses, session_days, session_max_gas_wei)
                        .await?
                }
                AccountCommand::Show => account::show(&mut chain, &smart, &bundler).await?,
            }
            Ok(Outcome::Done)
        }
        UserCommand::Output { request, account, wallet: WalletArgs { api, key, bundler } } => {
            let api = Api::new(&api.graphql_url);
            let signer = key.signer()?;
            let chain = Chain::connect(settings, Some(signer.clone())).await?;
            let smart = match account {
                true => Some(account::open(&chain, signer.clone(), api.base(), &bundler).await?),
                false => None,
            };
            let token = sign_in(&api, &chain, &signer, smart.as_ref()).await?;
            print_output(&api, request, &token).await?;
            Ok(Outcome::Done)
        }
        UserCommand::Reclaim { request, api, key } => {
            reclaim(&Api::new(&api.graphql_url), settings, &key, request).await
        }
        UserCommand::Withdraw { token, key } => withdraw(settings, &key, &token).await,
    }
}

// ---------------------------------------------------------------- the catalog

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CatalogAgent {
    id: String,
    name: Option<String>,
    price: String,
    payment_token: Address,
    category: String,
    status: String,
    stats: Stats,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stats {
    executions: i64,
    success_rate: Option<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageInfo {
    has_next_page: bool,
    end_cursor: Option<String>,
}

const CATALOG: &str = "query($after: String) { agents(first: 100, after: $after, sort: OLDEST) {
    nodes { id name price paymentToken category status stats { executions successRate } }
    pageInfo { hasNextPage endCursor } } }";

async fn agents(api: &Api, settings: &ChainSettings<'_>) -> anyhow::Result<Outcome> {
    #[derive(Deserialize)]
    struct Page {
        agents: Connection,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Connection {
        nodes: Vec<CatalogAgent>,
        page_info: PageInfo,
    }
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page: Page = api.query(CATALOG, json!({ "after": after }), None).await?;
        all.extend(page.agents.nodes);
        match page.agents.page_info {
            PageInfo { has_next_page: true, end_cursor: Some(c) } => after = Some(c),
            _ => break,
        }
    }
    if all.is_empty() {
        println!("The catalog is empty.");
        return Ok(Outcome::Done);
    }
    // Token decimals come from the chain; without it prices are shown in base units.
    let mut chain = match Chain::connect(settings, None).await {
        Ok(c) => Some(c),
        Err(e) => {
            eprintln!("warning: prices in base units ({:#})", Untrusted(&e));
            None
        }
    };
    let mut rows = vec![["ID", "NAME", "PRICE", "CATEGORY", "STATUS", "EXECUTIONS", "SUCCESS"].map(String::from)];
    for a in all {
        let price: U256 = a.price.parse().with_context(|| format!("agent {}: price {:?}", a.id, a.price))?;
        let price = match chain.as_mut() {
            Some(c) => match c.token(a.payment_token).await {
                Ok(t) => t.format(price),
                Err(_) => format!("{price} (base units of {})", a.payment_token),
            },
            None => format!("{price} (base units of {})", a.payment_token),
        };
        let success = a.stats.success_rate.map_or("-".to_string(), |r| format!("{:.0}%", r * 100.0));
        // Every cell the API sent is neutralised (the name is the publisher's), before padding.
        rows.push([
            clean(&a.id),
            a.name.as_deref().map_or_else(|| "(metadata pending)".into(), clean),
            price,
            clean(&title_case(&a.category)),
            clean(&a.status.to_lowercase()),
            a.stats.executions.to_string(),
            success,
        ]);
    }
    print_table(&rows);
    Ok(Outcome::Done)
}

fn title_case(s: &str) -> String {
    let lower = s.to_lowercase();
    let mut chars = lower.chars();
    chars.next().map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
}

fn print_table<const N: usize>(rows: &[[String; N]]) {
    let mut widths = [0usize; N];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in rows {
        let cells: Vec<String> = row.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        println!("{}", cells.join("  ").trim_end());
    }
}

// ---------------------------------------------------------------- agents by id or name

/// An agent the user named, with its on-chain terms.
struct Agent {
    id: U256,
    /// `<name> (agent <id>)`, the publisher's name already neutralised for the terminal.
    label: String,
    token: Address,
    price: U256,
}

/// Finds the agent by id or exact name (the API's catalog), then reads its terms on-chain: the
/// chain, not the mirror, says what a purchase costs.
async fn resolve(api: &Api, chain: &Chain, agent: &str) -> anyhow::Result<Agent> {
    #[derive(Deserialize)]
    struct Found {
        agents: Nodes,
    }
    #[derive(Deserialize)]
    struct Nodes {
        nodes: Vec<Named>,
    }
    #[derive(Deserialize, Clone)]
    struct Named {
        id: String,
        name: Option<String>,
    }
    #[derive(Deserialize)]
    struct One {
        agent: Option<Named>,
    }
    let (id, name) = if let Ok(id) = agent.parse::<U256>() {
        // By id the API is only asked for the name; the command works without it.
        let name = api
            .query::<One>("query($id: BigInt!) { agent(id: $id) { id name } }", json!({ "id": id.to_string() }), None)
            .await
            .ok()
            .and_then(|o| o.agent)
            .and_then(|a| a.name);
        (id, name)
    } else {
        let found: Found = api
            .query(
                "query($s: String) { agents(filter: { search: $s }, first: 50) { nodes { id name } } }",
                json!({ "s": agent }),
                None,
            )
            .await?;
        let nodes = found.agents.nodes;
        let exact: Vec<&Named> = nodes.iter().filter(|n| n.name.as_deref() == Some(agent)).collect();
        let matches = if exact.is_empty() {
            nodes.iter().filter(|n| n.name.as_deref().is_some_and(|m| m.eq_ignore_ascii_case(agent))).collect()
        } else {
            exact
        };
        let chosen = match matches.as_slice() {
            [one] => (*one).clone(),
            [] => anyhow::bail!("unknown agent `{agent}`: `nexus agents` lists the catalog (name or id)"),
            many => {
                let ids: Vec<&str> = many.iter().map(|n| n.id.as_str()).collect();
                anyhow::bail!("several agents are named `{agent}` (ids {}); give the id", ids.join(", "))
            }
        };
        let id = chosen.id.parse::<U256>().with_context(|| format!("agent id {:?} from the API", chosen.id))?;
        (id, chosen.name)
    };
    let terms = chain.registry().terms(id).call().await.map_err(|e| match explain("looking up the agent", e) {
        e if e.to_string().contains("no agent") => {
            anyhow::anyhow!("unknown agent {id}: `nexus agents` lists the catalog")
        }
        e => e,
    })?;
    let label = match name {
        Some(n) => format!("{} (agent {id})", Untrusted(&n)),
        None => format!("agent {id}"),
    };
    match Status::try_from(terms.status) {
        Ok(Status::Active) => {}
        Ok(other) => {
            anyhow::bail!("{label} is {}, not active: it cannot be bought or run", other.as_str().to_lowercase())
        }
        Err(e) => anyhow::bail!("{label}: {e}"),
    }
    Ok(Agent { id, label, token: terms.paymentToken, price: U256::from(terms.price) })
}

// ---------------------------------------------------------------- buying

async fn buy(
    api: &Api,
    settings: &ChainSettings<'_>,
    key: &KeyArgs,
    agent: &str,
    units: u64,
    via: Option<&BundlerArgs>,
) -> anyhow::Result<Outcome> {
    anyhow::ensure!(units > 0, "--units must be at least 1");
    let signer = key.signer()?;
    let me = signer.address();
    let mut chain = Chain::connect(settings, Some(signer.clone())).await?;
    let agent = resolve(api, &chain, agent).await?;
    let token = chain.token(agent.token).await?;
    // The price read once above is the one shown here and the purchase's bound (see `purchase`).
    let quote = Quote {
        agent_id: agent.id,
        label: &agent.label,
        unit_price: agent.price,
        units,
        token: &token,
        paid_in_eth: agent.token == Address::ZERO,
    };
    let cost = quote.cost().context("the cost overflows")?;
    eprintln!("{}", quote.announce());
    if let Some(bundler) = via {
        anyhow::ensure!(
            agent.token != Address::ZERO,
            "{} is priced in ETH, which a sponsored account does not hold; buy it without --account",
            agent.label
        );
        let smart = account::open(&chain, signer, api.base(), bundler).await?;
        let holder = smart.address();
        let held = chain.balance(agent.token, holder).await?;
        anyhow::ensure!(
            held >= cost,
            "insufficient {} in account {holder}: it holds {}, {units} × {} costs {}",
            token.symbol,
            token.format(held),
            agent.label,
            token.format(cost)
        );
        let market = chain.deployments.contracts.agent_marketplace;
        // Approval and purchase in one operation: both happen or neither does.
        let calls = vec![
            Call::approve(agent.token, market, cost),
            Call::purchase(market, agent.id, U256::from(units), agent.price),
        ];
        let receipt = match smart.execute_batch(calls).await {
            Ok(receipt) => receipt,
            // The paymaster pays the gas of a reverted operation: the buyer pays nothing either way.
            Err(e) => {
                return Err(purchase::explain_refusal(&chain, &quote, false, account::explain("purchase", e)).await);
            }
        };
        let credit = nexus_accounts::purchased_credit(&receipt).context("the operation emitted no Purchased event")?;
        let credits = account::credits(&chain, holder, credit).await?;
        // What was charged: the price now, at most the one shown (a credit id encodes its price).
        let paid = credit_id::decode(credit).1 * U256::from(units);
        let eth = chain.token(Address::ZERO).await?;
        println!(
            "bought {units} credit{} of {} for {} with account {holder}: one user operation {} (tx {}), gas {} paid by the paymaster",
            if units == 1 { "" } else { "s" },
            agent.label,
            token.format(paid),
            receipt.user_op_hash,
            receipt.receipt.transaction_hash,
            eth.format(receipt.actual_gas_cost)
        );
        println!("credits: {credits} (credit id {credit})");
        return Ok(Outcome::Done);
    }
    let eth = chain.balance(Address::ZERO, me).await?;
    anyhow::ensure!(!eth.is_zero(), "{me} has no ETH to pay for gas");
    let market = chain.marketplace();
    let call = if agent.token == Address::ZERO {
        anyhow::ensure!(
            eth > cost,
            "insufficient ETH: {me} holds {}, {units} × {} costs {}",
            token.format(eth),
            agent.label,
            token.format(cost)
        );
        market.purchase(agent.id, U256::from(units), agent.price).value(cost)
    } else {
        let held = chain.balance(agent.token, me).await?;
        anyhow::ensure!(
            held >= cost,
            "insufficient {}: {me} holds {}, {units} × {} costs {}",
            token.symbol,
            token.format(held),
            agent.label,
            token.format(cost)
        );
        let erc20 = chain.erc20(agent.token);
        let market_address = chain.deployments.contracts.agent_marketplace;
        let allowance = erc20.allowance(me, market_address).call().await.context("reading the allowance")?;
        if allowance < cost {
            let r = chain.send("approving the marketplace", erc20.approve(market_address, cost)).await?;
            println!("approved {} for the marketplace (tx {})", token.format(cost), r.transaction_hash);
        }
        market.purchase(agent.id, U256::from(units), agent.price)
    };
    let receipt = match chain.send("purchase", call).await {
        Ok(receipt) => receipt,
        Err(e) => {
            let sent = !purchase::refused_before_sending(&e);
            return Err(purchase::explain_refusal(&chain, &quote, sent, e).await);
        }
    };
    let purchased =
        event::<AgentMarketplace::Purchased>(&receipt).context("the purchase emitted no Purchased event")?;
    let credits = market.balanceOf(me, purchased.creditId).call().await.context("reading the credit balance")?;
    let paid = U256::from(purchased.unitPrice) * U256::from(units);
    println!(
        "bought {units} credit{} of {} for {} (tx {})",
        if units == 1 { "" } else { "s" },
        agent.label,
        token.format(paid),
        receipt.transaction_hash
    );
    println!("credits: {credits} (credit id {})", purchased.creditId);
    Ok(Outcome::Done)
}

// ---------------------------------------------------------------- running

/// A credit of `agent` that `me` holds: preferably at today's price, else any older one.
async fn find_credit(api: &Api, chain: &Chain, me: Address, agent: &Agent) -> anyhow::Result<U256> {
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
struct RunOptions<'a> {
    wait: bool,
    timeout: Option<Duration>,
    /// Through the smart account (`--account`).
    via: Option<&'a BundlerArgs>,
}

async fn run(
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
    let outcome = if settled.status == "SUCCEEDED" {
        print_output(api, id, &session).await?;
        eprintln!("execution {id} succeeded");
        Outcome::Done
    } else {
        // A failed run may still have left an output (an error report); show it if so.
        if let Ok(bytes) = api.output(id, &session).await {
            print_bytes(&bytes);
        }
        let refund = settled.payout.as_deref().and_then(|p| p.parse::<U256>().ok()).unwrap_or(agent.price);
        let verb = if settled.status == "RECLAIMED" { "reclaimed" } else { "failed" };
        eprintln!(
            "execution {id} {verb}: {} refunded to your marketplace balance (`nexus withdraw` to take it)",
            token.format(refund)
        );
        Outcome::ExecutionFailed
    };
    Ok(outcome)
}

/// The execution's final state as the API reports it.
struct Settled {
    status: String,
    payout: Option<String>,
}

const EXECUTION_UPDATED: &str = "subscription($id: BigInt!) { executionUpdated(id: $id) { status payout } }";
const EXECUTION_LOGS: &str = "subscription($id: BigInt!) { executionLogs(id: $id) { attempt seq stream line } }";

/// Follows execution `id` over the websocket until it leaves REQUESTED, printing status changes
/// and log lines to stderr.
async fn follow(api: &Api, session: &str, id: U256, timeout: Duration) -> anyhow::Result<Settled> {
    let give_up = tokio::time::Instant::now() + timeout;
    let mut subs = Subscriptions::connect(&api.ws_url(), Some(session)).await?;
    let vars = json!({ "id": id.to_string() });
    subs.subscribe("execution", EXECUTION_UPDATED, vars.clone()).await?;
    let (mut status, mut logs_on, mut last_seq): (Option<String>, bool, Option<i64>) = (None, false, None);
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
                let now = e["status"].as_str().unwrap_or("UNKNOWN").to_string();
                if status.as_deref() != Some(now.as_str()) {
                    eprintln!("status: {}", Untrusted(&now));
                }
                status = Some(now.clone());
                // Log lines are requester-only and need the execution indexed: ask once it is.
                if !logs_on {
                    subs.subscribe("logs", EXECUTION_LOGS, vars.clone()).await?;
                    logs_on = true;
                }
                if now != "REQUESTED" {
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

/// A bearer token for the key's address, or for its smart account when given: then EIP-1271,
/// the owner signing the account's replay-safe hash of the message.
async fn sign_in(
    api: &Api,
    chain: &Chain,
    signer: &alloy::signers::local::PrivateKeySigner,
    smart: Option<&SmartAccount>,
) -> anyhow::Result<String> {
    let chain_id = chain.deployments.chain_id;
    let session = match smart {
        None => api.sign_in(signer, chain_id).await,
        Some(smart) => {
            let wallet = NexusAccount::new(smart.address(), chain.provider.clone());
            api.sign_in_as(smart.address(), chain_id, async |message: String| {
                use alloy::signers::Signer;
                let hash = wallet
                    .replaySafeHash(alloy::primitives::eip191_hash_message(&message))
                    .call()
                    .await
                    .map_err(|e| e.to_string())?;
                signer.sign_hash(&hash).await.map(|s| s.as_bytes().to_vec()).map_err(|e| e.to_string())
            })
            .await
        }
    };
    session.context("signing in to read the output")
}

async fn print_output(api: &Api, id: U256, session: &str) -> anyhow::Result<()> {
    let bytes = api.output(id, session).await.with_context(|| format!("reading execution {id}'s output"))?;
    print_bytes(&bytes);
    Ok(())
}

/// An agent's output: JSON pretty-printed (still the same JSON, control and bidi characters
/// escaped as `\uXXXX`), anything else as text with them shown as `\u{..}`. Even when stdout
/// is a file: such a file is read on a terminal next.
fn print_bytes(bytes: &[u8]) {
    println!("{}", output_text(bytes));
}

fn output_text(bytes: &[u8]) -> String {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v) => json_for_terminal(&v),
        Err(_) => clean(&String::from_utf8_lossy(bytes)),
    }
}

pub(super) fn rfc3339(secs: u64) -> String {
    chrono::DateTime::from_timestamp(secs as i64, 0)
        .map_or_else(|| secs.to_string(), |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

// ---------------------------------------------------------------- after the deadline

async fn reclaim(api: &Api, settings: &ChainSettings<'_>, key: &KeyArgs, id: U256) -> anyhow::Result<Outcome> {
    let signer = key.signer()?;
    let me = signer.address();
    let mut chain = Chain::connect(settings, Some(signer)).await?;
    // The request's fields are in its ExecutionRequested log; the API says which block holds it.
    #[derive(Deserialize)]
    struct Found {
        execution: Option<Requested>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Requested {
        requested_block: u64,
    }
    let block = api
        .query::<Found>(
            "query($id: BigInt!) { execution(id: $id) { requestedBlock } }",
            json!({ "id": id.to_string() }),
            None,
        )
        .await
        .ok()
        .and_then(|f| f.execution)
        .map(|e| e.requested_block);
    let market = chain.marketplace();
    let (from, to) = match block {
        Some(b) => (b, b),
        None => {
            (chain.deployments.deployment_block, chain.provider.get_block_number().await.context("reading the head")?)
        }
    };
    let filter = Filter::new()
        .address(chain.deployments.contracts.agent_marketplace)
        .event_signature(AgentMarketplace::ExecutionRequested::SIGNATURE_HASH)
        .topic1(B256::from(id))
        .from_block(from)
        .to_block(to);
    let logs = chain.provider.get_logs(&filter).await.context("reading the request's log")?;
    let requested = logs
        .iter()
        .find_map(|l| l.log_decode::<AgentMarketplace::ExecutionRequested>().ok())
        .map(|l| l.inner.data)
        .with_context(|| format!("no request {id} on this chain"))?;
    anyhow::ensure!(requested.requester == me, "request {id} was made by {}, not by {me}", requested.requester);
    anyhow::ensure!(
        market.isOpen(id).call().await.context("reading the request")?,
        "request {id} is already settled or reclaimed"
    );
    let deadline = requested.deadline.to::<u64>();
    let now = chain.now().await?;
    anyhow::ensure!(
        now > deadline,
        "request {id} can be reclaimed only after its deadline {} ({} s from now); the relayer may still settle it",
        rfc3339(deadline),
        deadline - now + 1
    );
    let receipt = chain.send("reclaim", market.reclaim(id, requested.execution())).await?;
    let reclaimed = event::<AgentMarketplace::ExecutionReclaimed>(&receipt).context("no ExecutionReclaimed event")?;
    let token = chain.token(reclaimed.token).await?;
    println!(
        "reclaimed request {id}: {} back in your marketplace balance (tx {}); `nexus withdraw` to take it",
        token.format(reclaimed.amount),
        receipt.transaction_hash
    );
    Ok(Outcome::Done)
}

// ---------------------------------------------------------------- withdrawing

async fn withdraw(settings: &ChainSettings<'_>, key: &KeyArgs, token: &str) -> anyhow::Result<Outcome> {
    let signer = key.signer()?;
    let me = signer.address();
    let mut chain = Chain::connect(settings, Some(signer)).await?;
    let token_address = match token.to_ascii_lowercase().as_str() {
        "usdc" => chain.deployments.contracts.usdc,
        "eth" => Address::ZERO,
        other => other
            .parse::<Address>()
            .map_err(|_| anyhow::anyhow!("--token must be usdc, eth or an address, not `{token}`"))?,
    };
    let info = chain.token(token_address).await?;
    let market = chain.marketplace();
    let owed = market.withdrawable(token_address, me).call().await.context("reading the withdrawable balance")?;
    if owed.is_zero() {
        println!("nothing to withdraw: the marketplace owes {me} no {}", info.symbol);
        return Ok(Outcome::Done);
    }
    let receipt = chain.send("withdraw", market.withdraw(token_address)).await?;
    let withdrawn = event::<AgentMarketplace::Withdrawn>(&receipt).context("no Withdrawn event")?;
    let balance = chain.balance(token_address, me).await?;
    println!("withdrew {} to {me} (tx {})", info.format(withdrawn.amount), receipt.transaction_hash);
    println!("wallet balance: {}", info.format(balance));
    Ok(Outcome::Done)
}
