//! Market analysis from the info API's answers: pure functions of typed data, so every number
//! is unit-tested on fixtures in the documented shapes.

use serde::Serialize;

use crate::api::{AssetCtx, AssetMeta, Book, Candle, ClearinghouseState, Funding};

const HOURS_PER_YEAR: f64 = 24.0 * 365.0;
const MS_PER_YEAR: f64 = 365.0 * 24.0 * 3_600_000.0;

/// Rounds for presentation: analysis numbers are for people, 6 significant decimals is plenty.
fn r6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

fn r2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Market {
    pub mark_px: f64,
    pub oracle_px: f64,
    pub prev_day_px: f64,
    pub change_24h_pct: f64,
    pub day_ntl_vlm: f64,
    pub open_interest: f64,
    pub open_interest_usd: f64,
    /// Hourly funding rate (decimal) and the same annualised, in percent.
    pub funding_rate: f64,
    pub funding_apr_pct: f64,
    pub max_leverage: u32,
    pub sz_decimals: u32,
}

pub fn market(meta: &AssetMeta, ctx: &AssetCtx) -> Market {
    let mark = ctx.mark_px.0;
    let prev = ctx.prev_day_px.0;
    Market {
        mark_px: mark,
        oracle_px: ctx.oracle_px.0,
        prev_day_px: prev,
        change_24h_pct: if prev > 0.0 { r2((mark / prev - 1.0) * 100.0) } else { 0.0 },
        day_ntl_vlm: ctx.day_ntl_vlm.0,
        open_interest: ctx.open_interest.0,
        open_interest_usd: r2(ctx.open_interest.0 * mark),
        funding_rate: ctx.funding.0,
        funding_apr_pct: r2(ctx.funding.0 * HOURS_PER_YEAR * 100.0),
        max_leverage: meta.max_leverage,
        sz_decimals: meta.sz_decimals,
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BookStats {
    pub best_bid: f64,
    pub best_ask: f64,
    pub mid: f64,
    pub spread: f64,
    pub spread_bps: f64,
    /// Within `depth_bps` of the mid, in USD (price × size summed).
    pub depth_bps: u32,
    pub bid_depth_usd: f64,
    pub ask_depth_usd: f64,
    /// (bid depth − ask depth) / (bid depth + ask depth), in [-1, 1].
    pub imbalance: f64,
}

/// Why the book cannot be analysed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("the {0} book has no bids or no asks")]
pub struct EmptyBook(pub String);

pub fn book(book: &Book, depth_bps: u32) -> Result<BookStats, EmptyBook> {
    let [bids, asks] = &book.levels;
    let (Some(bid), Some(ask)) = (bids.first(), asks.first()) else {
        return Err(EmptyBook(book.coin.clone()));
    };
    let (best_bid, best_ask) = (bid.px.0, ask.px.0);
    let mid = (best_bid + best_ask) / 2.0;
    let band = mid * f64::from(depth_bps) / 10_000.0;
    let depth = |levels: &[crate::api::Level], inside: &dyn Fn(f64) -> bool| -> f64 {
        levels.iter().filter(|l| inside(l.px.0)).map(|l| l.px.0 * l.sz.0).sum()
    };
    let bid_depth = depth(bids, &|px| px >= mid - band);
    let ask_depth = depth(asks, &|px| px <= mid + band);
    let total = bid_depth + ask_depth;
    Ok(BookStats {
        best_bid,
        best_ask,
        mid: r6(mid),
        spread: r6(best_ask - best_bid),
        spread_bps: r2((best_ask - best_bid) / mid * 10_000.0),
        depth_bps,
        bid_depth_usd: r2(bid_depth),
        ask_depth_usd: r2(ask_depth),
        imbalance: if total > 0.0 { r6((bid_depth - ask_depth) / total) } else { 0.0 },
    })
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FundingStats {
    pub samples: usize,
    pub latest_rate: f64,
    pub average_rate: f64,
    pub average_apr_pct: f64,
    /// Sum of the hourly rates: what a long paid (positive) per unit of notional over the span.
    pub cumulative_pct: f64,
    /// Share of hours in which longs paid shorts.
    pub positive_share: f64,
}

/// `None` when the venue returned no funding in the window.
pub fn funding(history: &[Funding]) -> Option<FundingStats> {
    let latest = history.iter().max_by_key(|f| f.time)?;
    let n = history.len() as f64;
    let sum: f64 = history.iter().map(|f| f.funding_rate.0).sum();
    let average = sum / n;
    Some(FundingStats {
        samples: history.len(),
        latest_rate: latest.funding_rate.0,
        average_rate: (average * 1e10).round() / 1e10,
        average_apr_pct: r2(average * HOURS_PER_YEAR * 100.0),
        cumulative_pct: r6(sum * 100.0),
        positive_share: r6(history.iter().filter(|f| f.funding_rate.0 > 0.0).count() as f64 / n),
    })
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CandleStats {
    pub interval: String,
    pub count: usize,
    pub open: f64,
    pub close: f64,
    pub high: f64,
    pub low: f64,
    pub return_pct: f64,
    /// Sample standard deviation of close-to-close log returns, annualised, in percent.
    pub volatility_pct: f64,
    /// Mean close, and where the last close sits against it.
    pub sma: f64,
    pub trend: Trend,
    pub volume: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Trend {
    Up,
    Down,
    Flat,
}

/// `None` for fewer than two candles (no return to measure). `interval_ms` annualises the
/// volatility.
pub fn candles(interval: &str, interval_ms: u64, candles: &[Candle]) -> Option<CandleStats> {
    let (first, last) = (candles.first()?, candles.last()?);
    if candles.len() < 2 {
        return None;
    }
    let closes: Vec<f64> = candles.iter().map(|c| c.c.0).collect();
    let returns: Vec<f64> = closes.windows(2).map(|w| (w[1] / w[0]).ln()).collect();
    let mean = returns.iter().sum::<f64>() / returns.len() as f64;
    let variance = if returns.len() > 1 {
        returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (returns.len() - 1) as f64
    } else {
        0.0
    };
    let periods_per_year = MS_PER_YEAR / interval_ms as f64;
    let sma = closes.iter().sum::<f64>() / closes.len() as f64;
    let close = last.c.0;
    // Within 0.1% of the average the market is called flat, not trending.
    let trend = if close > sma * 1.001 {
        Trend::Up
    } else if close < sma * 0.999 {
        Trend::Down
    } else {
        Trend::Flat
    };
    Some(CandleStats {
        interval: interval.to_owned(),
        count: candles.len(),
        open: first.o.0,
        close,
        high: candles.iter().map(|c| c.h.0).fold(f64::MIN, f64::max),
        low: candles.iter().map(|c| c.l.0).fold(f64::MAX, f64::min),
        return_pct: r2((close / first.o.0 - 1.0) * 100.0),
        volatility_pct: r2(variance.sqrt() * periods_per_year.sqrt() * 100.0),
        sma: r6(sma),
        trend,
        volume: r6(candles.iter().map(|c| c.v.0).sum()),
    })
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    pub user: String,
    pub account_value: f64,
    pub total_ntl_pos: f64,
    pub margin_used: f64,
    pub withdrawable: f64,
    /// Total notional / account value (0 without equity).
    pub leverage: f64,
    /// The position in the analysed coin, if any.
    pub position: Option<PositionView>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PositionView {
    pub szi: f64,
    pub entry_px: Option<f64>,
    pub position_value: f64,
    pub unrealized_pnl: f64,
    pub liquidation_px: Option<f64>,
    pub leverage: u32,
}

pub fn account(user: &str, coin: &str, state: &ClearinghouseState) -> Account {
    let summary = &state.margin_summary;
    let value = summary.account_value.0;
    let position = state.asset_positions.iter().map(|p| &p.position).find(|p| p.coin == coin).map(|p| PositionView {
        szi: p.szi.0,
        entry_px: p.entry_px.map(|n| n.0),
        position_value: p.position_value.0,
        unrealized_pnl: p.unrealized_pnl.0,
        liquidation_px: p.liquidation_px.map(|n| n.0),
        leverage: p.leverage.value,
    });
    Account {
        user: user.to_owned(),
        account_value: value,
        total_ntl_pos: summary.total_ntl_pos.0,
        margin_used: summary.total_margin_used.0,
        withdrawable: state.withdrawable.0,
        leverage: if value > 0.0 { r6(summary.total_ntl_pos.0 / value) } else { 0.0 },
        position,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> T {
        serde_json::from_value(value).expect("fixture parses")
    }

    #[test]
    fn market_annualises_funding_and_the_day_change() {
        let meta: AssetMeta = parse(json!({"name": "ETH", "szDecimals": 4, "maxLeverage": 25}));
        let ctx: AssetCtx = parse(json!({
            "funding": "0.0000125", "openInterest": "1000.5", "prevDayPx": "3500.0", "dayNtlVlm": "123456.7",
            "premium": "0.0", "oraclePx": "3601.0", "markPx": "3605.0", "midPx": "3604.5",
            "impactPxs": ["3604.0", "3605.0"], "dayBaseVlm": "34.2"
        }));
        let m = market(&meta, &ctx);
        // 3605 / 3500 - 1 = 3.0 %; 0.0000125 × 8760 = 10.95 %; 1000.5 × 3605 = 3,606,802.5.
        assert_eq!(m.change_24h_pct, 3.0);
        assert_eq!(m.funding_apr_pct, 10.95);
        assert_eq!(m.open_interest_usd, 3_606_802.5);
        assert_eq!((m.max_leverage, m.sz_decimals), (25, 4));
    }

    #[test]
    fn book_depth_counts_only_levels_inside_the_band() {
        let b: Book = parse(json!({"coin": "SOL", "time": 1, "levels": [
            [{"px": "99.9", "sz": "10", "n": 1}, {"px": "99.5", "sz": "20", "n": 2}, {"px": "98.0", "sz": "1000", "n": 9}],
            [{"px": "100.1", "sz": "5", "n": 1}, {"px": "100.5", "sz": "10", "n": 1}, {"px": "102.0", "sz": "1000", "n": 9}]
        ]}));
        // mid 100, band ±1 (100 bps): bids 999 + 1990 = 2989; asks 500.5 + 1005 = 1505.5.
        let s = book(&b, 100).unwrap();
        assert_eq!((s.mid, s.spread, s.spread_bps), (100.0, 0.2, 20.0));
        assert_eq!((s.bid_depth_usd, s.ask_depth_usd), (2989.0, 1505.5));
        assert_eq!(s.imbalance, 0.33007); // 1483.5 / 4494.5 = 0.3300701
        let empty: Book = parse(json!({"coin": "SOL", "time": 1, "levels": [[], []]}));
        assert_eq!(book(&empty, 100), Err(EmptyBook("SOL".into())));
    }

    #[test]
    fn funding_averages_and_counts_positive_hours() {
        let h: Vec<Funding> = parse(json!([
            {"coin": "BTC", "fundingRate": "0.00001", "premium": "0", "time": 1},
            {"coin": "BTC", "fundingRate": "-0.00002", "premium": "0", "time": 3},
            {"coin": "BTC", "fundingRate": "0.00004", "premium": "0", "time": 2}
        ]));
        let s = funding(&h).unwrap();
        // Latest by time is the -0.00002 entry; mean 0.00001 → 8.76 % a year; sum 0.003 %.
        assert_eq!(s.latest_rate, -0.00002);
        assert_eq!(s.average_rate, 0.00001);
        assert_eq!(s.average_apr_pct, 8.76);
        assert_eq!(s.cumulative_pct, 0.003);
        assert_eq!(s.positive_share, 0.666667);
        assert_eq!(funding(&[]), None);
    }

    #[test]
    fn candles_measure_return_volatility_and_trend() {
        let c = |t: u64, o: &str, c: &str| json!({"t": t, "T": t + 3_599_999, "s": "BTC", "i": "1h", "o": o, "c": c, "h": "110", "l": "90", "v": "2", "n": 3});
        let list: Vec<Candle> = parse(json!([c(0, "100", "100"), c(1, "100", "110"), c(2, "110", "99")]));
        let s = candles("1h", 3_600_000, &list).unwrap();
        // log returns ln(1.1) = 0.0953102, ln(0.9) = -0.1053605; sample sd 0.1418956;
        // × sqrt(8760) = 13.280701 → 1328.07 % (checked with Python's statistics.stdev).
        assert_eq!(s.return_pct, -1.0);
        assert_eq!(s.volatility_pct, 1328.07);
        assert_eq!(s.sma, 103.0);
        assert_eq!(s.trend, Trend::Down);
        assert_eq!((s.high, s.low, s.volume), (110.0, 90.0, 6.0));
        assert_eq!(candles("1h", 3_600_000, &list[..1]), None);
    }

    #[test]
    fn account_finds_the_coin_position_and_leverage() {
        let state: ClearinghouseState = parse(json!({
            "assetPositions": [{"type": "oneWay", "position": {"coin": "ETH", "szi": "-2.0", "entryPx": "3700.0",
                "positionValue": "7200.0", "unrealizedPnl": "200.0", "liquidationPx": "6000.0",
                "leverage": {"type": "cross", "value": 5}, "marginUsed": "1440.0", "returnOnEquity": "0.1",
                "maxLeverage": 25, "cumFunding": {"allTime": "0", "sinceOpen": "0", "sinceChange": "0"}}}],
            "crossMaintenanceMarginUsed": "144.0",
            "crossMarginSummary": {"accountValue": "4800.0", "totalNtlPos": "7200.0", "totalRawUsd": "12000.0", "totalMarginUsed": "1440.0"},
            "marginSummary": {"accountValue": "4800.0", "totalNtlPos": "7200.0", "totalRawUsd": "12000.0", "totalMarginUsed": "1440.0"},
            "time": 1, "withdrawable": "3360.0"
        }));
        let a = account("0xabc", "ETH", &state);
        assert_eq!(a.leverage, 1.5);
        assert_eq!(a.position.as_ref().map(|p| (p.szi, p.leverage)), Some((-2.0, 5)));
        assert_eq!(account("0xabc", "BTC", &state).position, None);
    }
}
