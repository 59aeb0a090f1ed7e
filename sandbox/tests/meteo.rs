//! Open-Meteo upstream: the forecast's documented shape, timezones, validation errors in
//! `{"error": true, "reason"}` form, determinism.

use nexus_sandbox::{Sandbox, SandboxConfig};
use serde_json::Value;

async fn forecast(sandbox: &Sandbox, query: &str) -> (u16, Value) {
    let response = reqwest::get(format!("{}/v1/forecast?{query}", sandbox.meteo.base_url)).await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

const QUERY: &str = "latitude=52.52&longitude=13.41&hourly=temperature_2m,precipitation,wind_speed_10m";

#[tokio::test]
async fn forecast_has_the_documented_shape() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let (status, body) = forecast(&sandbox, &format!("{QUERY}&timezone=Europe%2FBerlin&forecast_days=3")).await;
    assert_eq!(status, 200);
    assert_eq!(body["latitude"], 52.5);
    assert_eq!(body["longitude"], 13.4);
    assert_eq!(body["utc_offset_seconds"], 3600);
    assert_eq!(body["timezone"], "Europe/Berlin");
    assert_eq!(body["timezone_abbreviation"], "CET");
    assert!(body["elevation"].is_number() && body["generationtime_ms"].is_number());
    let units = &body["hourly_units"];
    assert_eq!(units["time"], "iso8601");
    assert_eq!(units["temperature_2m"], "°C");
    assert_eq!(units["precipitation"], "mm");
    assert_eq!(units["wind_speed_10m"], "km/h");
    let hourly = &body["hourly"];
    let times = hourly["time"].as_array().unwrap();
    assert_eq!(times.len(), 72);
    // The sandbox's now is 2026-12-07T00:00Z; Berlin's local day starts at 00:00 local.
    assert_eq!(times[0], "2026-12-07T00:00");
    assert_eq!(times[71], "2026-12-09T23:00");
    for variable in ["temperature_2m", "precipitation", "wind_speed_10m"] {
        let values = hourly[variable].as_array().unwrap();
        assert_eq!(values.len(), 72, "{variable}");
        assert!(values.iter().all(Value::is_number));
    }
    let temps: Vec<f64> = hourly["temperature_2m"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert!(temps.iter().all(|t| (-30.0..40.0).contains(t)));
    // The diurnal cycle: afternoon warmer than pre-dawn on average.
    let at = |h: usize| (0..3).map(|d| temps[d * 24 + h]).sum::<f64>();
    assert!(at(15) > at(3));
    let precipitation = hourly["precipitation"].as_array().unwrap();
    assert!(precipitation.iter().all(|p| p.as_f64().unwrap() >= 0.0));
}

#[tokio::test]
async fn defaults_and_auto_timezone() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let (_, body) = forecast(&sandbox, "latitude=35.68&longitude=139.76&hourly=temperature_2m&timezone=auto").await;
    assert_eq!(body["utc_offset_seconds"], 9 * 3600);
    assert_eq!(body["hourly"]["time"].as_array().unwrap().len(), 7 * 24);
    let (_, body) = forecast(&sandbox, "latitude=1&longitude=2").await;
    assert_eq!(body["timezone"], "GMT");
    assert!(body.get("hourly").is_none(), "no variables asked, none served");
}

#[tokio::test]
async fn bad_parameters_get_open_meteo_errors() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let cases = [
        ("longitude=13.41&hourly=temperature_2m", "must have the same number of elements"),
        ("latitude=91&longitude=0", "Latitude must be in range of -90 to 90°. Given: 91.0."),
        ("latitude=0&longitude=-181", "Longitude must be in range"),
        ("latitude=north&longitude=0", "Value of type 'Float' required for key 'latitude'."),
        ("latitude=0&longitude=0&forecast_days=17", "out of allowed range from 0 to 16"),
        (
            "latitude=0&longitude=0&hourly=temperature_2m,snow_depth_9m",
            "invalid String value snow_depth_9m for key hourly",
        ),
        ("latitude=0&longitude=0&timezone=Mars%2FOlympus", "Invalid timezone"),
    ];
    for (query, reason) in cases {
        let (status, body) = forecast(&sandbox, query).await;
        assert_eq!(status, 400, "{query}");
        assert_eq!(body["error"], true, "{query}");
        assert!(body["reason"].as_str().unwrap().contains(reason), "{query}: {body}");
    }
}

#[tokio::test]
async fn forecasts_are_deterministic_and_seeded() {
    let a = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let b = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let c = Sandbox::start(SandboxConfig { seed: 1, ..SandboxConfig::default() }).await.unwrap();
    assert_eq!(forecast(&a, QUERY).await, forecast(&b, QUERY).await);
    assert_ne!(forecast(&a, QUERY).await.1["hourly"], forecast(&c, QUERY).await.1["hourly"]);
}
