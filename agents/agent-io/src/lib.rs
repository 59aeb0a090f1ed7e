//! The agent side of the container contract (`docs/ARCHITECTURE.md`, "The agent container
//! contract").
//!
//! Every agent reads the same envelope from stdin, writes one JSON document to stdout, logs to
//! stderr and reports success through its exit code. Keeping that in one crate means each agent's
//! `main` is a single call to [`run`], every agent rejects bad envelopes the same way, and the
//! relayer can rely on the exit codes below:
//!
//! - `0`: success, stdout holds the output document.
//! - [`EXIT_BAD_INPUT`] (2): the envelope or its `input` is invalid; stderr says why.
//! - [`EXIT_FAILURE`] (1): the agent could not produce an output for a valid input.
//!
//! Agents whose metadata grants network reach it through [`http`] (the egress socket); the
//! others have none; chain readers speak JSON-RPC through [`jsonrpc`].
//!
//! Reading stops at [`MAX_ENVELOPE_BYTES`]: the relayer caps inputs too, but an agent must not
//! trust that and buffer an unbounded stdin.

pub mod http;
pub mod jsonrpc;
pub mod schema;
#[cfg(feature = "testing")]
pub mod testing;

use std::io::{self, Read, Write};
use std::process::ExitCode;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Exit code for an invalid envelope or input.
pub const EXIT_BAD_INPUT: u8 = 2;
/// Exit code for any other failure.
pub const EXIT_FAILURE: u8 = 1;
/// Largest envelope an agent reads (16 MiB).
pub const MAX_ENVELOPE_BYTES: u64 = 16 * 1024 * 1024;

/// What the relayer writes to the agent's stdin. The ids are strings in the contract; a JSON
/// number is accepted too (and kept as its decimal text) so an agent never fails a request over
/// how the relayer spelled an id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    #[serde(deserialize_with = "string_or_number")]
    pub request_id: String,
    #[serde(deserialize_with = "string_or_number")]
    pub agent_id: String,
    pub requester: String,
    pub input: serde_json::Value,
}

fn string_or_number<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        other => Err(serde::de::Error::custom(format!("expected a string or a number, got {other}"))),
    }
}

