//! Who did something, and who may approve a gate.
//!
//! Both are stored and shown as text, in the forms logs held before these types existed,
//! so an old log reads the same and its hash chain still verifies:
//!
//! - an [`Actor`] is `drctl` (the engine's own decisions), `policy:NAME` (a gate an
//!   approval policy decided) or a person's name (`alice`, `uid:1001`, a token's identity);
//! - an [`Approver`] is a person's name or `group:NAME`.
//!
//! A person's name is checked once, when a person is made ([`Actor::person`]): it cannot be
//! `drctl` nor start with `policy:` or `group:`, so nobody can act under the engine's name
//! or a policy's, or be read back as a group.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The text of the engine's own actor.
pub const ENGINE_NAME: &str = "drctl";
const POLICY: &str = "policy:";
const GROUP: &str = "group:";
/// The longest name a person may have.
pub const MAX_NAME: usize = 64;

/// Who caused an event or sent a command.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Actor {
    /// The engine: retries, timeouts, recovery, a run's own end.
    Engine,
    /// An approval policy of the configuration, by its name.
    Policy(String),
    /// A person (or a service acting through a token), by name.
    Person(String),
}

/// Why a name cannot be a person's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("a name cannot be empty")]
    Empty,
    #[error("`{0}` is too long: a name is at most {MAX_NAME} characters")]
    TooLong(String),
    #[error("`{0}` has spaces or control characters")]
    Blank(String),
    #[error(
        "`{0}` is reserved: `drctl` is the engine, `policy:` and `group:` name policies and groups"
    )]
    Reserved(String),
}

impl Actor {
    /// A person, by a name checked here: never the engine's or a policy's.
    pub fn person(name: &str) -> Result<Actor, NameError> {
        check_name(name)?;
        Ok(Actor::Person(name.to_owned()))
    }

    /// The actor a stored text names. Every text reads as some actor: a person's name
    /// written by an older version is kept as it was.
    pub fn from_stored(text: &str) -> Actor {
        if text == ENGINE_NAME {
            Actor::Engine
        } else if let Some(name) = text.strip_prefix(POLICY) {
            Actor::Policy(name.to_owned())
        } else {
            Actor::Person(text.to_owned())
        }
    }

    /// A person's name; `None` for the engine and policies.
    pub fn person_name(&self) -> Option<&str> {
        match self {
            Actor::Person(name) => Some(name),
            _ => None,
        }
    }
}

/// Whether `name` may be a person's: 1 to 64 characters, no spaces or control
/// characters, not reserved.
pub fn check_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.chars().count() > MAX_NAME {
        return Err(NameError::TooLong(name.chars().take(MAX_NAME).collect()));
    }
    if name.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(NameError::Blank(name.escape_default().to_string()));
    }
    if name == ENGINE_NAME || name.starts_with(POLICY) || name.starts_with(GROUP) {
        return Err(NameError::Reserved(name.to_owned()));
    }
    Ok(())
}

/// Reads a person's name checked by [`Actor::person`] (`#[serde(deserialize_with)]`).
pub fn person<'de, D: Deserializer<'de>>(d: D) -> Result<Actor, D::Error> {
    let name = String::deserialize(d)?;
    Actor::person(&name).map_err(serde::de::Error::custom)
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::Engine => f.write_str(ENGINE_NAME),
            Actor::Policy(name) => write!(f, "{POLICY}{name}"),
            Actor::Person(name) => f.write_str(name),
        }
    }
}

/// An actor equals the text it is stored as (for reading logs and tests).
impl PartialEq<str> for Actor {
    fn eq(&self, text: &str) -> bool {
        match self {
            Actor::Engine => text == ENGINE_NAME,
            Actor::Policy(name) => text.strip_prefix(POLICY) == Some(name.as_str()),
            Actor::Person(name) => name == text,
        }
    }
}

impl PartialEq<&str> for Actor {
    fn eq(&self, text: &&str) -> bool {
        self == *text
    }
}

impl Serialize for Actor {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Actor {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Actor::from_stored(&String::deserialize(d)?))
    }
}

/// One entry of an approval gate's `approvers`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Approver {
    User(String),
    /// `group:<name>`, resolved through the configuration's groups.
    Group(String),
}

impl Approver {
    /// The entry a text names: `group:NAME` or a user's name.
    pub fn parse(text: &str) -> Approver {
        match text.strip_prefix(GROUP) {
            Some(group) => Approver::Group(group.to_owned()),
            None => Approver::User(text.to_owned()),
        }
    }

    /// Whether `actor`, a member of `groups`, answers for this entry.
    pub fn covers(&self, actor: &Actor, groups: &[String]) -> bool {
        match (self, actor) {
            (Approver::User(u), Actor::Person(p)) => u == p,
            (Approver::Group(g), Actor::Person(_)) => groups.iter().any(|m| m == g),
            _ => false,
        }
    }
}

/// An entry equals the text it is written as.
impl PartialEq<&str> for Approver {
    fn eq(&self, text: &&str) -> bool {
        match self {
            Approver::User(u) => u == text,
            Approver::Group(g) => text.strip_prefix(GROUP) == Some(g.as_str()),
        }
    }
}

/// Approver entries read as written (`group:sre`, `alice`): no text is refused.
impl From<&str> for Approver {
    fn from(text: &str) -> Self {
        Approver::parse(text)
    }
}

impl fmt::Display for Approver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Approver::User(u) => f.write_str(u),
            Approver::Group(g) => write!(f, "{GROUP}{g}"),
        }
    }
}

impl Serialize for Approver {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Approver {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Approver::parse(&String::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actors_and_approvers_read_back_as_written() {
        for text in ["drctl", "policy:lab-drills", "alice", "uid:1001"] {
            let a = Actor::from_stored(text);
            assert_eq!(a.to_string(), text);
            let json = serde_json::to_string(&a).unwrap();
            assert_eq!(json, format!("\"{text}\""));
            assert_eq!(serde_json::from_str::<Actor>(&json).unwrap(), a);
        }
        assert_eq!(Actor::from_stored("drctl"), Actor::Engine);
        assert_eq!(Actor::from_stored("policy:x"), Actor::Policy("x".into()));
        for text in ["group:sre", "alice"] {
            let a = Approver::parse(text);
            assert_eq!(a.to_string(), text);
            let json = serde_json::to_string(&a).unwrap();
            assert_eq!(serde_json::from_str::<Approver>(&json).unwrap(), a);
        }
    }

    #[test]
    fn nobody_takes_the_engines_or_a_policys_name() {
        for bad in ["drctl", "policy:drills", "group:sre", "", "a b", "x\u{7}"] {
            assert!(Actor::person(bad).is_err(), "{bad:?}");
        }
        assert!(Actor::person(&"a".repeat(65)).is_err());
        assert_eq!(
            Actor::person("alice").unwrap(),
            Actor::Person("alice".into())
        );
        assert!(Actor::person("uid:1001").is_ok());
    }

    #[test]
    fn an_entry_covers_its_person_or_group_members_only() {
        let alice = Actor::Person("alice".into());
        let sre = ["sre".to_owned()];
        assert!(Approver::User("alice".into()).covers(&alice, &[]));
        assert!(Approver::Group("sre".into()).covers(&alice, &sre));
        assert!(!Approver::Group("dba".into()).covers(&alice, &sre));
        assert!(!Approver::User("drctl".into()).covers(&Actor::Engine, &[]));
        assert!(!Approver::Group("sre".into()).covers(&Actor::Policy("p".into()), &sre));
    }
}
