//! Secret values: read only when an action needs them, never stored, and scrubbed from
//! whatever comes back (outputs, error messages) before it is recorded.

use drctl_runbook::model::SecretSource;
use serde_json::Value;

/// Reads a secret's value.
pub trait SecretReader: Send + Sync {
    fn read(&self, name: &str, source: &SecretSource) -> Result<String, String>;
}

/// From the environment (`env:`) or a file (`file:`, trailing newline dropped; a relative
/// path is relative to the working directory of drctl).
#[derive(Debug, Clone, Copy, Default)]
pub struct EnvAndFiles;

impl SecretReader for EnvAndFiles {
    fn read(&self, name: &str, source: &SecretSource) -> Result<String, String> {
        match source {
            SecretSource::Env(var) => std::env::var(var)
                .map_err(|_| format!("secret `{name}`: environment variable {var} is not set")),
            SecretSource::File(path) => std::fs::read_to_string(path)
                .map(|s| s.trim_end_matches(['\n', '\r']).to_owned())
                .map_err(|e| format!("secret `{name}`: cannot read {path}: {e}")),
        }
    }
}

/// Values shorter than this are not scrubbed: replacing every `a` or `on` in an output
/// would destroy it and protect nothing.
const MIN_SCRUB: usize = 4;

/// Replaces every occurrence of a secret value in `text` with `***`.
pub fn scrub_text(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_owned();
    for s in secrets.iter().filter(|s| s.len() >= MIN_SCRUB) {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), "***");
        }
    }
    out
}

/// Scrubs every string in a JSON value.
pub fn scrub(value: &mut Value, secrets: &[String]) {
    if secrets.is_empty() {
        return;
    }
    match value {
        Value::String(s) => *s = scrub_text(s, secrets),
        Value::Array(items) => items.iter_mut().for_each(|v| scrub(v, secrets)),
        Value::Object(map) => map.values_mut().for_each(|v| scrub(v, secrets)),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_scrubbed_everywhere_but_short_values_are_left() {
        let secrets = vec!["hunter2".to_owned(), "ab".to_owned()];
        let mut v = json!({"stdout": "password=hunter2\n", "list": ["xhunter2x", 3], "ab": "ab"});
        scrub(&mut v, &secrets);
        assert_eq!(
            v,
            json!({"stdout": "password=***\n", "list": ["x***x", 3], "ab": "ab"})
        );
        assert_eq!(
            scrub_text("auth hunter2 failed", &secrets),
            "auth *** failed"
        );
    }
}
