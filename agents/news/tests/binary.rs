//! Runs the built `agent-news` binary as the relayer would: the real feed URLs of its metadata,
//! through the real egress proxy, routed to the sandbox's feeds upstream (which serves the
//! same story fixture at those publishers' paths, `nexus_sandbox::feeds::REAL_PATHS`).

use std::ffi::OsStr;

use agent_io::testing::{check_example_runs_with_env, check_metadata, envelope, metadata, run_with_env};
use nexus_egress::Outcome;
use nexus_sandbox::harness::{AgentNet, SandboxUpstream};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_agent-news");
const BBC: &str = "https://feeds.bbci.co.uk/news/world/rss.xml";
const COINDESK: &str = "https://www.coindesk.com/arc/outboundfeeds/rss/";
const VERGE: &str = "https://www.theverge.com/rss/index.xml";
/// A test-only publisher whose paths are the sandbox's own (`/feeds/broken.rss`, 404s).
const TEST_HOST: &str = "https://feeds.example.org";

fn meta() -> Value {
    metadata(env!("CARGO_MANIFEST_DIR"))
}

/// The sandbox with the real feed hosts routed to its feeds upstream (the harness' defaults);
/// `extra_rule` adds [`TEST_HOST`] to the policy, routed there too.
fn start(extra_rule: bool) -> AgentNet {
    let mut meta = meta();
    if extra_rule {
        let rule =
            json!({"scheme": "https", "host": "feeds.example.org", "methods": ["GET"], "pathPrefixes": ["/feeds/"]});
        meta["network"]["rules"].as_array_mut().expect("rules").push(rule);
    }
    AgentNet::builder(&meta).route_to(TEST_HOST, SandboxUpstream::Feeds).start().expect("harness")
}

fn run(net: &AgentNet, input: Value) -> agent_io::testing::Run {
    run_with_env(BIN, &envelope(input), &[("NEXUS_EGRESS_SOCKET", net.socket().as_os_str())])
}

#[test]
fn metadata_is_complete_and_small() {
    check_metadata(&meta());
}

#[test]
fn the_example_runs_through_the_proxy() {
    let net = start(false);
    check_example_runs_with_env(env!("CARGO_MANIFEST_DIR"), BIN, &[("NEXUS_EGRESS_SOCKET", net.socket().as_os_str())]);
}

#[test]
fn aggregates_three_real_feeds_into_ranked_stories() {
    let meta = meta();
    let net = start(false);
    let input = json!({"feeds": [BBC, COINDESK, VERGE], "maxStories": 5});
    let run = run(&net, input);
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    let out = run.json();
    agent_io::schema::check(&meta["outputSchema"], &out).expect("output fits the schema");
    assert!(run.stderr.contains("news: 3 feeds read, 14 items, 6 duplicates, 8 stories"), "{}", run.stderr);

    // The sandbox's newest item: the ETH story's third copy, 1 h 20 min before its "now".
    assert_eq!(out["now"], "2026-12-06T22:40:00Z");
    let feeds: Vec<(&str, &str)> = out["feeds"]
        .as_array()
        .expect("feeds")
        .iter()
        .filter_map(|f| Some((f["format"].as_str()?, f["title"].as_str()?)))
        .collect();
    assert_eq!(feeds, [("rss", "Sandbox world wire"), ("rss", "Sandbox markets wire"), ("atom", "Sandbox tech wire")]);

    // Hand-ranked from the fixture: three sources first, then the two-source stories newest
    // first (5, 11, 14, 20 hours old).
    let stories = out["stories"].as_array().expect("stories");
    let ranked: Vec<(&str, u64)> =
        stories.iter().filter_map(|s| Some((s["title"].as_str()?, s["sourceCount"].as_u64()?))).collect();
    assert_eq!(
        ranked,
        [
            ("ETH funds see record inflows as \"staking\" debate returns", 3),
            ("Layer-2 fees fall 40% after blob upgrade", 2),
            ("Storm closes North Sea ports for 48 hours", 2),
            ("New chip export rules take effect", 2),
            ("Central bank holds rates, signals cuts in Q2", 2),
        ]
    );
    let eth = &stories[0];
    assert_eq!(eth["summary"], "Net inflows into ether products topped $1bn in a week.");
    assert_eq!(eth["published"], "2026-12-06T22:00:00Z");
    assert!(eth["link"].as_str().is_some_and(|l| l.ends_with("/stories/eth-etf-inflows?utm_source=markets")), "{eth}");
    let sources: Vec<&str> =
        eth["sources"].as_array().expect("sources").iter().filter_map(|s| s["feed"].as_str()).collect();
    assert_eq!(sources, ["Sandbox markets wire", "Sandbox tech wire", "Sandbox world wire"]);
    // 3 sources + 0.5^((40 min) / 12 h).
    let expected = 3.0 + 0.5f64.powf((40.0 / 60.0) / 12.0);
    assert!((eth["score"].as_f64().expect("score") - expected).abs() < 1e-3, "{eth}");

    std::thread::sleep(std::time::Duration::from_millis(100));
    let hosts: Vec<(String, Outcome)> = net.records().into_iter().map(|r| (r.host, r.outcome)).collect();
    assert_eq!(hosts.len(), 3);
    assert!(hosts.iter().all(|(_, o)| *o == Outcome::Status(200)), "{hosts:?}");
}

