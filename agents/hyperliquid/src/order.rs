//! Order proposals: the agent's risk checks, then the `order` L1 action the user's wallet signs.
//!
//! The checks run on the venue's own numbers (the book's mid, the user's clearinghouse state)
//! and every one is reported with its value and limit, so a wallet can show why an order was
//! proposed; any failing check refuses the proposal. The leverage checked is the account's
//! effective leverage after the order (total notional / account value), which is what
//! liquidation depends on; the per-position leverage setting is the venue's `updateLeverage`
//! action, not part of an order.

use hyperliquid_wire::{NumberError, OrderAction, OrderWire, float_to_wire, round_px, round_size_down};
use serde::{Deserialize, Serialize};

use crate::analysis::Account;

/// Hyperliquid refuses orders under $10 of notional ("Order must have minimum value of $10").
pub const MIN_NOTIONAL_USD: f64 = 10.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Buy,
    Sell,
}

/// Time in force of a limit order (the venue's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Tif {
    Gtc,
    Ioc,
    Alo,
}

impl Tif {
    fn wire(self) -> &'static str {
        match self {
            Tif::Gtc => "Gtc",
            Tif::Ioc => "Ioc",
            Tif::Alo => "Alo",
        }
    }
}

/// What the user asks for (validated by [`crate::Input::validate`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrderRequest {
    pub side: Side,
    /// Size in coins, or...
    pub size: Option<f64>,
    /// ...notional in USD at the order's price.
    pub notional_usd: Option<f64>,
    /// Limit price; without it a marketable IOC order at the mid ± `slippageBps`.
    pub price: Option<f64>,
    #[serde(default = "default_tif")]
    pub tif: Tif,
    #[serde(default = "default_slippage")]
    pub slippage_bps: u32,
    #[serde(default)]
    pub reduce_only: bool,
    /// The action's nonce (ms); default the venue's book time.
    pub nonce: Option<u64>,
}

fn default_tif() -> Tif {
    Tif::Gtc
}

fn default_slippage() -> u32 {
    50
}

/// The user's limits; defaults are conservative.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RiskLimits {
    /// Cap on the account's leverage after the order (also capped by the coin's max).
    #[serde(default = "default_max_leverage")]
    pub max_leverage: f64,
    /// Cap on this order's notional, in percent of account value.
    #[serde(default = "default_max_order_percent")]
    pub max_order_percent: f64,
    /// Cap on the limit price's distance from the mid, in basis points.
    #[serde(default = "default_max_deviation")]
    pub max_price_deviation_bps: u32,
}

impl Default for RiskLimits {
    fn default() -> Self {
        Self {
            max_leverage: default_max_leverage(),
            max_order_percent: default_max_order_percent(),
            max_price_deviation_bps: default_max_deviation(),
        }
    }
}

fn default_max_leverage() -> f64 {
    3.0
}

fn default_max_order_percent() -> f64 {
    100.0
}

fn default_max_deviation() -> u32 {
    200
}

/// One risk check as reported: its measured value against its limit.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub value: f64,
    pub limit: f64,
    pub detail: String,
}

/// The order as it will be signed, with its checks.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedOrder {
    pub side: Side,
    pub size: String,
    pub price: String,
    pub tif: Tif,
    pub reduce_only: bool,
    pub market: bool,
    pub notional_usd: f64,
    pub mid: f64,
    pub leverage_after: f64,
    pub checks: Vec<Check>,
}

/// Why no proposal is made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OrderError {
    #[error("size {size} rounds to 0 at {sz_decimals} size decimals")]
    ZeroSize { size: f64, sz_decimals: u32 },
    #[error("number not representable on the wire: {0}")]
    Number(#[from] NumberError),
    #[error("order refused by risk checks: {}", .0.join("; "))]
    Refused(Vec<String>),
}

/// What the venue says about the coin.
#[derive(Debug, Clone, Copy)]
pub struct CoinInfo {
    pub asset: u32,
    pub sz_decimals: u32,
    pub max_leverage: u32,
    pub mid: f64,
}

