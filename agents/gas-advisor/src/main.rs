//! `agent-gas-advisor`: the container entry point. All logic lives in the library so it is
//! tested without a process; this only wires it to the container contract.

use std::process::ExitCode;

use agent_io::AgentError;

fn main() -> ExitCode {
    agent_io::run("gas-advisor", |input: agent_gas_advisor::Input| {
        let output = agent_gas_advisor::advise(&input).map_err(AgentError::input)?;
        agent_io::log(
            "gas-advisor",
            format_args!(
                "{} blocks up to {}, next base fee {} wei, trend {:?}",
                output.blocks, output.latest_block, output.base_fee.next, output.trend.direction
            ),
        );
        Ok(output)
    })
}
