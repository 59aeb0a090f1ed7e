//! The proposal this agent outputs: `nexus-proposals`' `typedData` kind, the shape the relayer
//! checks, the GraphQL API exposes and `nexus apply` signs and posts.

use hyperliquid_wire::{Network, OrderAction};
use nexus_proposals::Proposal;
use serde_json::{Value, json};

use crate::order::{PlannedOrder, Side, Tif};

/// The signed-action proposal of one order: the wallet signs `typed_data` and posts
/// `{action, nonce, signature}` to the network's `/exchange`.
pub fn order(
    planned: &PlannedOrder,
    coin: &str,
    network: Network,
    action: &OrderAction,
    nonce: u64,
    typed_data: Value,
) -> Proposal {
    let side = match planned.side {
        Side::Buy => "Buy",
        Side::Sell => "Sell",
    };
    let kind = match (planned.market, planned.tif) {
        (true, _) => "market, IOC",
        (false, Tif::Gtc) => "limit, GTC",
        (false, Tif::Ioc) => "limit, IOC",
        (false, Tif::Alo) => "limit, post-only",
    };
    let reduce = if planned.reduce_only { ", reduce-only" } else { "" };
    let network_name = match network {
        Network::Mainnet => "mainnet",
        Network::Testnet => "testnet",
    };
    Proposal::TypedData {
        summary: format!(
            "{side} {} {coin} at {} ({kind}{reduce}) on Hyperliquid {network_name}: {:.2} USDC notional, account leverage after {:.2}x",
            planned.size, planned.price, planned.notional_usd, planned.leverage_after
        ),
        typed_data,
        submit_to: format!("{}/exchange", network.api_origin()),
        submit_body: json!({"action": action, "nonce": nonce}),
    }
}
