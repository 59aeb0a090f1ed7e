//! A small JSON Schema checker for the subset the agents' `metadata.json` files use.
//!
//! Each agent's tests run the real binary and check its output against the `outputSchema` it
//! publishes, so the published schema cannot drift from what the agent emits. A full JSON Schema
//! implementation would be a heavy dependency for that; this checks `type`, `enum`,
//! `properties`, `required`, `additionalProperties: false`, `items`, `minItems`/`maxItems`,
//! `minimum`/`maximum`/`exclusiveMinimum` and `minLength`/`maxLength`. Other keywords (`pattern`,
//! `default`, descriptions) are ignored.

use serde_json::Value;

/// Checks `value` against `schema`; the error names the first failing path.
pub fn check(schema: &Value, value: &Value) -> Result<(), String> {
    check_at(schema, value, "$")
}

fn type_matches(name: &str, value: &Value) -> bool {
    match name {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "number" => value.is_number(),
        "integer" => value.is_i64() || value.is_u64(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        _ => false,
    }
}

fn check_at(schema: &Value, value: &Value, path: &str) -> Result<(), String> {
    let fail = |why: String| Err(format!("{path}: {why}"));
    match schema.get("type") {
        Some(Value::String(t)) if !type_matches(t, value) => return fail(format!("expected {t}, got {value}")),
        Some(Value::Array(ts)) if !ts.iter().filter_map(Value::as_str).any(|t| type_matches(t, value)) => {
            return fail(format!("expected one of {ts:?}, got {value}"));
        }
        _ => {}
    }
    if let Some(Value::Array(options)) = schema.get("enum")
        && !options.contains(value)
    {
        return fail(format!("{value} is not one of {options:?}"));
    }
    if let Some(x) = value.as_f64() {
        let bound = |k: &str| schema.get(k).and_then(Value::as_f64);
        if bound("minimum").is_some_and(|m| x < m) || bound("maximum").is_some_and(|m| x > m) {
            return fail(format!("{x} is out of range"));
        }
        if bound("exclusiveMinimum").is_some_and(|m| x <= m) {
            return fail(format!("{x} is not above the exclusive minimum"));
        }
    }
    if let Some(s) = value.as_str() {
        let len = s.chars().count() as u64;
        let bound = |k: &str| schema.get(k).and_then(Value::as_u64);
        if bound("minLength").is_some_and(|m| len < m) || bound("maxLength").is_some_and(|m| len > m) {
            return fail(format!("string length {len} is out of range"));
        }
    }
    if let Some(object) = value.as_object() {
        let properties = schema.get("properties").and_then(Value::as_object);
        if let Some(Value::Array(required)) = schema.get("required") {
            for key in required.iter().filter_map(Value::as_str) {
                if !object.contains_key(key) {
                    return fail(format!("missing required property {key:?}"));
                }
            }
        }
        for (key, v) in object {
            match properties.and_then(|p| p.get(key)) {
                Some(sub) => check_at(sub, v, &format!("{path}.{key}"))?,
                None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    return fail(format!("unexpected property {key:?}"));
                }
                None => {}
            }
        }
    }
    if let Some(items) = value.as_array() {
        let bound = |k: &str| schema.get(k).and_then(Value::as_u64);
        let len = items.len() as u64;
        if bound("minItems").is_some_and(|m| len < m) || bound("maxItems").is_some_and(|m| len > m) {
            return fail(format!("{len} items is out of range"));
        }
        if let Some(sub) = schema.get("items") {
            for (i, v) in items.iter().enumerate() {
                check_at(sub, v, &format!("{path}[{i}]"))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check;
    use serde_json::json;

    #[test]
    fn checks_the_supported_keywords() {
        let schema = json!({
            "type": "object",
            "required": ["n", "tags"],
            "additionalProperties": false,
            "properties": {
                "n": { "type": "integer", "minimum": 1, "maximum": 5 },
                "r": { "type": ["number", "null"] },
                "kind": { "enum": ["a", "b"] },
                "tags": { "type": "array", "maxItems": 2, "items": { "type": "string", "minLength": 1 } }
            }
        });
        assert_eq!(check(&schema, &json!({"n": 3, "r": null, "kind": "a", "tags": ["x"]})), Ok(()));
        for (bad, why) in [
            (json!([]), "expected object"),
            (json!({"tags": []}), "missing required property \"n\""),
            (json!({"n": 0, "tags": []}), "$.n: 0 is out of range"),
            (json!({"n": 1.5, "tags": []}), "$.n: expected integer"),
            (json!({"n": 1, "tags": [""]}), "$.tags[0]: string length"),
            (json!({"n": 1, "tags": ["a", "b", "c"]}), "$.tags: 3 items"),
            (json!({"n": 1, "tags": [], "kind": "c"}), "$.kind: \"c\" is not one of"),
            (json!({"n": 1, "tags": [], "r": "x"}), "$.r: expected one of"),
            (json!({"n": 1, "tags": [], "extra": 1}), "unexpected property \"extra\""),
        ] {
            let err = check(&schema, &bad).expect_err(&bad.to_string());
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}
