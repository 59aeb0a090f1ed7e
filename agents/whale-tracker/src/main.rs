//! `agent-whale-tracker`: the container entry point (logic in the library).

use std::process::ExitCode;

use agent_io::AgentError;
use agent_io::http::Egress;
use agent_io::jsonrpc::Client;
use agent_whale_tracker::{RPC_URL, TrackError, track};

fn main() -> ExitCode {
    agent_io::run("whale-tracker", |input: agent_whale_tracker::Input| {
        // Input errors first (exit 2 whether or not there is network), then the socket.
        let plan = input.plan().map_err(AgentError::input)?;
        let client = Client::new(Egress::from_env()?, RPC_URL, plan.max_requests);
        let output = track(&input, &plan, &client).map_err(|e: TrackError| {
            if e.is_input() { AgentError::input(e) } else { AgentError::Failed(e.to_string()) }
        })?;
        let large: usize = output.tokens.iter().map(|t| t.large_transfers).sum();
        agent_io::log(
            "whale-tracker",
            format_args!(
                "blocks {}..={}: {large} large transfers of {} tokens, {} requests, {} splits",
                output.range.from_block,
                output.range.to_block,
                output.tokens.len(),
                output.range.requests,
                output.range.splits
            ),
        );
        Ok(output)
    })
}
