//! Secret values: read when a process starts driving a run (every secret the runbook
//! declares, so that any process can mask what any step revealed), revealed only in the
//! inputs of the actions that use them, never stored, and masked by a [`Scrubber`]
//! (`drctl_core::scrub`: every form a value takes) from whatever comes back (outputs,
//! keys, error messages) before it is recorded.

use drctl_core::SecretName;
pub use drctl_core::scrub::Scrubber;
use drctl_runbook::model::SecretSource;
use indexmap::IndexMap;

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

#[cfg(test)]
mod tests {
    use super::*;

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