fn r6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// Rounds the request to the venue's tick and lot, runs the risk checks and returns the order
/// and its action, or the failed checks.
pub fn plan(
    request: &OrderRequest,
    risk: &RiskLimits,
    coin: CoinInfo,
    account: &Account,
) -> Result<(PlannedOrder, OrderAction), OrderError> {
    let sign = match request.side {
        Side::Buy => 1.0,
        Side::Sell => -1.0,
    };
    let (raw_px, tif, market) = match request.price {
        Some(px) => (px, request.tif, false),
        // A market order is an aggressive IOC limit, as the SDKs' market_open builds it.
        None => (coin.mid * (1.0 + sign * f64::from(request.slippage_bps) / 10_000.0), Tif::Ioc, true),
    };
    let px = round_px(raw_px, coin.sz_decimals);
    let raw_size = match (request.size, request.notional_usd) {
        (Some(size), _) => size,
        (None, Some(notional)) => notional / px,
        (None, None) => 0.0,
    };
    let size = round_size_down(raw_size, coin.sz_decimals);
    if size <= 0.0 {
        return Err(OrderError::ZeroSize { size: raw_size, sz_decimals: coin.sz_decimals });
    }
    let notional = size * px;
    let equity = account.account_value;
    let (held, held_value) = account.position.as_ref().map_or((0.0, 0.0), |p| (p.szi, p.position_value));
    let after = held + sign * size;
    // Other positions keep their notional; this coin's is re-valued at the order price.
    let total_after = (account.total_ntl_pos - held_value).max(0.0) + after.abs() * px;
    let leverage_after = if equity > 0.0 { total_after / equity } else { f64::INFINITY };
    let leverage_cap = risk.max_leverage.min(f64::from(coin.max_leverage));
    let deviation_bps = (px - coin.mid).abs() / coin.mid * 10_000.0;
    let order_percent = if equity > 0.0 { notional / equity * 100.0 } else { f64::INFINITY };

    let mut checks = vec![
        Check {
            name: "priceBand",
            ok: deviation_bps <= f64::from(risk.max_price_deviation_bps),
            value: r6(deviation_bps),
            limit: f64::from(risk.max_price_deviation_bps),
            detail: format!("price {px} is {deviation_bps:.1} bps from the mid {}", coin.mid),
        },
        Check {
            name: "minNotional",
            ok: notional >= MIN_NOTIONAL_USD,
            value: r6(notional),
            limit: MIN_NOTIONAL_USD,
            detail: format!("notional {notional:.2} USD (the venue's minimum is {MIN_NOTIONAL_USD} USD)"),
        },
        Check {
            name: "orderSize",
            ok: order_percent <= risk.max_order_percent,
            value: r6(order_percent.min(f64::MAX)),
            limit: risk.max_order_percent,
            detail: format!("notional {notional:.2} USD is {order_percent:.2}% of account value {equity:.2} USD"),
        },
        Check {
            name: "leverage",
            ok: leverage_after <= leverage_cap,
            value: r6(leverage_after.min(f64::MAX)),
            limit: leverage_cap,
            detail: format!(
                "account leverage after the order {leverage_after:.2}x, cap {leverage_cap}x (coin max {}x)",
                coin.max_leverage
            ),
        },
    ];
    if request.reduce_only {
        let reduces = held != 0.0 && held.signum() == -sign && size <= held.abs() + 1e-12;
        checks.push(Check {
            name: "reduceOnly",
            ok: reduces,
            value: held,
            limit: size,
            detail: format!("position {held} can be reduced by {size}: {reduces}"),
        });
    }
    let failed: Vec<String> = checks.iter().filter(|c| !c.ok).map(|c| format!("{}: {}", c.name, c.detail)).collect();
    if !failed.is_empty() {
        return Err(OrderError::Refused(failed));
    }

    let (price, size_text) = (float_to_wire(px)?, float_to_wire(size)?);
    let wire = OrderWire::limit(
        coin.asset,
        request.side == Side::Buy,
        price.clone(),
        size_text.clone(),
        request.reduce_only,
        tif.wire(),
    );
    let action = OrderAction::single(wire);
    let planned = PlannedOrder {
        side: request.side,
        size: size_text,
        price,
        tif,
        reduce_only: request.reduce_only,
        market,
        notional_usd: r6(notional),
        mid: coin.mid,
        leverage_after: r6(leverage_after),
        checks,
    };
    Ok((planned, action))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::PositionView;

    const ETH: CoinInfo = CoinInfo { asset: 1, sz_decimals: 4, max_leverage: 25, mid: 3600.0 };

    fn account(value: f64, ntl: f64, szi: f64) -> Account {
        Account {
            user: "0xabc".into(),
            account_value: value,
            total_ntl_pos: ntl,
            margin_used: 0.0,
            withdrawable: value,
            leverage: 0.0,
            position: (szi != 0.0).then_some(PositionView {
                szi,
                entry_px: Some(3500.0),
                position_value: szi.abs() * 3600.0,
                unrealized_pnl: 0.0,
                liquidation_px: None,
                leverage: 3,
            }),
        }
    }

    fn request(side: Side, size: Option<f64>, notional: Option<f64>, price: Option<f64>) -> OrderRequest {
        OrderRequest {
            side,
            size,
            notional_usd: notional,
            price,
            tif: Tif::Gtc,
            slippage_bps: 50,
            reduce_only: false,
            nonce: None,
        }
    }

    #[test]
    fn a_limit_order_is_rounded_to_tick_and_lot_and_checked() {
        // 3590.456 → 5 significant figures 3590.5; 0.123456 ETH → 0.1234 (lot 0.0001, down).
        let (planned, action) = plan(
            &request(Side::Buy, Some(0.123456), None, Some(3590.456)),
            &RiskLimits::default(),
            ETH,
            &account(1000.0, 0.0, 0.0),
        )
        .unwrap();
        assert_eq!((planned.price.as_str(), planned.size.as_str()), ("3590.5", "0.1234"));
        // 0.1234 × 3590.5 = 443.0677 USD: 44.31 % of 1000, leverage 0.443.
        assert_eq!(planned.notional_usd, 443.0677);
        assert_eq!(planned.leverage_after, 0.443068);
        assert!(planned.checks.iter().all(|c| c.ok));
        let wire = &action.orders[0];
        assert_eq!((wire.a, wire.b, wire.r, wire.p.as_str(), wire.s.as_str()), (1, true, false, "3590.5", "0.1234"));
        assert_eq!(wire.t.limit.as_ref().map(|l| l.tif.as_str()), Some("Gtc"));
    }

    #[test]
    fn a_market_order_is_an_ioc_at_the_mid_plus_slippage() {
        // Sell: 3600 × (1 − 0.005) = 3582; 500 USD / 3582 = 0.13958... → 0.1395.
        let (planned, action) = plan(
            &request(Side::Sell, None, Some(500.0), None),
            &RiskLimits::default(),
            ETH,
            &account(1000.0, 0.0, 0.0),
        )
        .unwrap();
        assert_eq!(
            (planned.price.as_str(), planned.size.as_str(), planned.tif, planned.market),
            ("3582", "0.1395", Tif::Ioc, true)
        );
        assert_eq!(action.orders[0].t.limit.as_ref().map(|l| l.tif.as_str()), Some("Ioc"));
        assert!(!action.orders[0].b);
    }

    #[test]
    fn each_risk_check_can_refuse() {
        let limits = RiskLimits { max_leverage: 2.0, max_order_percent: 50.0, max_price_deviation_bps: 100 };
        let refused = |r: OrderRequest, a: Account| match plan(&r, &limits, ETH, &a) {
            Err(OrderError::Refused(failed)) => {
                failed.iter().map(|f| f.split(':').next().unwrap_or("").to_owned()).collect::<Vec<_>>()
            }
            other => panic!("expected a refusal, got {other:?}"),
        };
        // 3700 is 277.8 bps from 3600.
        assert_eq!(
            refused(request(Side::Buy, Some(0.01), None, Some(3700.0)), account(1000.0, 0.0, 0.0)),
            ["priceBand"]
        );
        // 0.002 × 3600 = 7.2 USD.
        assert_eq!(
            refused(request(Side::Buy, Some(0.002), None, Some(3600.0)), account(1000.0, 0.0, 0.0)),
            ["minNotional"]
        );
        // 600 USD is 60 % of 1000.
        assert_eq!(
            refused(request(Side::Buy, None, Some(600.0), Some(3600.0)), account(1000.0, 0.0, 0.0)),
            ["orderSize"]
        );
        // Already long 0.5 ETH (1800 USD) on 1000: adding 0.1 → 2160 / 1000 = 2.16x > 2x.
        assert_eq!(
            refused(request(Side::Buy, Some(0.1), None, Some(3600.0)), account(1000.0, 1800.0, 0.5)),
            ["leverage"]
        );
        // No equity: every sizing check fails rather than dividing by zero.
        assert_eq!(
            refused(request(Side::Buy, Some(0.01), None, Some(3600.0)), account(0.0, 0.0, 0.0)),
            ["orderSize", "leverage"]
        );
        // Reduce-only needs an opposite position at least as large.
        let mut reduce = request(Side::Buy, Some(0.01), None, Some(3600.0));
        reduce.reduce_only = true;
        assert_eq!(refused(reduce.clone(), account(1000.0, 0.0, 0.0)), ["reduceOnly"]);
        // Short 0.5 ETH: buying 0.01 reduces it.
        assert!(plan(&reduce, &limits, ETH, &account(1000.0, 1800.0, -0.5)).is_ok());
    }

    #[test]
    fn the_coin_max_leverage_caps_the_users_cap() {
        let doge = CoinInfo { asset: 4, sz_decimals: 0, max_leverage: 3, mid: 0.38 };
        let limits = RiskLimits { max_leverage: 10.0, max_order_percent: 1000.0, max_price_deviation_bps: 100 };
        // 10,000 DOGE × 0.38 = 3,800 USD on 1,000: 3.8x > min(10, 3).
        let result =
            plan(&request(Side::Buy, Some(10_000.0), None, Some(0.38)), &limits, doge, &account(1000.0, 0.0, 0.0));
        assert!(
            matches!(result, Err(OrderError::Refused(ref f)) if f.len() == 1 && f[0].contains("cap 3x")),
            "{result:?}"
        );
        let tiny = plan(&request(Side::Buy, Some(0.4), None, Some(0.38)), &limits, doge, &account(1000.0, 0.0, 0.0));
        assert_eq!(tiny, Err(OrderError::ZeroSize { size: 0.4, sz_decimals: 0 }));
    }
}
