//! Generated market data of the sandbox's Hyperliquid perpetuals: mids, books, candles and
//! funding, each a pure function of the seed, the coin and a time (see `rng`).
//!
//! The coin list is a fixture of this crate (names and size decimals chosen to exercise the
//! price rules: 5 significant figures and at most `6 - szDecimals` decimals, as Hyperliquid's
//! docs on tick and lot size state). Prices are invented around round base values.

use crate::rng;

/// One perpetual of the sandbox universe.
#[derive(Debug, Clone, Copy)]
pub struct Coin {
    pub name: &'static str,
    pub sz_decimals: u32,
    pub max_leverage: u32,
    base_px: f64,
}

/// The universe, in asset-index order (`a` in an order wire is an index into it).
pub const COINS: [Coin; 5] = [
    Coin { name: "BTC", sz_decimals: 5, max_leverage: 40, base_px: 97_000.0 },
    Coin { name: "ETH", sz_decimals: 4, max_leverage: 25, base_px: 3_600.0 },
    Coin { name: "SOL", sz_decimals: 2, max_leverage: 20, base_px: 210.0 },
    Coin { name: "HYPE", sz_decimals: 2, max_leverage: 10, base_px: 28.0 },
    Coin { name: "DOGE", sz_decimals: 0, max_leverage: 10, base_px: 0.38 },
];

/// The coin with this name and its asset index.
pub fn coin(name: &str) -> Option<(usize, Coin)> {
    COINS.iter().copied().enumerate().find(|(_, c)| c.name == name)
}

pub use hyperliquid_wire::CANDLE_INTERVALS as INTERVALS;

/// Hyperliquid returns at most this many candles per snapshot (the most recent ones).
pub const MAX_CANDLES: usize = 5000;
/// Funding entries per `fundingHistory` answer, as Hyperliquid paginates.
pub const MAX_FUNDING: usize = 500;
const HOUR_MS: u64 = 3_600_000;

// The venue's number rules live with the wire format, shared with the agent.
pub use hyperliquid_wire::{fmt_number as fmt, round_px};

/// Mid price of a coin at the sandbox's "now".
pub fn mid(seed: u64, coin: Coin) -> f64 {
    round_px(coin.base_px * (1.0 + 0.05 * rng::signed(seed, coin.name, &[0])), coin.sz_decimals)
}

/// Smallest price step at this price (5 significant figures).
fn tick(px: f64, sz_decimals: u32) -> f64 {
    let magnitude = px.log10().floor() as i32;
    10f64.powi(magnitude - 4).max(10f64.powi(-(6 - sz_decimals as i32)))
}

/// One price level of a book.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Level {
    pub px: String,
    pub sz: String,
    pub n: u64,
}

/// The 20 best levels on each side, optionally aggregated to `n_sig_figs` significant figures
/// (bids rounded down, asks up, as an aggregated book groups prices away from the mid).
pub fn book(seed: u64, coin: Coin, n_sig_figs: Option<u32>) -> [Vec<Level>; 2] {
    let mid = mid(seed, coin);
    let step = tick(mid, coin.sz_decimals);
    let lot = 10f64.powi(-(coin.sz_decimals as i32));
    let side = |sign: f64, label: &str| {
        let mut raw = Vec::new();
        let mut px = mid;
        for i in 0..60u64 {
            let gap = 1 + rng::word(seed, label, &[i]) % 3;
            px += sign * step * gap as f64;
            let notional = 2_000.0 + 40_000.0 * rng::unit(seed, label, &[i, 1]);
            let sz = ((notional / px) / lot).round().max(1.0) * lot;
            raw.push((px, sz, 1 + rng::word(seed, label, &[i, 2]) % 4));
        }
        let mut levels: Vec<(f64, f64, u64)> = Vec::new();
        for (px, sz, n) in raw {
            let px = match n_sig_figs {
                Some(figs) => {
                    let scale = 10f64.powi(figs as i32 - 1 - px.log10().floor() as i32);
                    if sign < 0.0 { (px * scale).floor() / scale } else { (px * scale).ceil() / scale }
                }
                None => px,
            };
            match levels.last_mut() {
                Some(last) if (last.0 - px).abs() < step / 2.0 => {
                    last.1 += sz;
                    last.2 += n;
                }
                _ => levels.push((px, sz, n)),
            }
        }
        levels
            .into_iter()
            .take(20)
            .map(|(px, sz, n)| Level { px: fmt(round_px(px, coin.sz_decimals)), sz: fmt((sz / lot).round() * lot), n })
            .collect::<Vec<_>>()
    };
    [side(-1.0, &format!("{}-bid", coin.name)), side(1.0, &format!("{}-ask", coin.name))]
}

/// One candle as `candleSnapshot` returns it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Candle {
    pub t: u64,
    #[serde(rename = "T")]
    pub close_time: u64,
    pub s: &'static str,
    pub i: String,
    pub o: String,
    pub c: String,
    pub h: String,
    pub l: String,
    pub v: String,
    pub n: u64,
}

