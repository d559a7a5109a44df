//! Secret values: read when a process starts driving a run (every secret the runbook
//! declares, so that any process can mask what any step revealed), revealed only in the
//! inputs of the actions that use them, never stored, and masked, in every form
//! [`forms`] knows, from whatever comes back (outputs, keys, error messages) before it
//! is recorded.

mod forms;

use drctl_core::SecretName;
use drctl_runbook::model::SecretSource;
use drctl_runbook::template::render::MASK;
use indexmap::IndexMap;
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
            SecretSource::Env(var) => std::env::var(var).map_err(|e| match e {
                std::env::VarError::NotPresent => {
                    format!("secret `{name}`: environment variable {var} is not set")
                }
                std::env::VarError::NotUnicode(_) => {
                    format!("secret `{name}`: environment variable {var} is not valid UTF-8")
                }
            }),
            SecretSource::File(path) => std::fs::read_to_string(path)
                .map(|s| s.trim_end_matches(['\n', '\r']).to_owned())
                .map_err(|e| format!("secret `{name}`: cannot read {path}: {e}")),
        }
    }
}

/// Secrets shorter than this are refused: masking every `a` or `on` in an output would
/// destroy it and protect nothing, so such a value could not be kept out of the records.
pub const MIN_SECRET: usize = 4;

/// Reads every secret a runbook declares, for a process about to drive one of its runs:
/// whatever step reads a secret, and whichever process ran it before a crash, the values
/// to mask are all known before anything is recorded. Refuses a value too short to mask.
pub fn read_all(
    reader: &dyn SecretReader,
    declared: &IndexMap<SecretName, SecretSource>,
) -> Result<(IndexMap<String, String>, Scrubber), String> {
    let mut values = IndexMap::new();
    for (name, source) in declared {
        let value = reader.read(name.as_str(), source)?;
        let chars = value.chars().count();
        if chars < MIN_SECRET {
            return Err(format!(
                "secret `{name}` is {chars} character{} long: drctl masks secrets of {MIN_SECRET} characters or more, and cannot keep a shorter one out of its records",
                if chars == 1 { "" } else { "s" }
            ));
        }
        values.insert(name.to_string(), value);
    }
    let scrubber = Scrubber::new(values.values().map(String::as_str));
    Ok((values, scrubber))
}

/// Masks secret values, in every form [`forms`] knows, with `***`.
#[derive(Clone, Default)]
pub struct Scrubber {
    /// Longest first, so that a form is masked whole before a shorter one inside it.
    patterns: Vec<String>,
}

impl std::fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Scrubber({} forms)", self.patterns.len())
    }
}

