//! Runs the built `agent-summarizer` binary on a realistic envelope, as the relayer would, and
//! checks the output against the published output schema and hand-checked values.

use agent_io::testing::{check_metadata, envelope, metadata, run};
use serde_json::{Value, json};

mod url_mode;

const BIN: &str = env!("CARGO_BIN_EXE_agent-summarizer");

/// A short news-style report (written for this test) with abbreviations, decimals, a quote and
/// an off-topic aside.
const ARTICLE: &str = "The city council approved a 3.5 million euro expansion of the bike-sharing network on Tuesday. \
The plan adds 120 docking stations and 900 electric bikes across the eastern districts by the end of next year. \
Dr. Ana Ruiz, who leads the transport department, said the bike-sharing network already carries 14,000 trips a day. \
\"Demand has outgrown the stations we have,\" she told reporters after the vote. \
The council also renamed a small park near the old harbour after a local poet. \
Critics argued that the money should go to bus lanes, e.g. on the ring road, instead of more bikes. \
Supporters replied that electric bikes reach the eastern districts faster than any new bus line could. \
The first new docking stations are expected to open in the spring.";

#[test]
fn metadata_is_complete_and_small() {
    check_metadata(&metadata(env!("CARGO_MANIFEST_DIR")));
}

#[test]
fn summarizes_a_news_report() {
    let meta = metadata(env!("CARGO_MANIFEST_DIR"));
    let input = json!({ "text": ARTICLE, "sentences": 3 });
    agent_io::schema::check(&meta["inputSchema"], &input).expect("example input fits the input schema");

    let run = run(BIN, &envelope(input));
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    let out = run.json();
    agent_io::schema::check(&meta["outputSchema"], &out).expect("output fits the output schema");
    assert!(run.stderr.contains("summarizer: 8 sentences, 3 selected"), "stderr: {}", run.stderr);

    // Eight sentences: "Dr.", "e.g." and "3.5" do not split, the quote stays whole.
    assert_eq!(out["stats"]["sentenceCount"], 8);
    assert_eq!(out["stats"]["wordCount"], 128);
    let indices: Vec<u64> =
        out["sentences"].as_array().expect("array").iter().filter_map(|s| s["index"].as_u64()).collect();
    // Hand-checked: the lead and the expansion details carry the story, and the supporters'
    // reply repeats its vocabulary (electric bikes, eastern districts), so it outranks the usage
    // figure. The park renaming (4) and the quote (3) must never be picked.
    assert_eq!(indices, [0, 1, 6], "{out:#}");
    assert!(out["sentences"][2]["text"].as_str().is_some_and(|t| t.starts_with("Supporters replied")));
    let summary = out["summary"].as_str().expect("summary");
    assert!(summary.starts_with("The city council approved a 3.5 million euro expansion"));
    let keywords: Vec<&str> = out["keywords"].as_array().expect("keywords").iter().filter_map(Value::as_str).collect();
    assert!(keywords.contains(&"bike") && keywords.contains(&"district"), "{keywords:?}");
}

#[test]
fn the_off_topic_aside_scores_lowest() {
    let run = run(BIN, &envelope(json!({ "text": ARTICLE, "sentences": 8 })));
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    let out = run.json();
    let scored: Vec<(u64, f64)> = out["sentences"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|s| Some((s["index"].as_u64()?, s["score"].as_f64()?)))
        .collect();
    assert_eq!(scored.len(), 8);
    let lowest = scored.iter().min_by(|a, b| a.1.total_cmp(&b.1)).map(|s| s.0);
    assert_eq!(lowest, Some(4), "{scored:?}");
}

#[test]
fn empty_text_is_a_valid_empty_summary() {
    let run = run(BIN, &envelope(json!({ "text": "" })));
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    let out = run.json();
    assert_eq!(out["summary"], "");
    assert_eq!(out["sentences"], json!([]));
}

#[test]
fn invalid_input_exits_2_with_a_clear_message() {
    for (stdin, message) in [
        (envelope(json!({ "txt": "typo" })), "invalid input: unknown field `txt`"),
        (envelope(json!({ "text": "Hi.", "sentences": 0 })), "invalid input: sentences must be between 1 and 100"),
        ("{not json".to_string(), "invalid envelope"),
    ] {
        let run = run(BIN, &stdin);
        assert_eq!(run.code, Some(2), "{stdin}: stderr {}", run.stderr);
        assert!(run.stdout.is_empty());
        assert!(run.stderr.contains(message), "{stdin}: stderr {}", run.stderr);
    }
}

/// The shipped text example fits both schemas with no network at all.
#[test]
fn example_input_runs() {
    agent_io::testing::check_example_runs(env!("CARGO_MANIFEST_DIR"), BIN);
}

/// The URL-mode example runs through the proxy against the sandbox's pages and its output fits
/// the output schema.
#[test]
fn url_example_runs_through_the_proxy() {
    let net = url_mode::net();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("example-url.json");
    let input: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).expect("example-url.json"))
        .expect("example-url.json is JSON");
    let meta = agent_io::testing::metadata(env!("CARGO_MANIFEST_DIR"));
    agent_io::schema::check(&meta["inputSchema"], &input).expect("fits the input schema");
    let run = agent_io::testing::run_with_env(
        BIN,
        &agent_io::testing::envelope(input),
        &[("NEXUS_EGRESS_SOCKET", net.socket().as_os_str())],
    );
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    agent_io::schema::check(&meta["outputSchema"], &run.json()).expect("fits the output schema");
}
