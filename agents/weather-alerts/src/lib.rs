//! `agent-weather-alerts`: weather alerts from Open-Meteo's forecast API
//! (`GET https://api.open-meteo.com/v1/forecast`, open-meteo.com/en/docs).
//!
//! The user gives a place and threshold rules ("wind gusts above 60 km/h for at least 2
//! hours"); the agent fetches the hourly forecast for exactly the variables the rules name and
//! reports alert windows: runs of consecutive forecast hours breaking a rule, merged into one
//! window, kept when they last at least the rule's minimum. Times are reported as the API
//! returns them (local wall-clock `YYYY-MM-DDTHH:MM` in the requested timezone) and in UTC,
//! derived from the answer's `utc_offset_seconds`.
//!
//! [`forecast`] holds the API's request and answer types; [`alerts`] the pure windowing,
//! unit-tested on fixtures.

pub mod alerts;
pub mod forecast;

use agent_io::AgentError;
use agent_io::http::{Egress, HttpError};
use serde::{Deserialize, Serialize};

pub use alerts::{Alert, Condition, RuleSummary};
pub use forecast::{Forecast, Variable};

pub const MAX_RULES: usize = 16;
pub const MAX_MIN_HOURS: u32 = 72;
pub const MAX_FORECAST_DAYS: u32 = 16;
pub const MAX_LABEL_CHARS: usize = 64;

/// One threshold: exactly one of `above` (value > threshold) and `below` (value < threshold).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rule {
    pub variable: Variable,
    pub above: Option<f64>,
    pub below: Option<f64>,
    /// Shortest window reported, in hours; default the input's `minHours`.
    pub min_hours: Option<u32>,
    pub label: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Input {
    pub latitude: f64,
    pub longitude: f64,
    /// `auto`, `GMT`/`UTC` or an IANA name; Open-Meteo returns local times in it.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    #[serde(default = "default_days")]
    pub forecast_days: u32,
    #[serde(default = "default_min_hours")]
    pub min_hours: u32,
    pub rules: Vec<Rule>,
}

fn default_timezone() -> String {
    "auto".to_owned()
}
fn default_days() -> u32 {
    3
}
fn default_min_hours() -> u32 {
    1
}

/// An input refused before any request (exit 2).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidInput(pub String);

impl Input {
    pub fn validate(&self) -> Result<(), InvalidInput> {
        let bad = |m: String| Err(InvalidInput(m));
        if !(self.latitude.is_finite() && (-90.0..=90.0).contains(&self.latitude)) {
            return bad(format!("latitude must be between -90 and 90, got {}", self.latitude));
        }
        if !(self.longitude.is_finite() && (-180.0..=180.0).contains(&self.longitude)) {
            return bad(format!("longitude must be between -180 and 180, got {}", self.longitude));
        }
        let tz_ok = !self.timezone.is_empty()
            && self.timezone.len() <= 64
            && self.timezone.bytes().all(|b| b.is_ascii_alphanumeric() || b"/_+-".contains(&b));
        if !tz_ok {
            return bad(format!("timezone {:?} is not an IANA name, GMT or auto", self.timezone));
        }
        if !(1..=MAX_FORECAST_DAYS).contains(&self.forecast_days) {
            return bad(format!("forecastDays must be between 1 and {MAX_FORECAST_DAYS}, got {}", self.forecast_days));
        }
        if self.rules.is_empty() || self.rules.len() > MAX_RULES {
            return bad(format!("rules must have 1 to {MAX_RULES} entries, got {}", self.rules.len()));
        }
        for (i, rule) in std::iter::once(&None).chain(self.rules.iter().map(|r| &r.min_hours)).enumerate() {
            let hours = rule.unwrap_or(self.min_hours);
            if !(1..=MAX_MIN_HOURS).contains(&hours) {
                let at = if i == 0 { "minHours".to_owned() } else { format!("rules[{}].minHours", i - 1) };
                return bad(format!("{at} must be between 1 and {MAX_MIN_HOURS}, got {hours}"));
            }
        }
        for (i, rule) in self.rules.iter().enumerate() {
            let threshold = match (rule.above, rule.below) {
                (Some(x), None) | (None, Some(x)) => x,
                _ => return bad(format!("rules[{i}] needs exactly one of above and below")),
            };
            if !threshold.is_finite() {
                return bad(format!("rules[{i}] threshold must be a finite number"));
            }
            if rule
                .label
                .as_ref()
                .is_some_and(|l| l.chars().count() > MAX_LABEL_CHARS || l.chars().any(char::is_control))
            {
                return bad(format!(
                    "rules[{i}].label must be at most {MAX_LABEL_CHARS} characters without control characters"
                ));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Output {
    /// The grid point the forecast is for (Open-Meteo snaps to its model grid).
    pub latitude: f64,
    pub longitude: f64,
    pub timezone: String,
    pub timezone_abbreviation: String,
    pub utc_offset_seconds: i64,
    /// Forecast hours examined and their first and last local time.
    pub hours: usize,
    pub from: Option<String>,
    pub to: Option<String>,
    pub alerts: Vec<Alert>,
    pub rules: Vec<RuleSummary>,
}

/// Why a run produced no output.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid input: {0}")]
    Input(#[from] InvalidInput),
    /// Open-Meteo's own 400 `{"error": true, "reason": …}`: the request (the input) is wrong.
    #[error("Open-Meteo refused the request: {0}")]
    Refused(String),
    #[error("Open-Meteo forecast: {0}")]
    Http(#[from] HttpError),
    #[error("Open-Meteo forecast: {0}")]
    Answer(#[from] forecast::AnswerError),
}

impl From<Error> for AgentError {
    fn from(error: Error) -> Self {
        match error {
            e @ (Error::Input(_) | Error::Refused(_)) => AgentError::input(e),
            e => AgentError::Failed(e.to_string()),
        }
    }
}

/// Fetches the forecast through the egress proxy and computes the alerts.
pub fn run(net: &Egress, input: &Input) -> Result<Output, Error> {
    input.validate()?;
    let variables = forecast::variables(input.rules.iter().map(|r| r.variable));
    let url = forecast::url(input, &variables);
    let response = net.get(&url)?;
    if response.status == 400 {
        // Open-Meteo's error object; anything else with 400 (an egress refusal) stays an error.
        if let Ok(refusal) = response.json::<forecast::ApiError>()
            && refusal.error
        {
            return Err(Error::Refused(refusal.reason));
        }
    }
    let forecast: Forecast = response.error_for_status()?.json()?;
    let series = forecast.series(&variables)?;
    let (alerts, rules) = alerts::evaluate(&input.rules, input.min_hours, &series, forecast.utc_offset_seconds)?;
    Ok(Output {
        latitude: forecast.latitude,
        longitude: forecast.longitude,
        hours: series.times.len(),
        from: series.times.first().cloned(),
        to: series.times.last().cloned(),
        timezone: forecast.timezone,
        timezone_abbreviation: forecast.timezone_abbreviation,
        utc_offset_seconds: forecast.utc_offset_seconds,
        alerts,
        rules,
    })
}
