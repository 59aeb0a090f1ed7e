//! The configuration as the real binary sees it: `--version`, JSON logs chosen through the
//! environment, and configuration errors that stop a command before it does anything. No chain
//! or database: every case ends before one would be needed (the indexer's first log line comes
//! before it connects).

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};

use alloy::primitives::Address;
use nexus_bindings::{ContractAddresses, Deployments, RoleHolders};

fn nexus() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_nexus"));
    // Only what each test sets: a developer's own NEXUS_* variables must not leak in.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("NEXUS_") {
            command.env_remove(name);
        }
    }
    command.env_remove("RUST_LOG");
    command
}

fn run(command: &mut Command) -> Output {
    command.stdin(Stdio::null()).output().expect("run nexus")
}

#[test]
fn version_prints_the_package_version() {
    let output = run(nexus().arg("--version"));
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(stdout.trim(), format!("nexus {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn nexus_log_format_json_writes_json_lines() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let deployments = dir.path().join("deployments.json");
    let zero = Address::ZERO;
    let contents = Deployments {
        chain_id: 31337,
        deployment_block: 1,
        contracts: ContractAddresses {
            agent_registry: zero,
            agent_marketplace: zero,
            usdc: zero,
            entry_point: None,
            nexus_account_factory: None,
            nexus_paymaster: None,
        },
        roles: RoleHolders { admin: zero, curator: zero, relayer: zero, treasury: zero, sponsor: None },
    };
    std::fs::write(&deployments, serde_json::to_vec(&contents).expect("json")).expect("write deployments");
    let mut child = nexus()
        .arg("indexer")
        .env("NEXUS_LOG_FORMAT", "json")
        .env("NEXUS_DEPLOYMENTS", &deployments)
        // Nothing listens there: the indexer logs that it starts, then fails to connect.
        .env("NEXUS_DATABASE_URL", "postgres://postgres@127.0.0.1:9/nexus")
        .env("NEXUS_RPC_URL", "http://127.0.0.1:9")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn nexus indexer");
    let mut line = String::new();
    let stdout = child.stdout.take().expect("stdout");
    BufReader::new(stdout).read_line(&mut line).expect("read the first log line");
    let _ = child.kill();
    let _ = child.wait();
    let event: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    assert_eq!(event["level"], "INFO", "{line}");
    assert_eq!(event["fields"]["message"], "starting indexer", "{line}");
    assert_eq!(event["fields"]["rpc"], "http://127.0.0.1:9", "{line}");
}

#[test]
fn an_unknown_key_stops_any_command_naming_the_key_and_the_file() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let config = dir.path().join("nexus.toml");
    std::fs::write(&config, "[relayer]\nconcurency = 4\n").expect("write the configuration");
    let output = run(nexus().arg("agents").env("NEXUS_CONFIG", &config));
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("relayer.concurency") && stderr.contains("nexus.toml"), "{stderr}");
}

#[test]
fn a_secret_file_that_cannot_be_read_stops_the_service() {
    let output = run(nexus().arg("relayer").env("NEXUS_RELAYER_KEY_FILE", "/nonexistent/relayer.key"));
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("key_file") && stderr.contains("/nonexistent/relayer.key"), "{stderr}");
}
