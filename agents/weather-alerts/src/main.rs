//! `agent-weather-alerts`: the container entry point; all logic lives in the library.

use std::process::ExitCode;

use agent_io::AgentError;
use agent_io::http::Egress;

fn main() -> ExitCode {
    agent_io::run("weather-alerts", |input: agent_weather_alerts::Input| {
        input.validate().map_err(AgentError::input)?;
        // No socket means the listing grants no network: fail before anything else.
        let net = Egress::from_env()?;
        let output = agent_weather_alerts::run(&net, &input)?;
        agent_io::log(
            "weather-alerts",
            format_args!("{} hours in {}, {} alert window(s)", output.hours, output.timezone, output.alerts.len()),
        );
        Ok(output)
    })
}
