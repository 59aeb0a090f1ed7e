//! What the CLI tests against a fake API share: running the `nexus` binary as a user would.

#![allow(dead_code)]

use std::process::Output;

use nexus_testkit::Devnet;
use serde_json::{Value, json};

/// Anvil dev account 5: the buyer (no role in the deploy script).
pub const BUYER: usize = 5;

/// Runs `nexus` with `args` against the devnet and the API at `api`, as the buyer, with `dir` as
/// its home (session files). stdin is not a terminal (`output()` gives the child none).
pub async fn nexus(devnet: &Devnet, api: &str, dir: &std::path::Path, args: &[&str]) -> Output {
    let key = format!("0x{}", alloy::hex::encode(devnet.signer(BUYER).to_bytes()));
    tokio::process::Command::new(env!("CARGO_BIN_EXE_nexus"))
        .args(args)
        .env("NEXUS_RPC_URL", devnet.rpc_url())
        .env("NEXUS_DEPLOYMENTS", devnet.deployments_path())
        .env("NEXUS_GRAPHQL_URL", api)
        .env("NEXUS_PRIVATE_KEY", key)
        .env("HOME", dir)
        .output()
        .await
        .expect("run nexus")
}

/// The API's GraphQL as far as signing in goes: every challenge answered, every sign-in
/// accepted (the tests that use it are about what the CLI does with an output, not auth).
pub async fn sign_in_only(axum::Json(body): axum::Json<Value>) -> axum::Json<Value> {
    let query = body["query"].as_str().unwrap_or_default();
    axum::Json(if query.contains("signInChallenge") {
        json!({ "data": { "signInChallenge": { "nonce": "abcdef0123456789", "domain": "localhost", "chainId": null } } })
    } else {
        json!({ "data": { "signIn": { "token": "session" } } })
    })
}
