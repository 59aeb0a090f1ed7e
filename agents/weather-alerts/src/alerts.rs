//! Alert windows: runs of consecutive forecast hours breaking a rule, merged, kept when they
//! last the rule's minimum. Pure functions of the parsed series.
//!
//! Consecutive means adjacent entries of the API's hourly series (one entry per hour by
//! construction), not a wall-clock difference of one hour: across a daylight-saving change the
//! local times jump or repeat, yet the hours are still contiguous. A `null` value (no model
//! data) breaks a run: the agent does not claim an alert for an hour it knows nothing about.
//! Windows are half-open, `[start, end)`: a window of one hour starting at 14:00 ends at 15:00.

use chrono::{Duration, NaiveDateTime};
use serde::Serialize;

use crate::Rule;
use crate::forecast::{AnswerError, Series, Variable};

const LOCAL_FORMAT: &str = "%Y-%m-%dT%H:%M";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Condition {
    Above,
    Below,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    /// Index of the rule in the input.
    pub rule: usize,
    pub label: String,
    pub variable: Variable,
    pub condition: Condition,
    pub threshold: f64,
    pub unit: String,
    /// Local times as the API returns them, `[start, end)`.
    pub start: String,
    pub end: String,
    /// The same instants in UTC (`YYYY-MM-DDTHH:MMZ`).
    pub start_utc: String,
    pub end_utc: String,
    pub hours: usize,
    /// The most extreme value in the window (highest for `above`, lowest for `below`).
    pub peak: f64,
    pub peak_time: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleSummary {
    pub rule: usize,
    pub label: String,
    pub variable: Variable,
    pub condition: Condition,
    pub threshold: f64,
    pub min_hours: u32,
    /// Hours breaking the rule (in windows or not) and windows reported.
    pub matching_hours: usize,
    pub alerts: usize,
}

fn local_plus_hours(time: &str, hours: i64) -> Result<NaiveDateTime, AnswerError> {
    NaiveDateTime::parse_from_str(time, LOCAL_FORMAT)
        .map(|t| t + Duration::hours(hours))
        .map_err(|_| AnswerError::NotNumbers(format!("time {time:?} (expected YYYY-MM-DDTHH:MM)")))
}

fn fmt_local(t: NaiveDateTime) -> String {
    t.format(LOCAL_FORMAT).to_string()
}

fn to_utc(local: NaiveDateTime, utc_offset_seconds: i64) -> String {
    format!("{}Z", (local - Duration::seconds(utc_offset_seconds)).format(LOCAL_FORMAT))
}

/// The alerts of every rule, ordered by start then rule, and one summary per rule.
pub fn evaluate(
    rules: &[Rule],
    default_min_hours: u32,
    series: &Series,
    utc_offset_seconds: i64,
) -> Result<(Vec<Alert>, Vec<RuleSummary>), AnswerError> {
    let mut alerts = Vec::new();
    let mut summaries = Vec::new();
    for (index, rule) in rules.iter().enumerate() {
        let column =
            series.columns.get(&rule.variable).ok_or_else(|| AnswerError::Missing(rule.variable.name().to_owned()))?;
        let (condition, threshold) = match (rule.above, rule.below) {
            (Some(x), _) => (Condition::Above, x),
            (None, Some(x)) => (Condition::Below, x),
            // `Input::validate` refuses such a rule; without a threshold nothing matches.
            (None, None) => (Condition::Above, f64::INFINITY),
        };
        let breaks = |v: Option<f64>| match (v, condition) {
            (Some(v), Condition::Above) => v > threshold,
            (Some(v), Condition::Below) => v < threshold,
            (None, _) => false,
        };
        let min_hours = rule.min_hours.unwrap_or(default_min_hours);
        let label = rule.label.clone().unwrap_or_else(|| {
            format!(
                "{} {} {threshold} {}",
                rule.variable.name(),
                if condition == Condition::Above { ">" } else { "<" },
                column.unit
            )
            .trim_end()
            .to_owned()
        });
        let mut matching = 0;
        let mut reported = 0;
        let mut i = 0;
        while i < column.values.len() {
            if !breaks(column.values[i]) {
                i += 1;
                continue;
            }
            let start = i;
            while i < column.values.len() && breaks(column.values[i]) {
                i += 1;
            }
            let run = start..i;
            matching += run.len();
            if run.len() < min_hours as usize {
                continue;
            }
            // The first hour reaching the extreme (`max_by` would pick the last of equals).
            let more_extreme = |x: f64, best: f64| if condition == Condition::Above { x > best } else { x < best };
            let peak = run
                .clone()
                .filter_map(|k| column.values[k].map(|v| (k, v)))
                .reduce(|best, x| if more_extreme(x.1, best.1) { x } else { best });
            let Some((peak_index, peak)) = peak else { continue };
            let first = local_plus_hours(&series.times[start], 0)?;
            let end = local_plus_hours(&series.times[i - 1], 1)?;
            reported += 1;
            alerts.push(Alert {
                rule: index,
                label: label.clone(),
                variable: rule.variable,
                condition,
                threshold,
                unit: column.unit.clone(),
                start: series.times[start].clone(),
                end: fmt_local(end),
                start_utc: to_utc(first, utc_offset_seconds),
                end_utc: to_utc(end, utc_offset_seconds),
                hours: run.len(),
                peak,
                peak_time: series.times[peak_index].clone(),
            });
        }
        summaries.push(RuleSummary {
            rule: index,
            label,
            variable: rule.variable,
            condition,
            threshold,
            min_hours,
            matching_hours: matching,
            alerts: reported,
        });
    }
    alerts.sort_by(|a, b| a.start_utc.cmp(&b.start_utc).then(a.rule.cmp(&b.rule)));
    Ok((alerts, summaries))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::forecast::Column;

    fn series(values: &[Option<f64>]) -> Series {
        let times = (0..values.len()).map(|h| format!("2026-12-07T{:02}:00", h + 8)).collect();
        let column = Column { unit: "km/h".into(), values: values.to_vec() };
        Series { times, columns: HashMap::from([(Variable::WindGusts10m, column)]) }
    }

    fn rule(above: Option<f64>, below: Option<f64>, min_hours: Option<u32>) -> Rule {
        Rule { variable: Variable::WindGusts10m, above, below, min_hours, label: None }
    }

    #[test]
    fn consecutive_hours_merge_into_one_half_open_window() {
        let s = series(&[Some(10.0), Some(61.0), Some(75.5), Some(75.5), Some(20.0), Some(70.0)]);
        let (alerts, rules) = evaluate(&[rule(Some(60.0), None, None)], 1, &s, 3600).unwrap();
        assert_eq!(alerts.len(), 2);
        let a = &alerts[0];
        // Hours 09:00, 10:00, 11:00 local → [09:00, 12:00) local, [08:00, 11:00) UTC at +1h.
        assert_eq!((a.start.as_str(), a.end.as_str(), a.hours), ("2026-12-07T09:00", "2026-12-07T12:00", 3));
        assert_eq!((a.start_utc.as_str(), a.end_utc.as_str()), ("2026-12-07T08:00Z", "2026-12-07T11:00Z"));
        // Two hours share the peak: the first is reported.
        assert_eq!((a.peak, a.peak_time.as_str()), (75.5, "2026-12-07T10:00"));
        assert_eq!(a.label, "wind_gusts_10m > 60 km/h");
        assert_eq!((alerts[1].start.as_str(), alerts[1].end.as_str()), ("2026-12-07T13:00", "2026-12-07T14:00"));
        assert_eq!((rules[0].matching_hours, rules[0].alerts), (4, 2));
    }

    #[test]
    fn short_runs_nulls_and_equal_values_do_not_alert() {
        // 60 is not above 60; the null splits 61,62 | 63; min 2 hours keeps only the first run.
        let s = series(&[Some(60.0), Some(61.0), Some(62.0), None, Some(63.0)]);
        let (alerts, rules) = evaluate(&[rule(Some(60.0), None, Some(2))], 1, &s, 0).unwrap();
        assert_eq!(alerts.len(), 1);
        assert_eq!((alerts[0].start.as_str(), alerts[0].hours), ("2026-12-07T09:00", 2));
        assert_eq!((rules[0].matching_hours, rules[0].alerts, rules[0].min_hours), (3, 1, 2));
    }

    #[test]
    fn below_rules_report_the_minimum_and_negative_offsets_move_utc_forward() {
        let s = series(&[Some(5.0), Some(-1.5), Some(-3.0), Some(0.5)]);
        let (alerts, _) = evaluate(&[rule(None, Some(0.0), None)], 1, &s, -18_000).unwrap();
        assert_eq!(alerts.len(), 1);
        assert_eq!((alerts[0].peak, alerts[0].peak_time.as_str()), (-3.0, "2026-12-07T10:00"));
        // 09:00 at UTC-5 is 14:00 UTC; a window ending 11:00 local ends 16:00 UTC.
        assert_eq!(
            (alerts[0].start_utc.as_str(), alerts[0].end_utc.as_str()),
            ("2026-12-07T14:00Z", "2026-12-07T16:00Z")
        );
        assert_eq!(alerts[0].condition, Condition::Below);
    }

    #[test]
    fn a_window_may_cross_midnight_and_a_malformed_time_is_an_error() {
        let mut s = series(&[Some(70.0), Some(70.0)]);
        s.times = vec!["2026-12-07T23:00".into(), "2026-12-08T00:00".into()];
        let (alerts, _) = evaluate(&[rule(Some(60.0), None, None)], 1, &s, 0).unwrap();
        assert_eq!(alerts[0].end, "2026-12-08T01:00");
        s.times[0] = "tomorrow".into();
        assert!(evaluate(&[rule(Some(60.0), None, None)], 1, &s, 0).is_err());
    }
}
