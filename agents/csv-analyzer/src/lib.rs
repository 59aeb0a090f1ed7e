//! CSV analyzer: column types, per-column statistics, correlations and outliers for a CSV text.
//!
//! The input is a spreadsheet export as a user actually has one: a header, some blank or `N/A`
//! cells, a few rows with the wrong number of fields, a stray word in a numeric column. So the
//! analysis is tolerant and says what it tolerated: malformed rows are skipped and counted (with
//! their line numbers), a column's type is what at least 90% of its non-missing cells are (the
//! rest are counted as `invalid` and left out of the statistics), and the row limit is reported
//! (`truncated`) instead of silently applied. Bounds on rows and cells keep the agent inside its
//! container's memory cap whatever it is sent.

mod stats;
pub mod values;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// Default and largest number of data rows analyzed.
pub const DEFAULT_MAX_ROWS: usize = 10_000;
pub const MAX_ROWS: usize = 100_000;
/// Most cells (rows × columns) held in memory; the row limit shrinks to respect it.
pub const MAX_CELLS: usize = 2_000_000;
pub const MAX_COLUMNS: usize = 500;
/// Share of non-missing cells that must fit a type for the column to get it.
pub const DOMINANCE: f64 = 0.9;
/// Most numeric columns correlated (the first ones), and most pairs reported.
pub const MAX_CORRELATED_COLUMNS: usize = 50;
pub const MAX_CORRELATIONS: usize = 100;
/// Most example line numbers listed per outlier kind or for malformed rows.
pub const MAX_EXAMPLES: usize = 20;

