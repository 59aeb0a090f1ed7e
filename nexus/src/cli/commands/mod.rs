//! The commands themselves. Each checks what it can before signing (agent active, balance,
//! credits, deadline) so a mistake is a sentence, not a reverted transaction; the contracts
//! still have the last word, and their refusals are decoded (see `chain::explain`).
//!
//! Output convention: stdout carries results (the catalog, a purchase, a request id, an output
//! document), stderr the narration of long operations (status changes, log lines), so
//! `nexus run ... --wait > out.json` keeps just the output.
//!
//! One module per command (`agents`, `buy`, `run`, `output`, `proposals`, `apply`, `reclaim`, `withdraw`); `resolve`
//! finds the agent a user named, shared by `buy` and `run`.

mod agents;
mod apply;
mod buy;
mod output;
mod proposals;
mod reclaim;
mod resolve;
mod run;
mod withdraw;

use std::time::Duration;

use super::account::{self, AccountCommand};
use super::api::Api;
use super::chain::Chain;
use super::confirm::Consent;
use super::{ChainSettings, UserCommand, WalletArgs};
use agents::agents;
use apply::{ApplyOptions, apply};
use buy::buy;
use output::{print_output, sign_in};
use proposals::proposals;
use reclaim::reclaim;
use run::{RunOptions, run};
use withdraw::withdraw;

/// How a command ended, when it did not fail.
pub enum Outcome {
    Done,
    /// The execution ran (or was abandoned) and did not succeed: the exit code says so.
    ExecutionFailed,
}

pub async fn dispatch(command: UserCommand, settings: &ChainSettings<'_>) -> anyhow::Result<Outcome> {
    match command {
        UserCommand::Agents { api } => agents(&Api::new(&api.graphql_url), settings).await,
        UserCommand::Buy { agent, units, account, wallet: WalletArgs { api, key, bundler } } => {
            let via = account.then_some(&bundler);
            buy(&Api::new(&api.graphql_url), settings, &key, &agent, units, via).await
        }
        UserCommand::Run { agent, input, wait, timeout, account, wallet: WalletArgs { api, key, bundler } } => {
            let api = Api::new(&api.graphql_url);
            let options =
                RunOptions { wait, timeout: timeout.map(Duration::from_secs), via: account.then_some(&bundler) };
            run(&api, settings, &key, &agent, &input, options).await
        }
        UserCommand::Account { action, wallet: WalletArgs { api, key, bundler } } => {
            let api = Api::new(&api.graphql_url);
            let signer = key.signer()?;
            let mut chain = Chain::connect(settings, Some(signer.clone())).await?;
            let smart = account::open(&chain, signer, api.base(), &bundler).await?;
            match action {
                AccountCommand::Create { session_uses, session_days, session_max_gas_wei } => {
                    account::create(&mut chain, &smart, &bundler, session_uses, session_days, session_max_gas_wei)
                        .await?
                }
                AccountCommand::Show => account::show(&mut chain, &smart, &bundler).await?,
            }
            Ok(Outcome::Done)
        }
        UserCommand::Output { request, account, wallet: WalletArgs { api, key, bundler } } => {
            let api = Api::new(&api.graphql_url);
            let signer = key.signer()?;
            let chain = Chain::connect(settings, Some(signer.clone())).await?;
            let smart = match account {
                true => Some(account::open(&chain, signer.clone(), api.base(), &bundler).await?),
                false => None,
            };
            let token = sign_in(&api, &chain, &signer, smart.as_ref()).await?;
            print_output(&api, request, &token).await?;
            Ok(Outcome::Done)
        }
        UserCommand::Apply { request, index, account, yes, allow_permit, submit_routes, wallet } => {
            let WalletArgs { api, key, bundler } = wallet;
            let options = ApplyOptions {
                index,
                via: account.then_some(&bundler),
                consent: if yes { Consent::Given } else { Consent::Ask },
                allow_permit,
                routes: &submit_routes,
            };
            apply(&Api::new(&api.graphql_url), settings, &key, request, options).await
        }
        UserCommand::Proposals { request, account, json, wallet: WalletArgs { api, key, bundler } } => {
            proposals(&Api::new(&api.graphql_url), settings, &key, &bundler, request, account, json).await?;
            Ok(Outcome::Done)
        }
        UserCommand::Reclaim { request, api, key } => {
            reclaim(&Api::new(&api.graphql_url), settings, &key, request).await
        }
        UserCommand::Withdraw { token, key } => withdraw(settings, &key, &token).await,
    }
}

pub(super) fn rfc3339(secs: u64) -> String {
    chrono::DateTime::from_timestamp(secs as i64, 0)
        .map_or_else(|| secs.to_string(), |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}
