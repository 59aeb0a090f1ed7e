//! `agent-gas-advisor`: the container entry point. All logic lives in the library so it is
//! tested without a process; this only wires it to the container contract.

use std::process::ExitCode;

use agent_gas_advisor::live::{self, LiveError};
use agent_io::AgentError;
use agent_io::http::Egress;
use agent_io::jsonrpc::Client;

fn main() -> ExitCode {
    agent_io::run("gas-advisor", |input: agent_gas_advisor::Input| {
        let output = match &input.live {
            // An input history: no network needed (nor asked for).
            None => agent_gas_advisor::advise(&input).map_err(AgentError::input)?,
            Some(mode) => {
                mode.check(&input).map_err(AgentError::input)?;
                let client = Client::new(Egress::from_env()?, live::RPC_URL, 1);
                live::advise_live(&input, mode, &client).map_err(|e: LiveError| {
                    if e.is_input() { AgentError::input(e) } else { AgentError::Failed(e.to_string()) }
                })?
            }
        };
        agent_io::log(
            "gas-advisor",
            format_args!(
                "{} blocks up to {}, next base fee {} wei, trend {:?}{}",
                output.blocks,
                output.latest_block,
                output.base_fee.next,
                output.trend.direction,
                if input.live.is_some() { " (live)" } else { "" }
            ),
        );
        Ok(output)
    })
}
