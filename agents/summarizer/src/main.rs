//! `agent-summarizer`: the container entry point. All logic lives in the library so it is tested
//! without a process; this only wires it to the container contract.

use std::process::ExitCode;

use agent_io::AgentError;

fn main() -> ExitCode {
    agent_io::run("summarizer", |input: agent_summarizer::Input| {
        let output = agent_summarizer::summarize(&input).map_err(AgentError::input)?;
        agent_io::log(
            "summarizer",
            format_args!("{} sentences, {} selected", output.stats.sentence_count, output.sentences.len()),
        );
        Ok(output)
    })
}
