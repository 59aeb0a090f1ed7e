//! `agent-summarizer`: the container entry point. All logic lives in the library so it is tested
//! without a process; this only wires it to the container contract.

use std::process::ExitCode;

use agent_io::AgentError;
use agent_io::http::Egress;
use agent_summarizer::{SummarizeError, web};

fn main() -> ExitCode {
    agent_io::run("summarizer", |mut input: agent_summarizer::Input| {
        // URL mode: fetch first (the text input stays network-free), then summarize as usual.
        let source = match input.url.take() {
            None => None,
            Some(url) => {
                if input.text.is_some() {
                    return Err(AgentError::input(SummarizeError::NoText));
                }
                agent_summarizer::sentence_count(&input).map_err(AgentError::input)?;
                web::check_url(&url).map_err(AgentError::input)?;
                let net = Egress::from_env()?.max_body(web::MAX_PAGE_BYTES);
                let (text, source) = web::fetch(&net, &url)
                    .map_err(|e| if e.is_input() { AgentError::input(e) } else { AgentError::Failed(e.to_string()) })?;
                agent_io::log("summarizer", format_args!("fetched {} bytes of {}", source.bytes, source.content_type));
                input.text = Some(text);
                Some(source)
            }
        };
        let mut output = agent_summarizer::summarize(&input).map_err(AgentError::input)?;
        output.source = source;
        agent_io::log(
            "summarizer",
            format_args!("{} sentences, {} selected", output.stats.sentence_count, output.sentences.len()),
        );
        Ok(output)
    })
}
