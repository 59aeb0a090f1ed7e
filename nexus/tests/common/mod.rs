//! Shared by the tests that run the `nexus` binary against a devnet and a fake API.

use std::process::Output;

use nexus_testkit::Devnet;

/// Anvil dev account 5: the buyer (no role in the deploy script).
pub const BUYER: usize = 5;

/// Runs `nexus` with `args` against the devnet and the fake API at `api`, as the buyer, with
/// `home` as its home directory. stdin is not a terminal (`output()` gives the child none).
pub async fn nexus(devnet: &Devnet, api: &str, home: &std::path::Path, args: &[&str]) -> Output {
    let key = format!("0x{}", alloy::hex::encode(devnet.signer(BUYER).to_bytes()));
    tokio::process::Command::new(env!("CARGO_BIN_EXE_nexus"))
        .args(args)
        .env("NEXUS_RPC_URL", devnet.rpc_url())
        .env("NEXUS_DEPLOYMENTS", devnet.deployments_path())
        .env("NEXUS_GRAPHQL_URL", api)
        .env("NEXUS_PRIVATE_KEY", key)
        .env("HOME", home)
        .output()
        .await
        .expect("run nexus")
}
