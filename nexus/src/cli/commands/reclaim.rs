//! `nexus reclaim`: after the deadline, take back the escrow of a request nobody settled.

use alloy::primitives::{B256, U256};
use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEvent;
use anyhow::Context;
use nexus_bindings::AgentMarketplace;
use serde::Deserialize;
use serde_json::json;

use super::super::api::Api;
use super::super::chain::{Chain, event};
use super::super::{ChainSettings, KeyArgs};
use super::{Outcome, rfc3339};

pub(super) async fn reclaim(
    api: &Api,
    settings: &ChainSettings<'_>,
    key: &KeyArgs,
    id: U256,
) -> anyhow::Result<Outcome> {
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