#[test]
fn broken_missing_and_refused_feeds_are_reported_not_fatal() {
    let net = start(true);
    let input = json!({"feeds": [
        format!("{TEST_HOST}/feeds/broken.rss"),
        format!("{TEST_HOST}/feeds/missing.rss"),
        "https://evil.example.com/rss",
        VERGE,
    ]});
    let run = run(&net, input);
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    let out = run.json();
    let feeds = out["feeds"].as_array().expect("feeds");
    let ok: Vec<bool> = feeds.iter().filter_map(|f| f["ok"].as_bool()).collect();
    assert_eq!(ok, [false, false, false, true]);
    let error = |i: usize| feeds[i]["error"].as_str().unwrap_or_default().to_owned();
    assert!(error(0).contains("malformed XML"), "{}", error(0));
    assert!(error(1).starts_with("HTTP 404"), "{}", error(1));
    assert!(error(2).contains("egress refused"), "{}", error(2));
    assert_eq!(out["stats"]["stories"], 5);
    assert!(run.stderr.contains("news: feed 0 skipped: malformed XML"), "{}", run.stderr);
    assert!(!run.stderr.contains("evil.example.com/rss"), "log lines never echo the input: {}", run.stderr);
}

#[test]
fn fails_when_no_feed_can_be_read() {
    let net = start(true);
    let run = run(&net, json!({"feeds": [format!("{TEST_HOST}/feeds/broken.atom")]}));
    assert_eq!(run.code, Some(1), "stderr: {}", run.stderr);
    assert!(run.stderr.contains("no feed could be read: malformed XML"), "{}", run.stderr);
}

#[test]
fn without_a_socket_it_says_no_network() {
    let missing = OsStr::new("/nonexistent/egress.sock");
    let run = run_with_env(BIN, &envelope(json!({"feeds": [BBC]})), &[("NEXUS_EGRESS_SOCKET", missing)]);
    assert_eq!(run.code, Some(1), "stderr: {}", run.stderr);
    assert!(run.stderr.contains("no network"), "{}", run.stderr);
}

#[test]
fn invalid_input_exits_2() {
    let net = start(false);
    for (input, message) in [
        (json!({"feeds": []}), "feeds must list 1..=16 URLs"),
        (json!({"feeds": ["file:///etc/passwd"]}), "feed 0 is not an absolute http(s) URL"),
        (json!({"feeds": [BBC], "now": "soon"}), "now is not an RFC 3339 date"),
        (json!({"feeds": [BBC], "color": "red"}), "unknown field `color`"),
    ] {
        let run = run(&net, input);
        assert_eq!(run.code, Some(2), "stderr: {}", run.stderr);
        assert!(run.stderr.contains(message), "{}", run.stderr);
    }
    assert!(net.records().is_empty());
}
