//! Reading rendered, schema-checked inputs. The schema has already said what is there;
//! these helpers turn a missing or odd value into a clear permanent error anyway. Also
//! [`error_chain`], for messages that quote a client library's error.

use std::time::Duration;

use drctl_core::{ActionError, parse_duration};
use serde_json::Value;

pub fn str_of<'a>(input: &'a Value, key: &str) -> Result<&'a str, ActionError> {
    input[key]
        .as_str()
        .ok_or_else(|| ActionError::Permanent(format!("`{key}` must be a string")))
}

pub fn opt_str<'a>(input: &'a Value, key: &str) -> Option<&'a str> {
    input[key].as_str()
}

pub fn duration_or(input: &Value, key: &str, default: Duration) -> Result<Duration, ActionError> {
    match input.get(key).and_then(Value::as_str) {
        None => Ok(default),
        Some(text) => {
            parse_duration(text).map_err(|e| ActionError::Permanent(format!("`{key}`: {e}")))
        }
    }
}

pub fn u64_or(input: &Value, key: &str, default: u64) -> u64 {
    input.get(key).and_then(Value::as_u64).unwrap_or(default)
}

/// Strings from a list (argv).
pub fn strings(input: &Value, key: &str) -> Result<Vec<String>, ActionError> {
    let list = input[key]
        .as_array()
        .ok_or_else(|| ActionError::Permanent(format!("`{key}` must be a list")))?;
    list.iter()
        .map(|v| match v {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            other => Err(ActionError::Permanent(format!(
                "`{key}` holds {other}, not a string"
            ))),
        })
        .collect()
}

/// Status codes accepted: one, a list, or (absent) the given default range.
pub fn accepted_statuses(input: &Value, key: &str) -> Option<Vec<u16>> {
    match input.get(key)? {
        Value::Number(n) => n
            .as_u64()
            .and_then(|n| u16::try_from(n).ok())
            .map(|n| vec![n]),
        Value::Array(items) => Some(
            items
                .iter()
                .filter_map(|v| v.as_u64().and_then(|n| u16::try_from(n).ok()))
                .collect(),
        ),
        _ => None,
    }
}

/// An error and its causes on one line ("error connecting to server: Connection refused"):
/// a client's top-level message alone often does not say what failed.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}
