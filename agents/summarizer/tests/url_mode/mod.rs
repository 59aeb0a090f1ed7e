//! URL mode: the page fetched through the real egress proxy (`AgentNet`) from
//! `https://en.wikipedia.org`, routed to the sandbox's Wikipedia-style pages upstream.

use agent_io::testing::{envelope, metadata, run, run_with_env};
use nexus_sandbox::harness::AgentNet;
use serde_json::{Value, json};

use super::BIN;

/// The harness routes `https://en.wikipedia.org` to the sandbox's pages upstream.
pub fn net() -> AgentNet {
    AgentNet::start(&metadata(env!("CARGO_MANIFEST_DIR"))).expect("harness")
}

fn run_on(net: &AgentNet, input: Value) -> agent_io::testing::Run {
    run_with_env(BIN, &envelope(input), &[("NEXUS_EGRESS_SOCKET", net.socket().as_os_str())])
}

#[test]
fn summarizes_a_fetched_article_without_its_furniture() {
    let net = net();
    let run = run_on(&net, json!({ "url": "https://en.wikipedia.org/wiki/Tide", "sentences": 3 }));
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    let out = run.json();
    agent_io::schema::check(&metadata(env!("CARGO_MANIFEST_DIR"))["outputSchema"], &out).expect("output schema");
    assert_eq!(out["source"]["url"], "https://en.wikipedia.org/wiki/Tide");
    assert_eq!(out["source"]["title"], "Tide - Wikipedia");
    assert_eq!(out["source"]["contentType"], "text/html");
    assert_eq!(out["source"]["truncated"], false);
    // The article's prose only: 11 sentences in 7 paragraphs; no headings, citation marks,
    // infobox, edit links, navigation, references or footer.
    assert_eq!(out["stats"]["sentenceCount"], 11, "{out:#}");
    let summary = out["summary"].as_str().expect("summary");
    for furniture in [
        "[1]",
        "edit",
        "Jump to content",
        "Main page",
        "Sandbox source",
        "Creative Commons",
        "Categories",
        "Period",
        "disambiguation",
    ] {
        assert!(!summary.contains(furniture), "{furniture}: {summary}");
    }
    // Hand-checked: the lead, the spring-tide sentence and the tidal-power sentence carry the
    // article's vocabulary (tide, Moon, Sun, pull); the sailors aside (8) is never picked.
    let indices: Vec<u64> =
        out["sentences"].as_array().expect("sentences").iter().filter_map(|s| s["index"].as_u64()).collect();
    assert_eq!(indices, [0, 6, 9], "{out:#}");
    assert!(
        summary.starts_with("Tides are the rise and fall of sea levels caused by the gravitational pull"),
        "{summary}"
    );
    std::thread::sleep(std::time::Duration::from_millis(100));
    let records = net.records();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(
        (records[0].method.as_str(), records[0].host.as_str(), records[0].path.as_str()),
        ("GET", "en.wikipedia.org", "/wiki/Tide")
    );
}

#[test]
fn url_failures_exit_with_the_contract_codes() {
    // No egress socket (the smoke run's case).
    let run = run(BIN, &envelope(json!({ "url": "https://en.wikipedia.org/wiki/Tide" })));
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("no network"), "{}", run.stderr);

    let net = net();
    for (input, message) in [
        (json!({ "url": "https://evil.example/wiki/Tide" }), "url must be an https URL"),
        (json!({ "url": "https://en.wikipedia.org/w/api.php?action=query" }), "url must be an https URL"),
        (json!({ "url": "https://en.wikipedia.org/wiki/Tide", "text": "Both." }), "give exactly one of text and url"),
        (json!({ "sentences": 2 }), "give exactly one of text and url"),
        // Checked before the fetch: no request is spent on it (see the records below).
        (json!({ "url": "https://en.wikipedia.org/wiki/Tide", "sentences": 0 }), "sentences must be between 1 and 100"),
        (json!({ "url": "https://en.wikipedia.org/wiki/No_such_page" }), "the page answered HTTP 404"),
    ] {
        let run = run_on(&net, input.clone());
        assert_eq!(run.code, Some(2), "{input}: stderr {}", run.stderr);
        assert!(run.stderr.contains(message), "{message}: stderr {}", run.stderr);
    }
    // Text mode never touches the network, socket or not.
    let run = run_on(&net, json!({ "text": "One sentence here." }));
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.json().get("source").is_none());
    // Only the 404 page was requested: URL and count errors were caught before sending.
    std::thread::sleep(std::time::Duration::from_millis(100));
    let paths: Vec<String> = net.records().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths, ["/wiki/No_such_page"]);
}
