//! Runs the built `agent-weather-alerts` binary against the sandbox's Open-Meteo upstream
//! through the real egress proxy (`AgentNet`): the agent names `https://api.open-meteo.com`,
//! the harness routes it to the sandbox. Expected windows were read by hand off the sandbox's
//! raw hourly answer for Berlin (seed 15, 2026-12-07, `Europe/Berlin` = CET, UTC+1).

use std::ffi::OsStr;

use agent_io::testing::{check_metadata, envelope, metadata, run_with_env};
use nexus_sandbox::harness::AgentNet;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_agent-weather-alerts");

fn run_on(net: &AgentNet, input: Value) -> agent_io::testing::Run {
    run_with_env(BIN, &envelope(input), &[("NEXUS_EGRESS_SOCKET", net.socket().as_os_str())])
}

fn berlin(rules: Value) -> Value {
    json!({"latitude": 52.52, "longitude": 13.41, "timezone": "Europe/Berlin", "forecastDays": 2, "rules": rules})
}

#[test]
fn metadata_is_complete_and_small() {
    check_metadata(&metadata(env!("CARGO_MANIFEST_DIR")));
}

#[test]
fn merges_hours_into_windows_with_local_and_utc_times() {
    let meta = metadata(env!("CARGO_MANIFEST_DIR"));
    let net = AgentNet::start(&meta).expect("starts");
    let input = berlin(json!([
        {"variable": "wind_gusts_10m", "above": 60, "minHours": 2, "label": "Storm gusts"},
        {"variable": "temperature_2m", "below": 0, "label": "Frost"},
        {"variable": "precipitation", "above": 5}
    ]));
    agent_io::schema::check(&meta["inputSchema"], &input).expect("input fits the schema");
    let run = run_on(&net, input);
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    let out = run.json();
    agent_io::schema::check(&meta["outputSchema"], &out).expect("output fits the schema");
    assert!(run.stderr.contains("48 hours in Europe/Berlin, 7 alert window(s)"), "{}", run.stderr);
    assert_eq!(
        (&out["latitude"], &out["longitude"], &out["timezone"], &out["timezoneAbbreviation"], &out["utcOffsetSeconds"]),
        (&json!(52.5), &json!(13.4), &json!("Europe/Berlin"), &json!("CET"), &json!(3600))
    );
    assert_eq!((&out["from"], &out["to"]), (&json!("2026-12-07T00:00"), &json!("2026-12-08T23:00")));

    let windows: Vec<(u64, &str, &str, &str, u64, f64, &str)> = out["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .map(|a| {
            (
                a["rule"].as_u64().unwrap_or(99),
                a["start"].as_str().unwrap_or_default(),
                a["end"].as_str().unwrap_or_default(),
                a["startUtc"].as_str().unwrap_or_default(),
                a["hours"].as_u64().unwrap_or_default(),
                a["peak"].as_f64().unwrap_or_default(),
                a["peakTime"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        windows,
        [
            // Frost from local midnight: -0.3 … -1.7 °C until 06:00 (-0.0 is not below 0); it
            // starts the previous day in UTC.
            (1, "2026-12-07T00:00", "2026-12-07T06:00", "2026-12-06T23:00Z", 6, -2.6, "2026-12-07T03:00"),
            // Gusts 88.6, 102.2, 67.2, 87.8, 75.1, 102.2 km/h from 13:00: the first 102.2 peaks.
            (0, "2026-12-07T13:00", "2026-12-07T19:00", "2026-12-07T12:00Z", 6, 102.2, "2026-12-07T14:00"),
            (2, "2026-12-07T14:00", "2026-12-07T19:00", "2026-12-07T13:00Z", 5, 9.0, "2026-12-07T18:00"),
            // -0.6 at midnight, then -0.0 at 01:00 breaks the run.
            (1, "2026-12-08T00:00", "2026-12-08T01:00", "2026-12-07T23:00Z", 1, -0.6, "2026-12-08T00:00"),
            (1, "2026-12-08T02:00", "2026-12-08T07:00", "2026-12-08T01:00Z", 5, -1.7, "2026-12-08T03:00"),
            (2, "2026-12-08T13:00", "2026-12-08T14:00", "2026-12-08T12:00Z", 1, 5.3, "2026-12-08T13:00"),
            (2, "2026-12-08T21:00", "2026-12-08T22:00", "2026-12-08T20:00Z", 1, 5.5, "2026-12-08T21:00"),
        ]
    );
    assert_eq!(out["alerts"][1]["endUtc"], "2026-12-07T18:00Z");
    assert_eq!(out["alerts"][1]["unit"], "km/h");
    // The 61.3 km/h hour on the 8th is one hour: under the gust rule's 2-hour minimum.
    let summaries: Vec<(&str, u64, u64)> = out["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .map(|r| {
            (
                r["label"].as_str().unwrap_or_default(),
                r["matchingHours"].as_u64().unwrap_or(0),
                r["alerts"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(summaries, [("Storm gusts", 7, 1), ("Frost", 12, 3), ("precipitation > 5 mm", 7, 3)]);

    let records = net.records_at_least(1);
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(
        (records[0].method.as_str(), records[0].host.as_str(), records[0].path.as_str()),
        ("GET", "api.open-meteo.com", "/v1/forecast")
    );
}

#[test]
fn auto_timezone_uses_the_offset_the_api_returns() {
    let net = AgentNet::start(&metadata(env!("CARGO_MANIFEST_DIR"))).expect("starts");
    // Los Angeles' longitude: `auto` is the sandbox's nominal GMT-8 there.
    let input = json!({"latitude": 34.05, "longitude": -118.24, "forecastDays": 1,
                       "rules": [{"variable": "temperature_2m", "above": -100}]});
    let run = run_on(&net, input);
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    let out = run.json();
    assert_eq!((&out["timezone"], &out["utcOffsetSeconds"]), (&json!("GMT-8"), &json!(-28_800)));
    // Every hour matches: one 24-hour window. The sandbox's "now" (2026-12-07T00:00Z) is still
    // the 6th at UTC-8, so the local day starts at 2026-12-06T00:00 = 08:00 UTC.
    let alert = &out["alerts"][0];
    assert_eq!(
        (&alert["start"], &alert["end"], &alert["hours"]),
        (&json!("2026-12-06T00:00"), &json!("2026-12-07T00:00"), &json!(24))
    );
    assert_eq!((&alert["startUtc"], &alert["endUtc"]), (&json!("2026-12-06T08:00Z"), &json!("2026-12-07T08:00Z")));
}

#[test]
fn api_refusals_are_input_errors_and_network_failures_exit_1() {
    let meta = metadata(env!("CARGO_MANIFEST_DIR"));
    // Open-Meteo's own 400 names the bad parameter: the user's input, exit 2.
    let net = AgentNet::start(&meta).expect("starts");
    let mut input = berlin(json!([{"variable": "precipitation", "above": 1}]));
    input["timezone"] = json!("Mars/Olympus");
    let run = run_on(&net, input);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("invalid input: Open-Meteo refused the request: Invalid timezone"), "{}", run.stderr);

    // The upstream unreachable: the proxy's 502, exit 1.
    let down =
        AgentNet::builder(&meta).route("https://api.open-meteo.com", "http://127.0.0.1:9").start().expect("starts");
    let run = run_on(&down, berlin(json!([{"variable": "precipitation", "above": 1}])));
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("error: Open-Meteo forecast: HTTP 502"), "{}", run.stderr);

    // A listing that allows another path: the proxy refuses, exit 1 (not an input error).
    let mut narrow = meta.clone();
    narrow["network"]["rules"][0]["pathPrefixes"] = json!(["/v1/archive"]);
    let net = AgentNet::start(&narrow).expect("starts");
    let run = run_on(&net, berlin(json!([{"variable": "precipitation", "above": 1}])));
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("Open-Meteo forecast: HTTP 403: egress refused"), "{}", run.stderr);

    // No socket at all.
    let run = run_with_env(
        BIN,
        &envelope(berlin(json!([{"variable": "precipitation", "above": 1}]))),
        &[("NEXUS_EGRESS_SOCKET", OsStr::new("/nonexistent/egress.sock"))],
    );
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("no network"), "{}", run.stderr);
}

#[test]
fn invalid_input_exits_2_before_any_request() {
    let net = AgentNet::start(&metadata(env!("CARGO_MANIFEST_DIR"))).expect("starts");
    let rule = json!({"variable": "precipitation", "above": 1});
    for (input, message) in [
        (json!({"latitude": 95, "longitude": 0, "rules": [rule]}), "latitude must be between -90 and 90, got 95"),
        (json!({"latitude": 0, "longitude": 0, "rules": []}), "rules must have 1 to 16 entries, got 0"),
        (
            json!({"latitude": 0, "longitude": 0, "rules": [{"variable": "precipitation"}]}),
            "rules[0] needs exactly one of above and below",
        ),
        (
            json!({"latitude": 0, "longitude": 0, "rules": [{"variable": "snowfall", "above": 1}]}),
            "unknown variant `snowfall`",
        ),
        (
            json!({"latitude": 0, "longitude": 0, "forecastDays": 17, "rules": [rule]}),
            "forecastDays must be between 1 and 16, got 17",
        ),
        (
            json!({"latitude": 0, "longitude": 0, "timezone": "a&b", "rules": [rule]}),
            "timezone \"a&b\" is not an IANA name, GMT or auto",
        ),
        (
            json!({"latitude": 0, "longitude": 0, "rules": [{"variable": "precipitation", "above": 1, "minHours": 0}]}),
            "rules[0].minHours must be between 1 and 72, got 0",
        ),
    ] {
        let run = run_on(&net, input.clone());
        assert_eq!(run.code, Some(2), "{input}: {}", run.stderr);
        assert!(run.stderr.contains(message), "{message}: {}", run.stderr);
    }
    assert!(net.records().is_empty(), "{:?}", net.records());
}

/// The shipped example input runs and fits both schemas.
#[test]
fn example_input_runs() {
    let net = AgentNet::start(&metadata(env!("CARGO_MANIFEST_DIR"))).expect("starts");
    agent_io::testing::check_example_runs_with_env(
        env!("CARGO_MANIFEST_DIR"),
        BIN,
        &[("NEXUS_EGRESS_SOCKET", net.socket().as_os_str())],
    );
}