/// The agent's input.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Input {
    /// The CSV text.
    pub csv: String,
    /// Field delimiter, one ASCII character (default `,`).
    #[serde(default)]
    pub delimiter: Option<String>,
    /// Whether the first record is a header (default true).
    #[serde(default)]
    pub has_header: Option<bool>,
    /// Most data rows analyzed (1..=100000, default 10000).
    #[serde(default)]
    pub max_rows: Option<usize>,
    /// |z| above which a value is a z-score outlier (default 3).
    #[serde(default)]
    pub z_threshold: Option<f64>,
    /// How many most frequent values to list per column (0..=50, default 5).
    #[serde(default)]
    pub top_values: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Output {
    /// Data rows analyzed (well-formed, within the limit).
    pub rows: usize,
    /// True when rows beyond the limit were left out.
    pub truncated: bool,
    pub malformed_rows: Malformed,
    pub columns: Vec<Column>,
    /// Pearson correlations between numeric columns, strongest first.
    pub correlations: Vec<Correlation>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Malformed {
    pub count: usize,
    /// The first malformed rows: line number and what was wrong.
    pub examples: Vec<MalformedRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MalformedRow {
    pub line: u64,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    Int,
    Float,
    Bool,
    Date,
    String,
    /// Every cell is missing.
    Empty,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ColumnType,
    /// Non-missing cells.
    pub count: usize,
    pub missing: usize,
    /// Non-missing cells that do not fit the column's type (left out of the statistics).
    pub invalid: usize,
    /// Distinct non-missing values (trimmed).
    pub distinct: usize,
    pub top_values: Vec<ValueCount>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub numeric: Option<Numeric>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outliers: Option<Outliers>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bool: Option<BoolCounts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<DateRange>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<TextLengths>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValueCount {
    pub value: String,
    pub count: usize,
}

/// Statistics of a numeric column, rounded to 6 decimals.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Numeric {
    pub sum: f64,
    pub mean: f64,
    /// Sample standard deviation; null below two values.
    pub std: Option<f64>,
    pub min: f64,
    pub q1: f64,
    pub median: f64,
    pub q3: f64,
    pub max: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outliers {
    pub iqr: IqrOutliers,
    pub z_score: ZOutliers,
}

/// Values outside `[q1 - 1.5 IQR, q3 + 1.5 IQR]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IqrOutliers {
    pub lower_fence: f64,
    pub upper_fence: f64,
    pub count: usize,
    /// Line numbers of the first outliers.
    pub lines: Vec<u64>,
}

/// Values with |x - mean| / std above the threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ZOutliers {
    pub threshold: f64,
    pub count: usize,
    pub lines: Vec<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BoolCounts {
    pub true_count: usize,
    pub false_count: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DateRange {
    pub min: String,
    pub max: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TextLengths {
    pub min_length: usize,
    pub max_length: usize,
    pub mean_length: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Correlation {
    pub a: String,
    pub b: String,
    /// Pearson's r rounded to 6 decimals; null when a side is constant or fewer than 3 rows
    /// have both values.
    pub r: Option<f64>,
    /// Rows where both columns have a valid value.
    pub n: usize,
}

/// Why a CSV cannot be analyzed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AnalyzeError {
    #[error("delimiter must be a single ASCII character, got {0:?}")]
    Delimiter(String),
    #[error("maxRows must be between 1 and {MAX_ROWS}, got {0}")]
    MaxRows(usize),
    #[error("topValues must be at most 50, got {0}")]
    TopValues(usize),
    #[error("zThreshold must be a positive number, got {0}")]
    ZThreshold(f64),
    #[error("the CSV has no header or rows")]
    Empty,
    #[error("the CSV has {0} columns, more than {MAX_COLUMNS}")]
    TooManyColumns(usize),
    #[error("cannot read the header: {0}")]
    Header(String),
}

/// Analyzes `input.csv`.
pub fn analyze(input: &Input) -> Result<Output, AnalyzeError> {
    let delimiter = match input.delimiter.as_deref() {
        None => b',',
        Some(d) if d.len() == 1 && d.is_ascii() => d.as_bytes()[0],
        Some(d) => return Err(AnalyzeError::Delimiter(d.to_string())),
    };
    let max_rows = input.max_rows.unwrap_or(DEFAULT_MAX_ROWS);
    if !(1..=MAX_ROWS).contains(&max_rows) {
        return Err(AnalyzeError::MaxRows(max_rows));
    }
    let top_n = input.top_values.unwrap_or(5);
    if top_n > 50 {
        return Err(AnalyzeError::TopValues(top_n));
    }
    let z_threshold = input.z_threshold.unwrap_or(3.0);
    if !(z_threshold.is_finite() && z_threshold > 0.0) {
        return Err(AnalyzeError::ZThreshold(z_threshold));
    }
    let has_header = input.has_header.unwrap_or(true);

    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(input.csv.as_bytes());
    let mut records = reader.records();

    let mut malformed = Malformed { count: 0, examples: Vec::new() };
    let note_malformed = |malformed: &mut Malformed, line: u64, reason: String| {
        malformed.count += 1;
        if malformed.examples.len() < MAX_EXAMPLES {
            malformed.examples.push(MalformedRow { line, reason });
        }
    };

    // The header, or the first record when there is none (kept as data below).
    let first = match records.next() {
        None => return Err(AnalyzeError::Empty),
        Some(Err(e)) => return Err(AnalyzeError::Header(e.to_string())),
        Some(Ok(record)) => record,
    };
    let width = first.len();
    if width > MAX_COLUMNS {
        return Err(AnalyzeError::TooManyColumns(width));
    }
    let names: Vec<String> = if has_header {
        first
            .iter()
            .enumerate()
            .map(|(i, h)| if h.trim().is_empty() { format!("column_{}", i + 1) } else { h.trim().to_string() })
            .collect()
    } else {
        (1..=width).map(|i| format!("column_{i}")).collect()
    };
    let row_limit = max_rows.min(MAX_CELLS / width.max(1));

    let mut cells: Vec<Vec<String>> = vec![Vec::new(); width];
    let mut lines: Vec<u64> = Vec::new();
    let mut truncated = false;
    let mut push_row = |record: &csv::StringRecord, line: u64, cells: &mut Vec<Vec<String>>| {
        for (column, value) in cells.iter_mut().zip(record.iter()) {
            column.push(value.to_string());
        }
        lines.push(line);
    };
    if !has_header {
        push_row(&first, first.position().map_or(1, |p| p.line()), &mut cells);
    }
    for result in records {
        match result {
            Ok(record) => {
                let line = record.position().map_or(0, |p| p.line());
                if record.len() != width {
                    // A trailing blank line parses as one empty field: not worth reporting.
                    if record.len() == 1 && record.get(0).is_some_and(|f| f.trim().is_empty()) {
                        continue;
                    }
                    note_malformed(&mut malformed, line, format!("expected {width} fields, found {}", record.len()));
                    continue;
                }
                if cells.first().map_or(0, Vec::len) >= row_limit {
                    truncated = true;
                    break;
                }
                push_row(&record, line, &mut cells);
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                note_malformed(&mut malformed, line, e.to_string());
            }
        }
    }
    let rows = cells.first().map_or(0, Vec::len);

    let mut columns = Vec::with_capacity(width);
    let mut numeric_values: Vec<(usize, Vec<Option<f64>>)> = Vec::new();
    for (index, (name, column)) in names.into_iter().zip(&cells).enumerate() {
        let (summary, numbers) = describe(name, column, &lines, top_n, z_threshold);
        if let Some(numbers) = numbers {
            numeric_values.push((index, numbers));
        }
        columns.push(summary);
    }

    let mut correlations = Vec::new();
    let numeric_values = &numeric_values[..numeric_values.len().min(MAX_CORRELATED_COLUMNS)];
    for (i, (a_index, a)) in numeric_values.iter().enumerate() {
        for (b_index, b) in &numeric_values[i + 1..] {
            let pairs: Vec<(f64, f64)> = a.iter().zip(b).filter_map(|(x, y)| Some(((*x)?, (*y)?))).collect();
            correlations.push(Correlation {
                a: columns[*a_index].name.clone(),
                b: columns[*b_index].name.clone(),
                r: stats::pearson(&pairs).map(round6),
                n: pairs.len(),
            });
        }
    }
    correlations.sort_by(|x, y| {
        let key = |c: &Correlation| c.r.map_or(-1.0, f64::abs);
        key(y).total_cmp(&key(x))
    });
    correlations.truncate(MAX_CORRELATIONS);

    Ok(Output { rows, truncated, malformed_rows: malformed, columns, correlations })
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// Infers a column's type from its non-missing values; see [`DOMINANCE`].
pub fn infer<'a>(values: impl Iterator<Item = &'a str> + Clone) -> ColumnType {
    let total = values.clone().count();
    if total == 0 {
        return ColumnType::Empty;
    }
    let share = |n: usize| n as f64 >= DOMINANCE * total as f64;
    let ints = values.clone().filter(|v| values::parse_int(v).is_some()).count();
    let floats = values.clone().filter(|v| values::parse_float(v).is_some()).count();
    if share(ints) && ints == floats {
        ColumnType::Int
    } else if share(floats) {
        ColumnType::Float
    } else if share(values.clone().filter(|v| values::parse_bool(v).is_some()).count()) {
        ColumnType::Bool
    } else if share(values.filter(|v| values::parse_date(v).is_some()).count()) {
        ColumnType::Date
    } else {
        ColumnType::String
    }
}

/// One column's summary, plus its numeric values per row when it is numeric.
fn describe(
    name: String,
    column: &[String],
    lines: &[u64],
    top_n: usize,
    z_threshold: f64,
) -> (Column, Option<Vec<Option<f64>>>) {
    let present: Vec<&str> = column.iter().map(|v| v.trim()).filter(|v| !values::is_missing(v)).collect();
    let kind = infer(present.iter().copied());
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for v in &present {
        *counts.entry(v).or_default() += 1;
    }
    let mut top: Vec<(&str, usize)> = counts.iter().map(|(v, c)| (*v, *c)).collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let top_values =
        top.into_iter().take(top_n).map(|(value, count)| ValueCount { value: value.into(), count }).collect();

    let mut out = Column {
        name,
        kind,
        count: present.len(),
        missing: column.len() - present.len(),
        invalid: 0,
        distinct: counts.len(),
        top_values,
        numeric: None,
        outliers: None,
        bool: None,
        date: None,
        text: None,
    };
    let mut numbers_by_row = None;
    match kind {
        ColumnType::Int | ColumnType::Float => {
            let by_row: Vec<Option<f64>> =
                column.iter().map(|v| if values::is_missing(v) { None } else { values::parse_float(v) }).collect();
            let numbers: Vec<(f64, u64)> =
                by_row.iter().zip(lines).filter_map(|(x, line)| Some(((*x)?, *line))).collect();
            out.invalid = present.len() - numbers.len();
            (out.numeric, out.outliers) = numeric(&numbers, z_threshold);
            numbers_by_row = Some(by_row);
        }
        ColumnType::Bool => {
            let parsed: Vec<bool> = present.iter().filter_map(|v| values::parse_bool(v)).collect();
            out.invalid = present.len() - parsed.len();
            let true_count = parsed.iter().filter(|b| **b).count();
            out.bool = Some(BoolCounts { true_count, false_count: parsed.len() - true_count });
        }
        ColumnType::Date => {
            let parsed: Vec<(_, &str)> = present.iter().filter_map(|v| Some((values::parse_date(v)?, *v))).collect();
            out.invalid = present.len() - parsed.len();
            let min = parsed.iter().min_by_key(|p| p.0);
            let max = parsed.iter().max_by_key(|p| p.0);
            if let (Some(min), Some(max)) = (min, max) {
                out.date = Some(DateRange { min: min.1.into(), max: max.1.into() });
            }
        }
        ColumnType::String => {
            let lengths: Vec<usize> = present.iter().map(|v| v.chars().count()).collect();
            if let (Some(min), Some(max)) = (lengths.iter().min(), lengths.iter().max()) {
                let mean = lengths.iter().sum::<usize>() as f64 / lengths.len() as f64;
                out.text = Some(TextLengths { min_length: *min, max_length: *max, mean_length: round6(mean) });
            }
        }
        ColumnType::Empty => {}
    }
    (out, numbers_by_row)
}

/// Statistics and outliers of `(value, line)` pairs.
fn numeric(values: &[(f64, u64)], z_threshold: f64) -> (Option<Numeric>, Option<Outliers>) {
    let xs: Vec<f64> = values.iter().map(|v| v.0).collect();
    let mut sorted = xs.clone();
    sorted.sort_by(f64::total_cmp);
    let (Some(mean), std) = stats::mean_std(&xs) else { return (None, None) };
    let q = |p| stats::quantile(&sorted, p).unwrap_or(f64::NAN);
    let (q1, median, q3) = (q(0.25), q(0.5), q(0.75));
    let (min, max) = (sorted[0], sorted[sorted.len() - 1]);

    let iqr = q3 - q1;
    let (lower_fence, upper_fence) = (q1 - 1.5 * iqr, q3 + 1.5 * iqr);
    let iqr_lines: Vec<u64> = values.iter().filter(|v| v.0 < lower_fence || v.0 > upper_fence).map(|v| v.1).collect();
    let z_lines: Vec<u64> = match std {
        Some(s) if s > 0.0 => values.iter().filter(|v| ((v.0 - mean) / s).abs() > z_threshold).map(|v| v.1).collect(),
        _ => Vec::new(),
    };
    let first = |lines: &[u64]| lines.iter().take(MAX_EXAMPLES).copied().collect();
    (
        Some(Numeric {
            sum: round6(xs.iter().sum()),
            mean: round6(mean),
            std: std.map(round6),
            min,
            q1: round6(q1),
            median: round6(median),
            q3: round6(q3),
            max,
        }),
        Some(Outliers {
            iqr: IqrOutliers {
                lower_fence: round6(lower_fence),
                upper_fence: round6(upper_fence),
                count: iqr_lines.len(),
                lines: first(&iqr_lines),
            },
            z_score: ZOutliers { threshold: z_threshold, count: z_lines.len(), lines: first(&z_lines) },
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(csv: &str) -> Input {
        Input {
            csv: csv.into(),
            delimiter: None,
            has_header: None,
            max_rows: None,
            z_threshold: None,
            top_values: None,
        }
    }

    fn column<'a>(out: &'a Output, name: &str) -> &'a Column {
        out.columns.iter().find(|c| c.name == name).expect("column")
    }

    #[test]
    fn infers_types_with_dirty_cells() {
        let values = |v: &[&'static str]| infer(v.iter().copied());
        assert_eq!(values(&["1", "2", "3"]), ColumnType::Int);
        assert_eq!(values(&["1", "2.5", "3"]), ColumnType::Float);
        assert_eq!(values(&["true", "no", "Yes"]), ColumnType::Bool);
        assert_eq!(values(&["2024-01-01", "2024-02-03T10:00:00Z"]), ColumnType::Date);
        assert_eq!(values(&["a", "1", "2"]), ColumnType::String);
        assert_eq!(values(&[]), ColumnType::Empty);
        // One stray word in ten cells keeps the column numeric.
        let mut dirty = vec!["5"; 9];
        dirty.push("oops");
        assert_eq!(values(&dirty), ColumnType::Int);
    }

    #[test]
    fn statistics_and_outliers_of_a_small_table() {
        let csv = "id,score,ok,when,label\n\
                   1,1,true,2024-01-03,a\n\
                   2,2,false,2024-01-01,b\n\
                   3,3,true,2024-01-02,a\n\
                   4,4,yes,,a\n\
                   5,100,no,2023-12-31,ccc\n\
                   6,N/A,true,2024-02-01,\n";
        let out = analyze(&input(csv)).expect("analyzes");
        assert_eq!(out.rows, 6);
        assert!(!out.truncated);
        let score = column(&out, "score");
        assert_eq!((score.kind, score.count, score.missing, score.invalid), (ColumnType::Int, 5, 1, 0));
        let n = score.numeric.as_ref().expect("numeric");
        assert_eq!((n.sum, n.mean, n.min, n.q1, n.median, n.q3, n.max), (110.0, 22.0, 1.0, 2.0, 3.0, 4.0, 100.0));
        // std of [1,2,3,4,100], ddof=1 = 43.6176570...
        assert!((n.std.expect("std") - 43.617_657).abs() < 1e-6);
        let o = score.outliers.as_ref().expect("outliers");
        assert_eq!((o.iqr.lower_fence, o.iqr.upper_fence, o.iqr.count), (-1.0, 7.0, 1));
        assert_eq!(o.iqr.lines, [6]);
        assert_eq!(o.z_score.count, 0, "one extreme value in five never exceeds z = 3 (max is (n-1)/sqrt(n))");

        let ok = column(&out, "ok");
        assert_eq!(ok.kind, ColumnType::Bool);
        assert_eq!(ok.bool, Some(BoolCounts { true_count: 4, false_count: 2 }));
        let when = column(&out, "when");
        assert_eq!(when.kind, ColumnType::Date);
        assert_eq!(when.date, Some(DateRange { min: "2023-12-31".into(), max: "2024-02-01".into() }));
        let label = column(&out, "label");
        assert_eq!((label.kind, label.distinct, label.missing), (ColumnType::String, 3, 1));
        assert_eq!(label.top_values[0], ValueCount { value: "a".into(), count: 3 });
        assert_eq!(label.text, Some(TextLengths { min_length: 1, max_length: 3, mean_length: 1.4 }));

        let id_score = out.correlations.iter().find(|c| c.a == "id" && c.b == "score").expect("pair");
        assert_eq!(id_score.n, 5);
        // numpy.corrcoef([1,2,3,4,5],[1,2,3,4,100])[0,1] = 0.7249994...
        assert!((id_score.r.expect("r") - 0.724_999).abs() < 1e-6, "{id_score:?}");
    }

    #[test]
    fn malformed_rows_are_skipped_and_reported() {
        let csv = "a,b\n1,2\n3\n4,5,6\n7,8\n\n";
        let out = analyze(&input(csv)).expect("analyzes");
        assert_eq!(out.rows, 2);
        assert_eq!(out.malformed_rows.count, 2);
        assert_eq!(
            out.malformed_rows.examples[0],
            MalformedRow { line: 3, reason: "expected 2 fields, found 1".into() }
        );
        assert_eq!(out.malformed_rows.examples[1].line, 4);
    }

    #[test]
    fn row_limit_truncates_and_says_so() {
        let mut csv = String::from("x\n");
        for i in 0..50 {
            csv.push_str(&format!("{i}\n"));
        }
        let out = analyze(&Input { max_rows: Some(10), ..input(&csv) }).expect("analyzes");
        assert_eq!(out.rows, 10);
        assert!(out.truncated);
        assert_eq!(column(&out, "x").numeric.as_ref().map(|n| n.max), Some(9.0));
    }

    #[test]
    fn headerless_tsv() {
        let out = analyze(&Input { delimiter: Some("\t".into()), has_header: Some(false), ..input("1\tx\n2\ty\n") })
            .expect("analyzes");
        assert_eq!(out.rows, 2);
        assert_eq!(out.columns[0].name, "column_1");
        assert_eq!(out.columns[1].kind, ColumnType::String);
    }

    #[test]
    fn rejects_bad_options_and_empty_input() {
        assert_eq!(analyze(&input("")), Err(AnalyzeError::Empty));
        assert!(matches!(
            analyze(&Input { delimiter: Some(";;".into()), ..input("a") }),
            Err(AnalyzeError::Delimiter(_))
        ));
        assert_eq!(analyze(&Input { max_rows: Some(0), ..input("a") }), Err(AnalyzeError::MaxRows(0)));
        assert!(matches!(analyze(&Input { z_threshold: Some(-1.0), ..input("a") }), Err(AnalyzeError::ZThreshold(_))));
        let wide = vec!["c"; MAX_COLUMNS + 1].join(",");
        assert_eq!(analyze(&input(&wide)), Err(AnalyzeError::TooManyColumns(MAX_COLUMNS + 1)));
    }

    #[test]
    fn unicode_cells() {
        let out = analyze(&input("city,pop\nZürich,421878\n東京,13960000\nSão Paulo,12330000\n")).expect("analyzes");
        let city = column(&out, "city");
        assert_eq!(city.text.as_ref().map(|t| (t.min_length, t.max_length)), Some((2, 9)));
        assert_eq!(column(&out, "pop").kind, ColumnType::Int);
    }
}
