//! `agent-hyperliquid`: the container entry point. The envelope's `requester` is the default
//! account, so the envelope is read here (once) and its input handed to the library.

use std::io::{self, Write};
use std::process::ExitCode;

use agent_io::http::Egress;
use agent_io::{AgentError, Envelope};

const NAME: &str = "hyperliquid";

fn main() -> ExitCode {
    match run() {
        Ok(()) => {
            agent_io::log(NAME, "done");
            ExitCode::SUCCESS
        }
        Err(error) => {
            agent_io::log(NAME, format_args!("error: {error}"));
            ExitCode::from(error.exit_code())
        }
    }
}

fn run() -> Result<(), AgentError> {
    let bytes = agent_io::read_envelope_bytes(io::stdin().lock())?;
    let (envelope, input): (Envelope, agent_hyperliquid::Input) = agent_io::parse_envelope(&bytes)?;
    agent_io::log(NAME, format_args!("request {} for agent {}", envelope.request_id, envelope.agent_id));
    input.validate().map_err(AgentError::input)?;
    // No socket means the listing grants no network: fail before doing anything else.
    let net = Egress::from_env()?;
    let output = agent_hyperliquid::run(&net, &input, &envelope.requester)?;
    agent_io::log(
        NAME,
        format_args!(
            "{} {:?} on {:?}: mid {}, {} proposal(s)",
            output.coin,
            output.task,
            output.network,
            output.book.mid,
            output.proposals.len()
        ),
    );
    let mut stdout = io::stdout().lock();
    serde_json::to_writer(&mut stdout, &output).map_err(|e| AgentError::Stdout(e.into()))?;
    stdout.write_all(b"\n").and_then(|()| stdout.flush()).map_err(AgentError::Stdout)
}