impl Scrubber {
    pub fn new<'a>(values: impl IntoIterator<Item = &'a str>) -> Self {
        let mut patterns: Vec<String> = values
            .into_iter()
            .filter(|v| !v.is_empty())
            .flat_map(forms::forms)
            .collect();
        patterns.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        patterns.dedup();
        Self { patterns }
    }

    /// `text` with every secret form replaced by `***`; a text cut short (it ends with
    /// `…`) also has a form's start at its end masked.
    pub fn text(&self, text: &str) -> String {
        self.masked(text, text.ends_with('…'))
    }

    /// `text`, a window cut out of what a program is printing: also masks the start of
    /// a secret form that ends it (the rest may be on its way) and the end of one that
    /// starts it (its start was cut off), four characters or more of either.
    pub fn window(&self, text: &str) -> String {
        let mut out = self.masked(text, true);
        self.cut_end(&mut out);
        out
    }

    /// Masks the longest end (four characters or more) of any form that starts `text`.
    fn cut_end(&self, text: &mut String) {
        let mut longest = 0;
        for p in &self.patterns {
            for (i, _) in p.char_indices().skip(1) {
                let end = &p[i..];
                if end.chars().count() < 4 {
                    break;
                }
                if end.len() > longest && text.starts_with(end) {
                    longest = end.len();
                    break;
                }
            }
        }
        if longest > 0 {
            text.replace_range(..longest, MASK);
        }
    }

    fn masked(&self, text: &str, cut: bool) -> String {
        let mut out = text.to_owned();
        for p in &self.patterns {
            if out.contains(p.as_str()) {
                out = out.replace(p.as_str(), MASK);
            }
        }
        if cut {
            self.cut_start(&mut out);
        }
        out
    }

    /// Masks the longest start (four characters or more) of any form that ends `text`,
    /// before an ellipsis if the text has one.
    fn cut_start(&self, text: &mut String) {
        let body_len = text.strip_suffix('…').map_or(text.len(), str::len);
        let body = &text[..body_len];
        let mut longest = 0;
        for p in &self.patterns {
            let ends: Vec<usize> = p.char_indices().map(|(i, _)| i).skip(4).collect();
            for end in ends.into_iter().rev() {
                if end > longest && body.ends_with(&p[..end]) {
                    longest = end;
                    break;
                }
            }
        }
        if longest > 0 {
            text.replace_range(body_len - longest..body_len, MASK);
        }
    }

    /// Masks every string in a JSON value, object keys included.
    pub fn value(&self, value: &mut Value) {
        if self.patterns.is_empty() {
            return;
        }
        match value {
            Value::String(s) => *s = self.text(s),
            Value::Array(items) => items.iter_mut().for_each(|v| self.value(v)),
            Value::Object(map) => {
                // `exec` keeps output up to a limit and says so: its texts may end in the
                // start of a secret.
                let cut = map.get("truncated") == Some(&Value::Bool(true));
                let entries = std::mem::take(map);
                for (k, mut v) in entries {
                    match &mut v {
                        Value::String(text) if cut => *text = self.masked(text, true),
                        _ => self.value(&mut v),
                    }
                    map.insert(self.text(&k), v);
                }
            }
            // A numeric secret (a PIN, an account number) parsed out of JSON.
            Value::Number(n) => {
                let text = n.to_string();
                let masked = self.text(&text);
                if masked != text {
                    *value = Value::String(masked);
                }
            }
            Value::Null | Value::Bool(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_masked_everywhere_in_every_form_keys_included() {
        let s = Scrubber::new(["hunter2/x"]);
        let mut v =
            json!({"stdout": "password=hunter2/x\n", "list": ["xhunter2%2Fxx", 3], "hunter2/x": 1});
        s.value(&mut v);
        assert_eq!(
            v,
            json!({"stdout": "password=***\n", "list": ["x***x", 3], "***": 1})
        );
        assert_eq!(s.text("auth aHVudGVyMi94 failed"), "auth *** failed");
    }

    #[test]
    fn a_window_masks_a_secret_cut_at_either_end() {
        let s = Scrubber::new(["ghp_R4nd0mT0kenValue"]);
        assert_eq!(s.window("mT0kenValue and more"), "*** and more");
        assert_eq!(s.window("text then ghp_R4n"), "text then ***");
        assert_eq!(
            s.window("lue and ghp"),
            "lue and ghp",
            "three characters stay"
        );
        assert_eq!(s.window("a ghp_R4nd0mT0kenValue b"), "a *** b");
    }

    #[test]
    fn a_cut_off_start_and_a_number_are_masked() {
        let s = Scrubber::new(["ghp_R4nd0mT0kenValue", "92837461"]);
        assert_eq!(s.text("xxx token ghp_R4nd0…"), "xxx token ***…");
        assert_eq!(s.text("ghp_…"), "***…");
        assert_eq!(
            s.text("ends with ghp…"),
            "ends with ghp…",
            "three characters stay"
        );
        // Only a text known to be cut: a key or a word that starts a secret stays.
        assert_eq!(s.text("0123456789ghp_R4"), "0123456789ghp_R4");
        let mut v = json!({"n": 92837461, "m": 5, "ghp_R4": true});
        s.value(&mut v);
        assert_eq!(v, json!({"n": "***", "m": 5, "ghp_R4": true}));
        let mut v = json!({"stdout": "0123456789ghp_R4", "truncated": true});
        s.value(&mut v);
        assert_eq!(v, json!({"stdout": "0123456789***", "truncated": true}));
    }

    #[test]
    fn short_secrets_are_refused_not_left_unmasked() {
        struct Fixed;
        impl SecretReader for Fixed {
            fn read(&self, name: &str, _: &SecretSource) -> Result<String, String> {
                Ok(if name == "pin" {
                    "abc".into()
                } else {
                    "long enough".into()
                })
            }
        }
        let declared = |names: &[&str]| {
            names
                .iter()
                .map(|n| (SecretName::new(*n).unwrap(), SecretSource::Env("X".into())))
                .collect::<IndexMap<_, _>>()
        };
        let (values, scrubber) = read_all(&Fixed, &declared(&["token"])).unwrap();
        assert_eq!(values["token"], "long enough");
        assert_eq!(scrubber.text("a long enough key"), "a *** key");
        let err = read_all(&Fixed, &declared(&["token", "pin"])).unwrap_err();
        assert!(err.contains("secret `pin` is 3 characters long"), "{err}");
    }
}
