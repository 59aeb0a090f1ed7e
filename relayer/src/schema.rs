//! Checking an agent's output against the output schema its metadata declares (`docs/ARCHITECTURE.md`,
//! "The agent container contract").
//!
//! Why here and not in the agent: the requester pays for output of the declared shape, and the
//! agent is untrusted. An output that breaks the schema settles as failure (cause
//! `invalid_output`), so the requester is refunded and the developer is not paid for it.
//!
//! The schema comes from `agents.output_schema`, written by the indexer's metadata resolver.
//! An agent without one (no schema declared, or remote metadata not fetched yet) is held only to
//! "one JSON document". A declared schema that does not compile (malformed, or a `$ref` to a
//! remote document: the validator is built without any fetching, an output check must never
//! reach the network) fails the run too: the developer's contract cannot be checked, and the
//! requester must not pay for that.

use serde_json::Value;

use crate::docker::Failure;

/// Violations listed in the failure message (and so in the execution's log); the rest are
/// counted. One is usually enough to see what is wrong; a flood would only bloat the log.
const MAX_REPORTED: usize = 5;

/// `Ok(())` when `output` (already known to be one JSON document) satisfies `schema`.
pub fn check(schema: &Value, output: &[u8]) -> Result<(), Failure> {
    let validator = jsonschema::validator_for(schema)
        .map_err(|e| Failure::OutputSchema(format!("the agent's output schema is not usable: {e}")))?;
    let output: Value = serde_json::from_slice(output).map_err(|e| Failure::InvalidOutput(e.to_string()))?;
    let mut errors = validator.iter_errors(&output);
    let mut reported = Vec::new();
    let mut more = 0usize;
    for error in errors.by_ref() {
        if reported.len() < MAX_REPORTED {
            let at = error.instance_path().to_string();
            reported.push(format!("{} at '{}'", error, if at.is_empty() { "/" } else { &at }));
        } else {
            more += 1;
        }
    }
    if reported.is_empty() {
        return Ok(());
    }
    let mut message = reported.join("; ");
    if more > 0 {
        message.push_str(&format!("; and {more} more"));
    }
    Err(Failure::OutputSchema(message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "required": ["summary"],
            "properties": { "summary": { "type": "string", "maxLength": 10 } },
        })
    }

    #[test]
    fn conforming_output_passes() {
        check(&schema(), br#"{"summary": "short"}"#).expect("a conforming output passes");
    }

    #[test]
    fn violations_fail_with_their_paths() {
        let Err(Failure::OutputSchema(m)) = check(&schema(), br#"{"summary": 42}"#) else {
            panic!("a number where a string is required must fail");
        };
        assert!(m.contains("/summary"), "{m}");
        let Err(Failure::OutputSchema(m)) = check(&schema(), br#"{"other": 1}"#) else {
            panic!("a missing required field must fail");
        };
        assert!(m.contains("summary"), "{m}");
        assert_eq!(Failure::OutputSchema(m).cause(), "invalid_output");
    }

    #[test]
    fn many_violations_are_summarised() {
        let schema = json!({ "type": "array", "items": { "type": "string" } });
        let Err(Failure::OutputSchema(m)) = check(&schema, b"[1,2,3,4,5,6,7,8]") else {
            panic!("numbers are not strings");
        };
        assert!(m.ends_with("and 3 more"), "{m}");
    }

    #[test]
    fn an_unusable_schema_fails_the_run() {
        // Not a schema at all, and a remote reference the validator must not fetch.
        for schema in [json!({ "type": 12 }), json!({ "$ref": "https://example.com/schema.json" })] {
            let result = check(&schema, b"{}");
            assert!(matches!(result, Err(Failure::OutputSchema(_))), "{schema}: {result:?}");
        }
    }
}
