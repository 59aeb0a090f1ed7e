//! `agent-translator`: the container entry point; the logic lives in the library.

use std::process::ExitCode;

use agent_io::AgentError;
use agent_translator::TranslateError;

fn main() -> ExitCode {
    agent_io::run("translator", |input: agent_translator::Input| {
        agent_translator::validate(&input).map_err(AgentError::input)?;
        // Before any work, so a run without network says so plainly (exit 1).
        let net = agent_io::http::Egress::from_env()?;
        let output = agent_translator::translate(&input, &net).map_err(|e| match e {
            TranslateError::Input(e) => AgentError::input(e),
            TranslateError::Api(e) => AgentError::Failed(e.to_string()),
        })?;
        agent_io::log(
            "translator",
            format_args!(
                "{} chunks, {} requests, {} glossary violations",
                output.chunks,
                output.usage.requests,
                output.glossary_violations.len()
            ),
        );
        Ok(output)
    })
}
