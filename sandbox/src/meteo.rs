//! Open-Meteo's forecast API: `GET /v1/forecast`.
//!
//! Mirrors open-meteo.com/en/docs: parameters `latitude`, `longitude`, `hourly` (comma-separated
//! variables), `timezone`, `forecast_days` (0–16, default 7); the answer's `latitude`,
//! `longitude`, `generationtime_ms`, `utc_offset_seconds`, `timezone`,
//! `timezone_abbreviation`, `elevation`, `hourly_units` and `hourly` (`time` as local
//! `YYYY-MM-DDTHH:MM` plus one array per variable, index-aligned); errors are HTTP 400 with
//! `{"error": true, "reason": …}` and the whole request fails on one unknown variable.
//!
//! Simplified: one location per request; coordinates snap to a 0.05° grid (Open-Meteo snaps to
//! its model grid); variables are `temperature_2m`, `relative_humidity_2m`, `precipitation`,
//! `wind_speed_10m`, `wind_gusts_10m` in default units; timezones are `GMT`/`UTC`, `auto`
//! (the longitude's nominal offset) and a few IANA names at their standard offset without
//! daylight saving ([`TIMEZONES`]); values are generated (seed, grid cell, hour), with a diurnal
//! temperature cycle and occasional rain and wind bursts so alert thresholds get crossed.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::DateTime;
use serde_json::{Map, Value, json};

use crate::{SandboxConfig, rng};

/// Variables served and their units.
pub const VARIABLES: [(&str, &str); 5] = [
    ("temperature_2m", "°C"),
    ("relative_humidity_2m", "%"),
    ("precipitation", "mm"),
    ("wind_speed_10m", "km/h"),
    ("wind_gusts_10m", "km/h"),
];

/// IANA names the sandbox knows, with their standard UTC offset in seconds and abbreviation.
pub const TIMEZONES: [(&str, i64, &str); 6] = [
    ("Europe/London", 0, "GMT"),
    ("Europe/Berlin", 3600, "CET"),
    ("America/New_York", -18_000, "EST"),
    ("America/Los_Angeles", -28_800, "PST"),
    ("Asia/Tokyo", 32_400, "JST"),
    ("Australia/Sydney", 36_000, "AEST"),
];

pub(crate) fn router(config: Arc<SandboxConfig>) -> Router {
    Router::new().route("/v1/forecast", get(forecast)).with_state(config)
}

fn bad_request(reason: impl Into<String>) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": true, "reason": reason.into()}))).into_response()
}

/// A coordinate parameter, or the reason Open-Meteo gives for it.
fn coordinate(params: &HashMap<String, String>, key: &str, bound: f64, name: &str) -> Result<f64, String> {
    let raw = params.get(key).filter(|v| !v.is_empty());
    let Some(raw) = raw else {
        return Err("Parameter 'latitude' and 'longitude' must have the same number of elements".to_owned());
    };
    let value: f64 = raw.parse().map_err(|_| format!("Value of type 'Float' required for key '{key}'."))?;
    if !(-bound..=bound).contains(&value) {
        return Err(format!("{name} must be in range of -{bound} to {bound}°. Given: {value:?}."));
    }
    Ok(value)
}

