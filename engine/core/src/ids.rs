//! Typed names. Each newtype checks its syntax once, in `new`/`FromStr`, so a value of the
//! type is always well formed. Step, param and secret names must be valid template
//! identifiers because runbooks refer to them as `steps.<id>`, `params.<name>` and
//! `secrets.<name>`; a dash there would parse as a minus sign.

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a string is not a valid name of some kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a valid {kind}: {rule}")]
pub struct IdError {
    /// The rejected text.
    pub value: String,
    /// What kind of name was expected ("step id", "action name", ...).
    pub kind: &'static str,
    /// The rule it breaks, in words.
    pub rule: &'static str,
}

/// Longest name we accept. Names end up in terminal columns, lock keys and file names.
pub const MAX_NAME_LEN: usize = 64;

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_action_name(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|seg| {
            let mut chars = seg.chars();
            matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
                && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
}

fn is_slug(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

/// Suggests an identifier for a name that breaks the identifier rule, e.g. `promote-db`
/// becomes `promote_db`. Returns `None` when no simple fix exists.
pub fn suggest_identifier(s: &str) -> Option<String> {
    let fixed: String = s
        .chars()
        .map(|c| {
            if c == '-' || c == ' ' || c == '.' {
                '_'
            } else {
                c
            }
        })
        .collect();
    (fixed != s && is_identifier(&fixed)).then_some(fixed)
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $check:expr, $rule:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// Checks `s` and wraps it.
            pub fn new(s: impl Into<String>) -> Result<Self, IdError> {
                let s = s.into();
                if s.len() <= MAX_NAME_LEN && ($check)(s.as_str()) {
                    Ok(Self(s))
                } else {
                    Err(IdError { value: s, kind: $kind, rule: $rule })
                }
            }

            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::new(s).map_err(serde::de::Error::custom)
            }
        }
    };
}

/// The rule that step ids, param and secret names follow, for error messages.
pub const IDENTIFIER_RULE: &str =
    "use letters, digits and `_`, starting with a letter or `_` (at most 64)";

name_type!(
    /// The id of a step, unique across a runbook's `steps`, `on_failure` and `finally`.
    StepId, "step id", is_identifier, IDENTIFIER_RULE
);
name_type!(
    /// The name of a runbook parameter, referenced as `params.<name>`.
    ParamName, "parameter name", is_identifier, IDENTIFIER_RULE
);
name_type!(
    /// The name of a runbook secret, referenced as `secrets.<name>`.
    SecretName, "secret name", is_identifier, IDENTIFIER_RULE
);
name_type!(
    /// The registered name of an action, such as `postgres.promote`.
    ActionName, "action name", is_action_name, "use dot-separated lowercase segments such as `postgres.promote`"
);
name_type!(
    /// The name of a runbook (`runbook:` field), such as `region-failover`.
    RunbookName, "runbook name", is_slug, "use lowercase letters, digits, `-`, `_` and `.`, starting with a letter or digit"
);

/// A run's id: `run_` and a ULID, so ids sort by creation time and say what they are.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RunId(String);

impl RunId {
    const PREFIX: &'static str = "run_";

    /// Makes an id from a creation time and 80 random bits (the caller supplies both: the
    /// core reads neither a clock nor a random source).
    pub fn from_parts(created: crate::time::Timestamp, random: u128) -> Self {
        let ms = u64::try_from(created.as_millis()).unwrap_or(0);
        Self(format!(
            "{}{}",
            Self::PREFIX,
            ulid::Ulid::from_parts(ms, random)
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for RunId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let valid = s
            .strip_prefix(Self::PREFIX)
            .is_some_and(|rest| rest.parse::<ulid::Ulid>().is_ok());
        if valid {
            Ok(Self(s.to_owned()))
        } else {
            Err(IdError {
                value: s.to_owned(),
                kind: "run id",
                rule: "run ids look like run_01JD3N2Y9V6X4W8Q5R7T0ZKM2B",
            })
        }
    }
}

impl Serialize for RunId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for RunId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_once_at_construction() {
        assert!(StepId::new("promote_db").is_ok());
        assert!(StepId::new("_x1").is_ok());
        let err = StepId::new("promote-db").unwrap_err();
        assert_eq!(err.kind, "step id");
        assert_eq!(
            suggest_identifier("promote-db").as_deref(),
            Some("promote_db")
        );
        assert!(StepId::new("1abc").is_err());
        assert!(StepId::new("x".repeat(65)).is_err());
        assert!(ActionName::new("postgres.promote").is_ok());
        assert!(ActionName::new("postgres.").is_err());
        assert!(ActionName::new("Postgres.promote").is_err());
        assert!(RunbookName::new("region-failover").is_ok());
        assert!(RunbookName::new("-x").is_err());
        let id: StepId = serde_json::from_str("\"gate\"").unwrap();
        assert_eq!(id.to_string(), "gate");
        assert!(serde_json::from_str::<StepId>("\"a-b\"").is_err());
        let run = RunId::from_parts(crate::time::Timestamp::from_millis(1_795_780_800_000), 42);
        assert!(run.as_str().starts_with("run_01"), "{run}");
        assert_eq!(run.as_str().len(), 30);
        assert_eq!(run.to_string().parse::<RunId>().unwrap(), run);
        assert!("run_nope".parse::<RunId>().is_err());
        assert!("01JD3N2Y9V6X4W8Q5R7T0ZKM2B".parse::<RunId>().is_err());
    }
}
