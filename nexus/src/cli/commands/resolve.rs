//! The agent a user named (by id or by exact name), with its terms read on-chain.

use alloy::primitives::{Address, U256};
use anyhow::Context;
use nexus_bindings::agent::Status;
use serde::Deserialize;
use serde_json::json;

use super::super::api::Api;
use super::super::chain::{Chain, explain};
use super::super::terminal::Untrusted;

/// An agent the user named, with its on-chain terms.
pub(super) struct Agent {
    pub(super) id: U256,
    /// `<name> (agent <id>)`, the publisher's name already neutralised for the terminal.
    pub(super) label: String,
    pub(super) token: Address,
    pub(super) price: U256,
}

/// Finds the agent by id or exact name (the API's catalog), then reads its terms on-chain: the
/// chain, not the mirror, says what a purchase costs.
pub(super) async fn resolve(api: &Api, chain: &Chain, agent: &str) -> anyhow::Result<Agent> {
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
