//! Masking secret values in whatever comes back from the world (an output, an error
//! message, a JSON answer): every form [`forms`] knows a value to take, replaced with
//! [`MASK`]. The engine masks a runbook's secrets with it before anything is recorded;
//! connectors mask the credentials they send (a cloud token, a kubeconfig's password)
//! from the errors a server or a proxy echoes back.

mod forms;

use serde_json::Value;

/// What a masked secret reads as, everywhere drctl shows one.
pub const MASK: &str = "***";

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
}