/// Why an agent produced no output.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("cannot read stdin: {0}")]
    Stdin(#[source] io::Error),
    #[error("envelope is larger than {MAX_ENVELOPE_BYTES} bytes")]
    TooLarge,
    #[error("invalid envelope: {0}")]
    Envelope(#[source] serde_json::Error),
    #[error("invalid input: {0}")]
    Input(String),
    #[error("{0}")]
    Failed(String),
    #[error("cannot write the output: {0}")]
    Stdout(#[source] io::Error),
}

impl AgentError {
    /// Wraps a validation error of the agent's own input.
    pub fn input(error: impl std::fmt::Display) -> Self {
        AgentError::Input(error.to_string())
    }

    /// The process exit code this error maps to.
    pub fn exit_code(&self) -> u8 {
        match self {
            AgentError::TooLarge | AgentError::Envelope(_) | AgentError::Input(_) => EXIT_BAD_INPUT,
            AgentError::Stdin(_) | AgentError::Failed(_) | AgentError::Stdout(_) => EXIT_FAILURE,
        }
    }
}

/// Parses an envelope and its `input` into the agent's input type.
pub fn parse_envelope<I: DeserializeOwned>(bytes: &[u8]) -> Result<(Envelope, I), AgentError> {
    let envelope: Envelope = serde_json::from_slice(bytes).map_err(AgentError::Envelope)?;
    let input = I::deserialize(&envelope.input).map_err(AgentError::input)?;
    Ok((envelope, input))
}

/// Reads the envelope from `reader`, at most [`MAX_ENVELOPE_BYTES`].
pub fn read_envelope_bytes(reader: impl Read) -> Result<Vec<u8>, AgentError> {
    let mut bytes = Vec::new();
    reader.take(MAX_ENVELOPE_BYTES + 1).read_to_end(&mut bytes).map_err(AgentError::Stdin)?;
    if bytes.len() as u64 > MAX_ENVELOPE_BYTES {
        return Err(AgentError::TooLarge);
    }
    Ok(bytes)
}

/// Writes one log line to stderr, prefixed with the agent's name. Log lines are streamed into the
/// execution's log, so they stay short and never contain the input itself.
pub fn log(agent: &str, message: impl std::fmt::Display) {
    // A closed stderr must not fail the agent: the log is best-effort.
    let _ = writeln!(io::stderr().lock(), "{agent}: {message}");
}

/// Runs `f` on the input read from `reader` and writes its output as one JSON document.
pub fn run_with<I, O>(
    agent: &str,
    reader: impl Read,
    mut writer: impl Write,
    f: impl FnOnce(I) -> Result<O, AgentError>,
) -> Result<(), AgentError>
where
    I: DeserializeOwned,
    O: Serialize,
{
    let bytes = read_envelope_bytes(reader)?;
    let (envelope, input) = parse_envelope::<I>(&bytes)?;
    log(agent, format_args!("request {} for agent {} ({} bytes)", envelope.request_id, envelope.agent_id, bytes.len()));
    let output = f(input)?;
    serde_json::to_writer(&mut writer, &output).map_err(|e| AgentError::Stdout(e.into()))?;
    writer.write_all(b"\n").and_then(|()| writer.flush()).map_err(AgentError::Stdout)?;
    Ok(())
}

/// The whole `main` of an agent: stdin → `f` → stdout, errors to stderr, exit code per the
/// contract.
pub fn run<I, O>(agent: &str, f: impl FnOnce(I) -> Result<O, AgentError>) -> ExitCode
where
    I: DeserializeOwned,
    O: Serialize,
{
    match run_with(agent, io::stdin().lock(), io::stdout().lock(), f) {
        Ok(()) => {
            log(agent, "done");
            ExitCode::SUCCESS
        }
        Err(error) => {
            log(agent, format_args!("error: {error}"));
            ExitCode::from(error.exit_code())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct In {
        n: u32,
    }

    fn call(stdin: &str) -> Result<String, AgentError> {
        let mut out = Vec::new();
        run_with("test", stdin.as_bytes(), &mut out, |i: In| Ok(serde_json::json!({ "double": i.n * 2 })))?;
        Ok(String::from_utf8(out).expect("utf8"))
    }

    #[test]
    fn runs_the_agent_on_the_input() {
        let out = call(r#"{"requestId":"1","agentId":"7","requester":"0xab","input":{"n":21}}"#).expect("ok");
        assert_eq!(out, "{\"double\":42}\n");
    }

    #[test]
    fn ids_may_be_numbers() {
        let (envelope, input) =
            parse_envelope::<In>(br#"{"requestId":7,"agentId":12,"requester":"0xab","input":{"n":1}}"#)
                .expect("parses");
        assert_eq!((envelope.request_id.as_str(), envelope.agent_id.as_str(), input.n), ("7", "12", 1));
    }

    #[test]
    fn rejects_bad_envelopes_and_inputs_with_exit_2() {
        for bad in [
            "",
            "not json",
            r#"{"agentId":"7","requester":"0xab","input":{"n":1}}"#,
            r#"{"requestId":"1","agentId":"7","requester":"0xab","input":{"n":"x"}}"#,
            r#"{"requestId":"1","agentId":"7","requester":"0xab","input":null}"#,
            r#"{"requestId":null,"agentId":"7","requester":"0xab","input":{"n":1}}"#,
        ] {
            let err = call(bad).expect_err(bad);
            assert_eq!(err.exit_code(), EXIT_BAD_INPUT, "{bad}: {err}");
        }
    }

    #[test]
    fn agent_failures_exit_1() {
        let mut out = Vec::new();
        let err = run_with(
            "test",
            r#"{"requestId":"1","agentId":"7","requester":"0xab","input":{"n":1}}"#.as_bytes(),
            &mut out,
            |_: In| -> Result<(), AgentError> { Err(AgentError::Failed("boom".into())) },
        )
        .expect_err("fails");
        assert_eq!(err.exit_code(), EXIT_FAILURE);
        assert!(out.is_empty());
    }

    #[test]
    fn refuses_oversized_envelopes() {
        let big = vec![b' '; (MAX_ENVELOPE_BYTES + 1) as usize];
        assert!(matches!(read_envelope_bytes(&big[..]), Err(AgentError::TooLarge)));
        let ok = [b' '; 10];
        assert_eq!(read_envelope_bytes(&ok[..]).expect("small").len(), 10);
    }
}
