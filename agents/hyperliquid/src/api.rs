//! Hyperliquid's `POST /info` requests this agent makes and the documented shapes of their
//! answers (docs "Info endpoint" → "Perpetuals"), typed. Numbers arrive as decimal strings;
//! they are parsed once here, so the analysis works on `f64`s and a malformed answer fails
//! with the field that is wrong instead of a silent zero.

use agent_io::http::{Egress, HttpError};
use hyperliquid_wire::Network;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// Why talking to the info API failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{request}: {source}")]
    Http {
        request: &'static str,
        #[source]
        source: HttpError,
    },
    #[error("{request}: unexpected answer: {reason}")]
    Shape { request: &'static str, reason: String },
}

/// A decimal string of the API as a number.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Num(pub f64);

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .map(Num)
            .ok_or_else(|| serde::de::Error::custom(format!("{text:?} is not a decimal number")))
    }
}

/// One perpetual of `meta.universe`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssetMeta {
    pub name: String,
    pub sz_decimals: u32,
    pub max_leverage: u32,
    #[serde(default)]
    pub is_delisted: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Meta {
    pub universe: Vec<AssetMeta>,
}

/// One entry of `metaAndAssetCtxs[1]`, index-aligned with the universe.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssetCtx {
    pub funding: Num,
    pub open_interest: Num,
    pub prev_day_px: Num,
    pub day_ntl_vlm: Num,
    pub oracle_px: Num,
    pub mark_px: Num,
    /// Null when the book is empty on one side.
    pub mid_px: Option<Num>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Level {
    pub px: Num,
    pub sz: Num,
    pub n: u64,
}

/// `l2Book`: `levels[0]` bids (best first), `levels[1]` asks; `time` is the venue's clock.
#[derive(Debug, Clone, Deserialize)]
pub struct Book {
    pub coin: String,
    pub time: u64,
    pub levels: [Vec<Level>; 2],
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Funding {
    pub funding_rate: Num,
    pub time: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Candle {
    /// Open time (ms).
    pub t: u64,
    pub o: Num,
    pub h: Num,
    pub l: Num,
    pub c: Num,
    pub v: Num,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MarginSummary {
    pub account_value: Num,
    pub total_ntl_pos: Num,
    pub total_margin_used: Num,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PositionLeverage {
    #[serde(rename = "type")]
    pub kind: String,
    pub value: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Position {
    pub coin: String,
    /// Signed size: positive long, negative short.
    pub szi: Num,
    pub entry_px: Option<Num>,
    pub position_value: Num,
    pub unrealized_pnl: Num,
    pub liquidation_px: Option<Num>,
    pub leverage: PositionLeverage,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AssetPosition {
    pub position: Position,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClearinghouseState {
    pub asset_positions: Vec<AssetPosition>,
    pub margin_summary: MarginSummary,
    pub withdrawable: Num,
}

/// The info API of one network, through the egress proxy.
pub struct Info<'a> {
    net: &'a Egress,
    url: String,
}

impl<'a> Info<'a> {
    pub fn new(net: &'a Egress, network: Network) -> Self {
        Self { net, url: format!("{}/info", network.api_origin()) }
    }

    fn post<T: DeserializeOwned>(&self, request: &'static str, body: &Value) -> Result<T, ApiError> {
        let http = |source| ApiError::Http { request, source };
        let response = self.net.post_json(&self.url, body).map_err(http)?.error_for_status().map_err(http)?;
        response.json::<T>().map_err(|e| ApiError::Shape { request, reason: e.to_string() })
    }

    pub fn meta_and_asset_ctxs(&self) -> Result<(Meta, Vec<AssetCtx>), ApiError> {
        self.post("metaAndAssetCtxs", &json!({"type": "metaAndAssetCtxs"}))
    }

    /// `None` for a coin the venue does not list (it answers `null`).
    pub fn l2_book(&self, coin: &str) -> Result<Option<Book>, ApiError> {
        self.post("l2Book", &json!({"type": "l2Book", "coin": coin}))
    }

    pub fn funding_history(&self, coin: &str, start_ms: u64, end_ms: u64) -> Result<Vec<Funding>, ApiError> {
        self.post(
            "fundingHistory",
            &json!({"type": "fundingHistory", "coin": coin, "startTime": start_ms, "endTime": end_ms}),
        )
    }

    pub fn candles(&self, coin: &str, interval: &str, start_ms: u64, end_ms: u64) -> Result<Vec<Candle>, ApiError> {
        self.post(
            "candleSnapshot",
            &json!({"type": "candleSnapshot", "req": {"coin": coin, "interval": interval, "startTime": start_ms, "endTime": end_ms}}),
        )
    }

    pub fn clearinghouse_state(&self, user: &str) -> Result<ClearinghouseState, ApiError> {
        self.post("clearinghouseState", &json!({"type": "clearinghouseState", "user": user}))
    }
}
