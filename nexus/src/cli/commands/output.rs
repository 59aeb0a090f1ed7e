//! `nexus output`: sign in (as the key or its smart account) and print an execution's private
//! output, neutralised for the terminal.

use alloy::primitives::U256;
use anyhow::Context;
use nexus_accounts::SmartAccount;
use nexus_bindings::NexusAccount;
use serde_json::Value;

use super::super::api::Api;
use super::super::chain::Chain;
use super::super::terminal::{clean, json_for_terminal};

/// A bearer token for the key's address, or for its smart account when given: then EIP-1271,
/// the owner signing the account's replay-safe hash of the message.
pub(super) async fn sign_in(
    api: &Api,
    chain: &Chain,
    signer: &alloy::signers::local::PrivateKeySigner,
    smart: Option<&SmartAccount>,
) -> anyhow::Result<String> {
    let chain_id = chain.deployments.chain_id;
    let session = match smart {
        None => api.sign_in(signer, chain_id).await,
        Some(smart) => {
            let wallet = NexusAccount::new(smart.address(), chain.provider.clone());
            api.sign_in_as(smart.address(), chain_id, async |message: String| {
                use alloy::signers::Signer;
                let hash = wallet
                    .replaySafeHash(alloy::primitives::eip191_hash_message(&message))
                    .call()
                    .await
                    .map_err(|e| e.to_string())?;
                signer.sign_hash(&hash).await.map(|s| s.as_bytes().to_vec()).map_err(|e| e.to_string())
            })
            .await
        }
    };
    session.context("signing in to read the output")
}

pub(super) async fn print_output(api: &Api, id: U256, session: &str) -> anyhow::Result<()> {
    let bytes = api.output(id, session).await.with_context(|| format!("reading execution {id}'s output"))?;
    print_bytes(&bytes);
    Ok(())
}

/// An agent's output: JSON pretty-printed (still the same JSON, control and bidi characters
/// escaped as `\uXXXX`), anything else as text with them shown as `\u{..}`. Even when stdout
/// is a file: such a file is read on a terminal next.
pub(super) fn print_bytes(bytes: &[u8]) {
    println!("{}", output_text(bytes));
}

pub(super) fn output_text(bytes: &[u8]) -> String {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v) => json_for_terminal(&v),
        Err(_) => clean(&String::from_utf8_lossy(bytes)),
    }
}
