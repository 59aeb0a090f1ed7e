//! Open-Meteo's forecast request and answer (open-meteo.com/en/docs): `hourly` is a
//! comma-separated variable list; the answer's `hourly` object holds `time` (local
//! `YYYY-MM-DDTHH:MM` in the requested timezone, with `utc_offset_seconds` beside it) and one
//! index-aligned array per variable, whose entries may be `null` where a model has no value.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::Input;

pub const FORECAST_URL: &str = "https://api.open-meteo.com/v1/forecast";

/// The hourly variables rules may name (Open-Meteo's names, default units).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Variable {
    #[serde(rename = "temperature_2m")]
    Temperature2m,
    #[serde(rename = "relative_humidity_2m")]
    RelativeHumidity2m,
    Precipitation,
    #[serde(rename = "wind_speed_10m")]
    WindSpeed10m,
    #[serde(rename = "wind_gusts_10m")]
    WindGusts10m,
}

impl Variable {
    pub fn name(self) -> &'static str {
        match self {
            Variable::Temperature2m => "temperature_2m",
            Variable::RelativeHumidity2m => "relative_humidity_2m",
            Variable::Precipitation => "precipitation",
            Variable::WindSpeed10m => "wind_speed_10m",
            Variable::WindGusts10m => "wind_gusts_10m",
        }
    }
}

/// The distinct variables of the rules, in a stable order (each fetched once).
pub fn variables(named: impl Iterator<Item = Variable>) -> Vec<Variable> {
    let mut list: Vec<Variable> = named.collect();
    list.sort();
    list.dedup();
    list
}

/// The request URL for `input` and `variables`.
pub fn url(input: &Input, variables: &[Variable]) -> String {
    let hourly = variables.iter().map(|v| v.name()).collect::<Vec<_>>().join(",");
    agent_io::http::with_query(
        FORECAST_URL,
        &[
            ("latitude", &input.latitude.to_string()),
            ("longitude", &input.longitude.to_string()),
            ("hourly", &hourly),
            ("timezone", &input.timezone),
            ("forecast_days", &input.forecast_days.to_string()),
        ],
    )
}

/// Open-Meteo's error object (HTTP 400).
#[derive(Debug, Deserialize)]
pub struct ApiError {
    pub error: bool,
    pub reason: String,
}

#[derive(Debug, Deserialize)]
pub struct Forecast {
    pub latitude: f64,
    pub longitude: f64,
    pub utc_offset_seconds: i64,
    pub timezone: String,
    pub timezone_abbreviation: String,
    #[serde(default)]
    pub hourly_units: HashMap<String, String>,
    pub hourly: Option<HashMap<String, serde_json::Value>>,
}

/// Why an answer is unusable.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AnswerError {
    #[error("the answer has no hourly {0}")]
    Missing(String),
    #[error("hourly {0} is not an array of numbers and nulls")]
    NotNumbers(String),
    #[error("hourly {name} has {got} values for {times} times")]
    Length { name: String, got: usize, times: usize },
}

/// The hourly series the rules need, checked for shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub times: Vec<String>,
    pub columns: HashMap<Variable, Column>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub unit: String,
    pub values: Vec<Option<f64>>,
}

impl Forecast {
    pub fn series(&self, variables: &[Variable]) -> Result<Series, AnswerError> {
        let hourly = self.hourly.as_ref().ok_or_else(|| AnswerError::Missing("object".to_owned()))?;
        let times: Vec<String> = hourly
            .get("time")
            .ok_or_else(|| AnswerError::Missing("time".to_owned()))
            .and_then(|t| serde_json::from_value(t.clone()).map_err(|_| AnswerError::NotNumbers("time".to_owned())))?;
        let mut columns = HashMap::new();
        for variable in variables {
            let name = variable.name();
            let raw = hourly.get(name).ok_or_else(|| AnswerError::Missing(name.to_owned()))?;
            let values: Vec<Option<f64>> =
                serde_json::from_value(raw.clone()).map_err(|_| AnswerError::NotNumbers(name.to_owned()))?;
            if values.len() != times.len() {
                return Err(AnswerError::Length { name: name.to_owned(), got: values.len(), times: times.len() });
            }
            let unit = self.hourly_units.get(name).cloned().unwrap_or_default();
            columns.insert(*variable, Column { unit, values });
        }
        Ok(Series { times, columns })
    }
}
