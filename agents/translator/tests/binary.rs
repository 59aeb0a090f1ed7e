//! Runs the built `agent-translator` binary as the relayer would, through the real egress proxy
//! to the sandbox's chat-completions upstream (`nexus_sandbox::harness::AgentNet`). The sandbox
//! answers with the last user message upper-cased, so chunk order and reassembly are checkable,
//! and it only accepts the operator's key, which the proxy injects: the agent sends none.

use std::ffi::OsStr;

use agent_io::testing::{check_example_runs_with_env, check_metadata, envelope, metadata, run_with_env};
use nexus_egress::Outcome;
use nexus_sandbox::SandboxConfig;
use nexus_sandbox::harness::AgentNet;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_agent-translator");

fn meta() -> Value {
    metadata(env!("CARGO_MANIFEST_DIR"))
}

fn run(net: &AgentNet, input: Value) -> agent_io::testing::Run {
    run_with_env(BIN, &envelope(input), &[("NEXUS_EGRESS_SOCKET", net.socket().as_os_str())])
}

/// Three paragraphs of 211, 134 and 240 characters: with 100-token (400-character) chunks, the
/// first two share a request and the third gets its own.
const POST: &str = "Agents on AgentNexus never hold keys. They run in a locked container and reach the network only through the relayer's egress proxy, which checks every request against the policy the curator approved with the listing.\n\nAn agent may propose an action. The proposal travels back to the buyer, whose wallet shows it decoded and asks before signing anything.\n\nOperators keep paid API keys in their own configuration. The proxy adds a key to a request only for the host and path prefix the agent declared, so a key can never be sent anywhere else, not even by a hostile agent.";

#[test]
fn metadata_is_complete_and_small() {
    check_metadata(&meta());
}

#[test]
fn the_example_runs_through_the_proxy() {
    let net = AgentNet::start(&meta()).expect("harness");
    check_example_runs_with_env(env!("CARGO_MANIFEST_DIR"), BIN, &[("NEXUS_EGRESS_SOCKET", net.socket().as_os_str())]);
}

#[test]
fn translates_a_long_text_chunk_by_chunk_with_the_injected_key() {
    let meta = meta();
    let net = AgentNet::start(&meta).expect("harness");
    let input = json!({
        "text": POST,
        "targetLanguage": "French",
        "maxChunkTokens": 100,
        "glossary": [{"source": "wallet", "target": "wallet"}, {"source": "proxy", "target": "mandataire"}]
    });
    agent_io::schema::check(&meta["inputSchema"], &input).expect("input fits the schema");
    let run = run(&net, input);
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    let out = run.json();
    agent_io::schema::check(&meta["outputSchema"], &out).expect("output fits the schema");

    // The sandbox "translates" to upper case: the reassembled text is the whole post, in order,
    // with its paragraph breaks.
    assert_eq!(out["translation"], POST.to_ascii_uppercase());
    assert_eq!(out["chunks"], 2);
    assert_eq!(out["usage"]["requests"], 2);
    assert_eq!(out["model"], "gpt-4o-mini");
    assert!(out["usage"]["promptTokens"].as_u64().is_some_and(|t| t > 200), "{out}");
    // "wallet" comes back as "WALLET" (the check ignores case); "proxy" never became
    // "mandataire": once in each chunk.
    let violations = out["glossaryViolations"].as_array().expect("array");
    let found: Vec<(u64, u64)> = violations
        .iter()
        .filter(|v| v["source"] == "proxy")
        .filter_map(|v| Some((v["chunk"].as_u64()?, v["expected"].as_u64()?)))
        .collect();
    assert_eq!(found, [(0, 1), (1, 1)], "{out:#}");
    assert_eq!(violations.len(), 2, "{out:#}");
    assert!(run.stderr.contains("translator: 2 chunks, 2 requests, 2 glossary violations"), "{}", run.stderr);

    std::thread::sleep(std::time::Duration::from_millis(100));
    let records = net.records();
    assert_eq!(records.len(), 2);
    assert!(records.iter().all(|r| r.host == "api.openai.com" && r.outcome == Outcome::Status(200)), "{records:?}");
}

#[test]
fn a_wrong_operator_key_fails_with_a_clear_message() {
    let net = AgentNet::builder(&meta()).secret("openai", "Bearer sk-wrong-key").start().expect("harness");
    let run = run(&net, json!({"text": "Hello", "targetLanguage": "German"}));
    assert_eq!(run.code, Some(1), "stderr: {}", run.stderr);
    assert!(
        run.stderr.contains("rejected the operator's key (HTTP 401: Incorrect API key provided: ****-key.)"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_chunk_over_the_models_context_fails_and_names_the_fix() {
    let config = SandboxConfig { openai_max_context_tokens: 200, ..SandboxConfig::default() };
    let net = AgentNet::builder(&meta()).sandbox(config).start().expect("harness");
    let run = run(&net, json!({"text": POST, "targetLanguage": "German", "maxChunkTokens": 1000}));
    assert_eq!(run.code, Some(1), "stderr: {}", run.stderr);
    assert!(run.stderr.contains("chunk 0 does not fit the model's context"), "{}", run.stderr);
    assert!(run.stderr.contains("lower maxChunkTokens"), "{}", run.stderr);
}

#[test]
fn without_a_socket_it_says_no_network() {
    let missing = OsStr::new("/nonexistent/egress.sock");
    let run = run_with_env(
        BIN,
        &envelope(json!({"text": "Hi", "targetLanguage": "German"})),
        &[("NEXUS_EGRESS_SOCKET", missing)],
    );
    assert_eq!(run.code, Some(1), "stderr: {}", run.stderr);
    assert!(run.stderr.contains("no network"), "{}", run.stderr);
}

#[test]
fn invalid_input_exits_2_before_any_request() {
    let net = AgentNet::start(&meta()).expect("harness");
    for (input, message) in [
        (json!({"text": "Hi", "targetLanguage": "German", "model": "o1-pro"}), "model \"o1-pro\" is not offered"),
        (json!({"text": "Hi"}), "missing field `targetLanguage`"),
        (json!({"text": "Hi", "targetLanguage": "German", "maxChunkTokens": 5}), "maxChunkTokens must be in"),
    ] {
        let run = run(&net, input);
        assert_eq!(run.code, Some(2), "stderr: {}", run.stderr);
        assert!(run.stderr.contains(message), "{}", run.stderr);
    }
    assert!(net.records().is_empty());
}
