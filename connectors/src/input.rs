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

/// `text` with the word after each `Bearer` (any case, also glued to what precedes it:
/// `Authorization:Bearer`, `"Authorization":"Bearer`; a `token` word between them is
/// kept) masked: for error bodies a server or a proxy in front of it may
/// fill with the request it got back, `Authorization` header included. A guess, for a
/// token the caller cannot name; one it knows it withholds by its value.
pub fn without_bearer_tokens(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut hide = false;
    for piece in text.split_inclusive(char::is_whitespace) {
        let word = piece.trim_end_matches(char::is_whitespace);
        let gap = &piece[word.len()..];
        let bare = word
            .trim_matches(|c: char| !c.is_alphanumeric())
            .to_ascii_lowercase();
        if hide && !word.is_empty() && bare != "token" {
            out.push_str(drctl_core::scrub::MASK);
            hide = false;
        } else {
            out.push_str(word);
            hide = hide || bare.ends_with("bearer");
        }
        out.push_str(gap);
    }
    out
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

#[cfg(test)]
mod tests {
    use super::without_bearer_tokens;

    #[test]
    fn a_bearer_token_echoed_back_is_withheld() {
        assert_eq!(
            without_bearer_tokens("denied: Authorization: Bearer  abc.def (from 10.0.0.1)"),
            "denied: Authorization: Bearer  *** (from 10.0.0.1)"
        );
        assert_eq!(
            without_bearer_tokens("bearer\tx\nBEARER\ny\n\"Bearer\" z"),
            "bearer\t***\nBEARER\n***\n\"Bearer\" ***"
        );
        assert_eq!(without_bearer_tokens("no token here"), "no token here");
        assert_eq!(
            without_bearer_tokens(r#"{"Authorization":"Bearer abc"} Authorization:Bearer d"#),
            r#"{"Authorization":"Bearer *** Authorization:Bearer ***"#
        );
        assert_eq!(
            without_bearer_tokens("invalid bearer token abc, retry"),
            "invalid bearer token *** retry"
        );
        assert_eq!(
            without_bearer_tokens("ends with Bearer"),
            "ends with Bearer"
        );
    }
}
