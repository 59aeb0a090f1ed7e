//! `nexus agents`: the catalog as a table, every cell the API sent neutralised for the terminal.

use alloy::primitives::{Address, U256};
use anyhow::Context;
use serde::Deserialize;
use serde_json::json;

use super::super::ChainSettings;
use super::super::api::Api;
use super::super::chain::Chain;
use super::super::terminal::{Untrusted, clean};
use super::Outcome;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CatalogAgent {
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
pub(super) struct Stats {
    executions: i64,
    success_rate: Option<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PageInfo {
    has_next_page: bool,
    end_cursor: Option<String>,
}

pub(super) const CATALOG: &str = "query($after: String) { agents(first: 100, after: $after, sort: OLDEST) {
    nodes { id name price paymentToken category status stats { executions successRate } }
    pageInfo { hasNextPage endCursor } } }";

pub(super) async fn agents(api: &Api, settings: &ChainSettings<'_>) -> anyhow::Result<Outcome> {
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

pub(super) fn title_case(s: &str) -> String {
    let lower = s.to_lowercase();
    let mut chars = lower.chars();
    chars.next().map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
}

pub(super) fn print_table<const N: usize>(rows: &[[String; N]]) {
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
