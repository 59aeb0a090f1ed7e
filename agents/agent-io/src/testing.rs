//! Helpers for the agents' binary tests: run the built agent on an envelope exactly as the
//! relayer would (stdin in, stdout and stderr captured, exit code), and load its metadata, so
//! each agent's test is about its numbers rather than process plumbing.

use std::ffi::OsStr;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

/// What one run of an agent binary produced.
#[derive(Debug)]
pub struct Run {
    /// Exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Stdout parsed as the one JSON document the contract requires.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!("stdout is not one JSON document ({e}): {:?}\nstderr: {}", self.stdout, self.stderr)
        })
    }
}

/// The envelope the relayer writes, around `input`.
pub fn envelope(input: Value) -> String {
    json!({
        "requestId": "0x5f1c0000000000000000000000000000000000000000000000000000000000a1",
        "agentId": "1",
        "requester": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
        "input": input,
    })
    .to_string()
}

/// Runs `binary` with `stdin` and waits for it.
pub fn run(binary: &str, stdin: &str) -> Run {
    run_with_env(binary, stdin, &[])
}

/// Runs `binary` with `stdin` and extra environment variables (e.g.
/// [`crate::http::SOCKET_ENV`] pointing at a test egress socket) and waits for it.
pub fn run_with_env(binary: &str, stdin: &str, env: &[(&str, &OsStr)]) -> Run {
    let mut child = Command::new(binary)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
    let mut pipe = child.stdin.take().expect("stdin is piped");
    let input = stdin.to_string();
    // Write from a thread so a large input cannot deadlock against a full stdout pipe.
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(input.as_bytes());
    });
    let output = child.wait_with_output().expect("agent runs");
    writer.join().expect("stdin writer");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
    }
}

/// The agent's `metadata.json` (next to its Cargo.toml).
pub fn metadata(manifest_dir: &str) -> Value {
    let path = Path::new(manifest_dir).join("metadata.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Checks that `metadata.json` has what the registry's catalog reads and stays small: it goes
/// on-chain as a `data:` URI.
pub fn check_metadata(metadata: &Value) {
    for key in ["name", "description", "category", "inputSchema", "outputSchema"] {
        assert!(metadata.get(key).is_some(), "metadata.json lacks {key}");
    }
    let category = metadata["category"].as_str().unwrap_or_default();
    assert!(["General", "Crypto"].contains(&category), "category {category:?} is not an AgentRegistry Category");
    assert!(metadata["tags"].as_array().is_some_and(|t| t.iter().all(Value::is_string)), "tags must be strings");
    let size = metadata.to_string().len();
    assert!(size < 4096, "metadata.json is {size} bytes compact; keep it under 4 KiB");
}

/// `example.json` (next to the agent's Cargo.toml) is what the README and `nexus run` point
/// users at, and what `make agents` smoke-runs in the image: it must fit the input schema, and
/// `binary` must turn it into an output that fits the output schema.
pub fn check_example_runs(manifest_dir: &str, binary: &str) {
    check_example_runs_with_env(manifest_dir, binary, &[]);
}

/// [`check_example_runs`] with extra environment variables (an agent that needs the network
/// gets a test egress socket).
pub fn check_example_runs_with_env(manifest_dir: &str, binary: &str, env: &[(&str, &OsStr)]) {
    let meta = metadata(manifest_dir);
    let path = Path::new(manifest_dir).join("example.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let example: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    crate::schema::check(&meta["inputSchema"], &example).expect("example fits the input schema");
    let run = run_with_env(binary, &envelope(example), env);
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    crate::schema::check(&meta["outputSchema"], &run.json()).expect("output fits the output schema");
}
