//! `nexus proposals <id>`: sign in (as the key or its smart account), read an execution's
//! output and show the actions it proposes, decoded (`proposals_view`), or as JSON with
//! `--json`. Showing never signs or sends anything: that is `nexus apply`, after confirmation.

use alloy::primitives::U256;
use anyhow::Context;
use nexus_accounts::SmartAccount;
use nexus_proposals::Proposals;

use super::super::account::{self, BundlerArgs};
use super::super::api::Api;
use super::super::chain::Chain;
use super::super::proposals_view::{Decoder, views};
use super::super::terminal::json_for_terminal;
use super::super::{ChainSettings, KeyArgs};
use super::output::sign_in;

/// The proposals of execution `id`'s output, read with a session of the requester (the key's
/// address, or its smart account with `account`). Also what `nexus apply` starts from.
pub(in crate::cli) async fn read_proposals(
    api: &Api,
    chain: &Chain,
    signer: &alloy::signers::local::PrivateKeySigner,
    smart: Option<&SmartAccount>,
    id: U256,
) -> anyhow::Result<Proposals> {
    let token = sign_in(api, chain, signer, smart).await?;
    let bytes = api.output(id, &token).await.with_context(|| format!("reading execution {id}'s output"))?;
    Proposals::from_output_slice(&bytes)
        .with_context(|| format!("execution {id}'s output does not carry valid proposals"))
}

pub(super) async fn proposals(
    api: &Api,
    settings: &ChainSettings<'_>,
    key: &KeyArgs,
    bundler: &BundlerArgs,
    id: U256,
    account: bool,
    json: bool,
) -> anyhow::Result<()> {
    let signer = key.signer()?;
    let chain = Chain::connect(settings, Some(signer.clone())).await?;
    let smart = match account {
        true => Some(account::open(&chain, signer.clone(), api.base(), bundler).await?),
        false => None,
    };
    let proposals = read_proposals(api, &chain, &signer, smart.as_ref(), id).await?;
    let mut decoder = Decoder::new(&chain.deployments)?;
    if let Some(smart) = &smart {
        decoder = decoder.with_account(smart.address())?;
    }
    let views = views(&decoder, &proposals)?;
    if json {
        println!("{}", json_for_terminal(&serde_json::to_value(&views)?));
    } else if views.is_empty() {
        println!("execution {id} proposes no actions");
    } else {
        println!(
            "execution {id} proposes {} action(s) on chain {}; `nexus apply {id}` shows them and asks once before acting:\n",
            views.len(),
            decoder.chain_id()
        );
        for view in &views {
            println!("{}", view.render());
        }
    }
    Ok(())
}