/// Close of candle number `k` (open time `k * interval`): a bounded wander around the mid.
fn close(seed: u64, coin: Coin, interval: &str, k: u64) -> f64 {
    let label = format!("{}-{interval}", coin.name);
    let drift = 0.03 * (k as f64 / 37.0).sin();
    mid(seed, coin) * (1.0 + drift + 0.01 * rng::signed(seed, &label, &[k]))
}

/// Candles whose open time lies in `[start, end]` and not after `now`, the newest
/// [`MAX_CANDLES`] of them.
pub fn candles(seed: u64, coin: Coin, interval: (&str, u64), start: u64, end: u64, now: u64) -> Vec<Candle> {
    let (name, len) = interval;
    let first = start.div_ceil(len);
    let last = end.min(now) / len;
    if end < start || last < first {
        return Vec::new();
    }
    let first = first.max((last + 1).saturating_sub(MAX_CANDLES as u64));
    let label = format!("{}-{name}-hl", coin.name);
    (first..=last)
        .map(|k| {
            let o = close(seed, coin, name, k.saturating_sub(1));
            let c = close(seed, coin, name, k);
            let h = o.max(c) * (1.0 + 0.004 * rng::unit(seed, &label, &[k, 0]));
            let l = o.min(c) * (1.0 - 0.004 * rng::unit(seed, &label, &[k, 1]));
            let px = |x: f64| fmt(round_px(x, coin.sz_decimals));
            let volume = 50_000_000.0 * rng::unit(seed, &label, &[k, 2]) / c;
            let lot = 10f64.powi(coin.sz_decimals as i32);
            Candle {
                t: k * len,
                close_time: k * len + len - 1,
                s: coin.name,
                i: name.to_owned(),
                o: px(o),
                c: px(c),
                h: px(h),
                l: px(l),
                v: fmt((volume * lot).round() / lot),
                n: 100 + rng::word(seed, &label, &[k, 3]) % 5000,
            }
        })
        .collect()
}

/// Funding rate applied at hour `h` (Hyperliquid pays funding hourly).
pub fn funding_rate(seed: u64, coin: Coin, hour: u64) -> f64 {
    // 0.00125% per hour is Hyperliquid's interest component; the premium wanders around it.
    0.000_012_5 + 0.000_02 * rng::signed(seed, &format!("{}-funding", coin.name), &[hour])
}

/// One entry of `fundingHistory`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Funding {
    pub coin: &'static str,
    #[serde(rename = "fundingRate")]
    pub funding_rate: String,
    pub premium: String,
    pub time: u64,
}

/// Hourly funding entries in `[start, end]` (end defaults to now), oldest first, at most
/// [`MAX_FUNDING`].
pub fn funding_history(seed: u64, coin: Coin, start: u64, end: Option<u64>, now: u64) -> Vec<Funding> {
    let end = end.unwrap_or(now).min(now);
    let first = start.div_ceil(HOUR_MS);
    let last = end / HOUR_MS;
    (first..=last)
        .take(MAX_FUNDING)
        .map(|h| {
            let rate = funding_rate(seed, coin, h);
            Funding { coin: coin.name, funding_rate: fmt(rate), premium: fmt(rate - 0.000_012_5), time: h * HOUR_MS }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_follow_hyperliquid_rounding() {
        assert_eq!(fmt(round_px(97_123.456, 5)), "97123");
        assert_eq!(fmt(round_px(3_600.123, 4)), "3600.1");
        assert_eq!(fmt(round_px(0.381_234_5, 0)), "0.38123");
        assert_eq!(fmt(round_px(1.234_567_8, 5)), "1.2");
    }

    #[test]
    fn a_candle_is_the_same_whatever_window_asks_for_it() {
        let (_, eth) = coin("ETH").unwrap();
        let now = 100 * 3_600_000;
        let wide = candles(1, eth, ("1h", 3_600_000), 0, now, now);
        let narrow = candles(1, eth, ("1h", 3_600_000), 50 * 3_600_000, 60 * 3_600_000, now);
        assert_eq!(wide.len(), 101);
        assert_eq!(narrow.len(), 11);
        assert_eq!(wide[50].c, narrow[0].c);
        // Each candle opens at the previous close.
        assert_eq!(wide[51].o, wide[50].c);
    }

    #[test]
    fn aggregated_book_levels_have_the_requested_precision_and_stay_sorted() {
        let (_, btc) = coin("BTC").unwrap();
        let [bids, asks] = book(3, btc, Some(3));
        let m = mid(3, btc);
        assert!(!bids.is_empty() && !asks.is_empty());
        for level in &bids {
            let px: f64 = level.px.parse().unwrap();
            assert!(px < m);
            assert_eq!(px % 100.0, 0.0, "{px} has more than 3 significant figures");
        }
        let pxs: Vec<f64> = asks.iter().map(|l| l.px.parse().unwrap()).collect();
        assert!(pxs.windows(2).all(|w| w[0] < w[1]));
    }
}