/// `(utc_offset_seconds, echoed name, abbreviation)` of the `timezone` parameter.
fn timezone(name: &str, longitude: f64) -> Option<(i64, String, String)> {
    match name {
        "GMT" | "UTC" => Some((0, "GMT".to_owned(), "GMT".to_owned())),
        "auto" => {
            let hours = (longitude / 15.0).round() as i64;
            let abbreviation = if hours == 0 { "GMT".to_owned() } else { format!("GMT{hours:+}") };
            Some((hours * 3600, abbreviation.clone(), abbreviation))
        }
        _ => TIMEZONES
            .iter()
            .find(|(tz, _, _)| *tz == name)
            .map(|(tz, offset, abbreviation)| (*offset, (*tz).to_owned(), (*abbreviation).to_owned())),
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// The value of `variable` at UTC hour `hour` in grid cell `cell` (local hour for the cycle).
fn value(seed: u64, variable: &str, latitude: f64, cell: [u64; 2], hour: u64, local_hour: i64) -> Value {
    let noise = |label: &str| rng::unit(seed, label, &[cell[0], cell[1], hour]);
    // Rain and wind come in multi-hour spells: a spell is drawn per 6-hour block.
    let spell = rng::unit(seed, "spell", &[cell[0], cell[1], hour / 6]);
    let wind = 6.0 + 18.0 * noise("wind") + if spell > 0.8 { 45.0 * (spell - 0.8) * 5.0 } else { 0.0 };
    let number = match variable {
        "temperature_2m" => {
            let cycle = (2.0 * std::f64::consts::PI * (local_hour as f64 - 9.0) / 24.0).sin();
            round1(27.0 - 0.45 * latitude.abs() + 5.0 * cycle + 2.0 * (noise("temp") - 0.5))
        }
        "relative_humidity_2m" => (45.0 + 50.0 * noise("humidity")).round(),
        "precipitation" => {
            if spell > 0.7 {
                round1(12.0 * (spell - 0.7) * noise("rain") * 3.0)
            } else {
                0.0
            }
        }
        "wind_speed_10m" => round1(wind),
        _ => round1(wind * (1.4 + 0.4 * noise("gust"))),
    };
    json!(number)
}

async fn forecast(State(config): State<Arc<SandboxConfig>>, Query(params): Query<HashMap<String, String>>) -> Response {
    match answer(&config, &params) {
        Ok(body) => Json(body).into_response(),
        Err(reason) => bad_request(reason),
    }
}

/// The forecast document, or the reason Open-Meteo would refuse the request.
fn answer(config: &SandboxConfig, params: &HashMap<String, String>) -> Result<Value, String> {
    let latitude = coordinate(params, "latitude", 90.0, "Latitude")?;
    let longitude = coordinate(params, "longitude", 180.0, "Longitude")?;
    let days: u64 = match params.get("forecast_days").map(|d| d.parse::<u64>()) {
        None => 7,
        Some(Ok(days)) if days <= 16 => days,
        Some(_) => return Err("Parameter 'forecast_days' is out of allowed range from 0 to 16".to_owned()),
    };
    let tz_name = params.get("timezone").map_or("GMT", String::as_str);
    let (offset, tz_echo, abbreviation) = timezone(tz_name, longitude).ok_or("Invalid timezone")?;
    let mut variables = Vec::new();
    for name in params.get("hourly").map(|h| h.split(',')).into_iter().flatten() {
        match VARIABLES.iter().find(|(v, _)| *v == name) {
            Some(variable) => variables.push(*variable),
            None => {
                return Err(format!(
                    "Cannot initialize ForecastVariable from invalid String value {name} for key hourly"
                ));
            }
        }
    }
    let snap = |x: f64| (x * 20.0).round() / 20.0;
    let (latitude, longitude) = (snap(latitude), snap(longitude));
    let cell = [((latitude + 90.0) * 20.0) as u64, ((longitude + 180.0) * 20.0) as u64];
    let mut body = Map::new();
    body.insert("latitude".into(), json!(latitude));
    body.insert("longitude".into(), json!(longitude));
    body.insert("generationtime_ms".into(), json!(0.1));
    body.insert("utc_offset_seconds".into(), json!(offset));
    body.insert("timezone".into(), json!(tz_echo));
    body.insert("timezone_abbreviation".into(), json!(abbreviation));
    body.insert("elevation".into(), json!((400.0 * rng::unit(config.seed, "elevation", &cell)).round()));
    if !variables.is_empty() {
        // The forecast starts at local midnight of the sandbox's "today".
        let now_local = config.now_ms as i64 / 1000 + offset;
        let midnight_local = now_local - now_local.rem_euclid(86_400);
        let hours = days * 24;
        let mut times = Vec::new();
        let mut columns: Vec<Vec<Value>> = vec![Vec::new(); variables.len()];
        for i in 0..hours as i64 {
            let local = midnight_local + i * 3600;
            let Some(stamp) = DateTime::from_timestamp(local, 0) else { continue };
            times.push(json!(stamp.format("%Y-%m-%dT%H:%M").to_string()));
            let utc_hour = u64::try_from((local - offset) / 3600).unwrap_or_default();
            for (column, (name, _)) in columns.iter_mut().zip(&variables) {
                column.push(value(config.seed, name, latitude, cell, utc_hour, i % 24));
            }
        }
        let mut units = Map::new();
        units.insert("time".into(), json!("iso8601"));
        let mut hourly = Map::new();
        hourly.insert("time".into(), Value::Array(times));
        for ((name, unit), column) in variables.iter().zip(columns) {
            units.insert((*name).into(), json!(unit));
            hourly.insert((*name).into(), Value::Array(column));
        }
        body.insert("hourly_units".into(), Value::Object(units));
        body.insert("hourly".into(), Value::Object(hourly));
    }
    Ok(Value::Object(body))
}
