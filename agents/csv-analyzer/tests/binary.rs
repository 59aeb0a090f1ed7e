//! Runs the built `agent-csv-analyzer` binary on a realistic sales export with dirty cells and
//! malformed rows, as the relayer would, and checks the output against the published output
//! schema and numbers computed independently (Python's `statistics` module, numpy-style linear
//! quartiles) for `tests/data/sales.csv`.

use agent_io::testing::{check_metadata, envelope, metadata, run};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_agent-csv-analyzer");
const SALES: &str = include_str!("data/sales.csv");

fn column<'a>(out: &'a Value, name: &str) -> &'a Value {
    out["columns"].as_array().and_then(|c| c.iter().find(|c| c["name"] == name)).unwrap_or_else(|| panic!("{name}"))
}

fn close(value: &Value, expected: f64) -> bool {
    value.as_f64().is_some_and(|v| (v - expected).abs() < 1e-6)
}

#[test]
fn metadata_is_complete_and_small() {
    check_metadata(&metadata(env!("CARGO_MANIFEST_DIR")));
}

#[test]
fn profiles_a_dirty_sales_export() {
    let meta = metadata(env!("CARGO_MANIFEST_DIR"));
    let input = json!({ "csv": SALES });
    agent_io::schema::check(&meta["inputSchema"], &input).expect("example input fits the input schema");

    let run = run(BIN, &envelope(input));
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    let out = run.json();
    agent_io::schema::check(&meta["outputSchema"], &out).expect("output fits the output schema");
    assert!(run.stderr.contains("csv-analyzer: 18 rows, 8 columns, 2 malformed rows"), "{}", run.stderr);

    assert_eq!(out["rows"], 18);
    assert_eq!(out["truncated"], false);
    assert_eq!(out["malformedRows"]["count"], 2);
    assert_eq!(
        out["malformedRows"]["examples"],
        json!([
            { "line": 18, "reason": "expected 8 fields, found 3" },
            { "line": 19, "reason": "expected 8 fields, found 9" }
        ])
    );

    let types: Vec<&str> =
        out["columns"].as_array().expect("columns").iter().filter_map(|c| c["type"].as_str()).collect();
    assert_eq!(types, ["int", "date", "string", "string", "int", "float", "float", "bool"]);

    // units: "N/A" is missing, "twelve" is invalid, 250 is an outlier by both rules.
    let units = column(&out, "units");
    assert_eq!(
        (units["count"].as_u64(), units["missing"].as_u64(), units["invalid"].as_u64()),
        (Some(17), Some(1), Some(1))
    );
    let n = &units["numeric"];
    assert!(close(&n["sum"], 359.0) && close(&n["mean"], 22.4375), "{n}");
    assert!(close(&n["std"], 60.918_491), "{n}");
    assert!(close(&n["min"], 1.0) && close(&n["q1"], 3.0) && close(&n["median"], 6.5) && close(&n["q3"], 11.25));
    assert!(close(&n["max"], 250.0));
    let o = &units["outliers"];
    assert!(close(&o["iqr"]["lowerFence"], -9.375) && close(&o["iqr"]["upperFence"], 23.625), "{o}");
    assert_eq!(o["iqr"]["lines"], json!([17]));
    assert_eq!(o["zScore"]["lines"], json!([17]));

    let price = column(&out, "unit_price");
    assert!(close(&price["numeric"]["mean"], 33.227_778) && close(&price["numeric"]["std"], 53.646_381));
    assert!(close(&price["numeric"]["median"], 7.49));
    assert_eq!(price["outliers"]["iqr"]["lines"], json!([5, 11, 16]));
    assert_eq!(price["outliers"]["zScore"]["count"], 0);

    let discount = column(&out, "discount");
    assert_eq!((discount["missing"].as_u64(), discount["invalid"].as_u64()), (Some(2), Some(0)));
    assert!(close(&discount["numeric"]["mean"], 0.046_875) && close(&discount["numeric"]["q3"], 0.0625));

    let region = column(&out, "region");
    assert_eq!(region["distinct"], 4);
    assert_eq!(region["topValues"][0], json!({ "value": "North", "count": 6 }));
    assert_eq!(region["topValues"][1], json!({ "value": "East", "count": 5 }));
    assert_eq!(
        column(&out, "product")["topValues"].as_array().map(|t| t.iter().any(|v| v["value"] == "Widget, large")),
        Some(true)
    );
    assert_eq!(column(&out, "returned")["bool"], json!({ "trueCount": 2, "falseCount": 16 }));
    assert_eq!(column(&out, "order_date")["date"], json!({ "min": "2024-03-01", "max": "2024-03-31" }));

    let correlations = out["correlations"].as_array().expect("correlations");
    let pair = |a: &str, b: &str| {
        correlations.iter().find(|c| c["a"] == a && c["b"] == b).unwrap_or_else(|| panic!("{a}/{b}"))
    };
    assert!(close(&pair("units", "discount")["r"], 0.643_023) && pair("units", "discount")["n"] == 14);
    assert!(close(&pair("units", "unit_price")["r"], -0.200_767) && pair("units", "unit_price")["n"] == 16);
    assert!(close(&pair("unit_price", "discount")["r"], 0.101_191));
    // Strongest first.
    let strengths: Vec<f64> = correlations.iter().filter_map(|c| c["r"].as_f64()).map(f64::abs).collect();
    assert!(strengths.windows(2).all(|w| w[0] >= w[1]), "{strengths:?}");
}

#[test]
fn row_limit_is_reported() {
    let run = run(BIN, &envelope(json!({ "csv": SALES, "maxRows": 5 })));
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    let out = run.json();
    assert_eq!((out["rows"].as_u64(), out["truncated"].as_bool()), (Some(5), Some(true)));
}

#[test]
fn invalid_input_exits_2_with_a_clear_message() {
    for (input, message) in [
        (json!({ "csv": "" }), "invalid input: the CSV has no header or rows"),
        (json!({ "csv": "a,b\n1,2", "delimiter": "::" }), "invalid input: delimiter must be a single ASCII character"),
        (json!({ "csv": "a\n1", "maxRows": 1_000_000 }), "invalid input: maxRows must be between 1 and 100000"),
        (json!({ "text": "a,b" }), "invalid input: unknown field `text`"),
    ] {
        let run = run(BIN, &envelope(input.clone()));
        assert_eq!(run.code, Some(2), "{input}: stderr {}", run.stderr);
        assert!(run.stderr.contains(message), "{input}: stderr {}", run.stderr);
    }
}

/// The shipped example input runs and fits both schemas.
#[test]
fn example_input_runs() {
    agent_io::testing::check_example_runs(env!("CARGO_MANIFEST_DIR"), BIN);
}
