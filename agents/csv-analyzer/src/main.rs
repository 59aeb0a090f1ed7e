//! `agent-csv-analyzer`: the container entry point. All logic lives in the library so it is
//! tested without a process; this only wires it to the container contract.

use std::process::ExitCode;

use agent_io::AgentError;

fn main() -> ExitCode {
    agent_io::run("csv-analyzer", |input: agent_csv_analyzer::Input| {
        let output = agent_csv_analyzer::analyze(&input).map_err(AgentError::input)?;
        agent_io::log(
            "csv-analyzer",
            format_args!(
                "{} rows, {} columns, {} malformed rows",
                output.rows,
                output.columns.len(),
                output.malformed_rows.count
            ),
        );
        Ok(output)
    })
}
