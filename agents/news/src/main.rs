//! `agent-news`: the container entry point; the logic lives in the library.

use std::process::ExitCode;

use agent_io::AgentError;

fn main() -> ExitCode {
    agent_io::run("news", |input: agent_news::Input| {
        let settings = agent_news::validate(&input).map_err(AgentError::input)?;
        // Before any work, so a run without network says so plainly (exit 1).
        let net = agent_io::http::Egress::from_env()?.max_body(agent_news::MAX_FEED_BYTES);
        let output = agent_news::aggregate(&settings, &net).map_err(|e| AgentError::Failed(e.to_string()))?;
        // By position, not URL: log lines never echo the input.
        for (index, feed) in output.feeds.iter().enumerate().filter(|(_, f)| !f.ok) {
            agent_io::log("news", format_args!("feed {index} skipped: {}", feed.error.as_deref().unwrap_or("")));
        }
        agent_io::log(
            "news",
            format_args!(
                "{} feeds read, {} items, {} duplicates, {} stories",
                output.feeds.iter().filter(|f| f.ok).count(),
                output.stats.items,
                output.stats.duplicates,
                output.stats.stories
            ),
        );
        Ok(output)
    })
}
