//! `drctl.toml`: the groups approvers belong to, and who may act as someone else.
//!
//! ```toml
//! [groups]
//! sre-oncall = ["alice", "bob"]
//! dba = ["carol"]
//!
//! [identity]
//! # OS users allowed to act as another name with `--as` ("*": any name).
//! act_as = { ci = ["*"], alice = ["alice-breakglass"] }
//!
//! # Gates a policy approves, recorded as `policy:lab-drills` (see drctl-engine's policy).
//! [[approval_policy]]
//! name = "lab-drills"
//! runbooks = ["lab-failover"]     # runbook names; none listed: all
//! drills_only = true              # the default: only runs started with `--drill`
//! on_behalf_of = "group:sre-oncall"
//! ```
//!
//! Read from `--config` / `DRCTL_CONFIG`, else `/etc/drctl/drctl.toml`; without one,
//! there are no groups, no policies, and nobody may use `--as`. Never from the working
//! directory or the home directory: whoever can write the file decides who may approve,
//! so a file that grants anything must be one the invoking user cannot change (see
//! `trust`), and is refused otherwise, with why.

use drctl_core::Actor;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{Context as _, bail};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    #[serde(default)]
    pub groups: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub identity: Identity,
    /// `[[approval_policy]]`: gates a policy approves as a recorded approver.
    #[serde(default, rename = "approval_policy")]
    pub approval_policies: Vec<drctl_engine::policy::ApprovalPolicy>,
    /// `[serve]`: what `drctl serve` takes on.
    #[serde(default)]
    pub serve: drctl_server::ServeConfig,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Identity {
    #[serde(default)]
    pub act_as: BTreeMap<String, Vec<String>>,
}

impl Config {
    /// Loads the configuration: the explicit path must exist; the system one may not. A
    /// file that grants privileges must pass `trust::check`.
    pub(crate) fn load(explicit: Option<&Path>) -> anyhow::Result<Self> {
        let path = match explicit {
            Some(p) => Some(p.to_path_buf()),
            None => Some(PathBuf::from(SYSTEM)).filter(|p| p.is_file()),
        };
        if explicit.is_none() && Path::new(LOCAL).is_file() {
            crate::commands::eprint(&format!(
                "note: ./{LOCAL} is not read: drctl reads {SYSTEM}, or the file named by --config or DRCTL_CONFIG\n"
            ));
        }
        let Some(path) = path else {
            return Ok(Self::default());
        };
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read the configuration {}", path.display()))?;
        let config = Self::parse(&path, &text)?;
        if let Some(problem) = config.serve.problems().first() {
            bail!("{}: {problem}", path.display());
        }
        if let Some(what) = config.grants()
            && let Err(why) = crate::trust::check(&path)
        {
            bail!(
                "{} grants {what}, but {why}: whoever can change it can make themselves an approver, act as anyone, or add an API token. Keep it where operators cannot write it (e.g. {SYSTEM}, owned by root, mode 644) or remove what it grants",
                path.display()
            );
        }
        Ok(config)
    }

    /// What this configuration grants, if anything: its privilege-bearing sections.
    fn grants(&self) -> Option<String> {
        let mut what = Vec::new();
        if !self.groups.is_empty() {
            what.push("[groups]");
        }
        if !self.identity.act_as.is_empty() {
            what.push("[identity] act_as");
        }
        if !self.approval_policies.is_empty() {
            what.push("[[approval_policy]]");
        }
        // A token is an identity and a role; the runbooks folder is what the API may run.
        if !self.serve.token.is_empty() {
            what.push("[[serve.token]]");
        }
        if self.serve.runbooks.is_some() {
            what.push("[serve] runbooks");
        }
        (!what.is_empty()).then(|| what.join(", "))
    }

    fn parse(path: &Path, text: &str) -> anyhow::Result<Self> {
        toml::from_str(text).map_err(|e| {
            let at = e
                .span()
                .map(|s| line_col(text, s.start))
                .map_or_else(String::new, |(l, c)| format!(":{l}:{c}"));
            anyhow::anyhow!("{}{at}: {}", path.display(), e.message())
        })
    }

    /// The groups `user` belongs to.
    pub(crate) fn groups_of(&self, user: &Actor) -> Vec<String> {
        let Some(user) = user.person_name() else {
            return Vec::new();
        };
        self.groups
            .iter()
            .filter(|(_, members)| members.iter().any(|m| m == user))
            .map(|(g, _)| g.clone())
            .collect()
    }

    /// Who this process acts as: the OS user, or `as_name` when the configuration lets
    /// the OS user take it.
    pub(crate) fn identity(&self, os_user: &str, as_name: Option<&str>) -> anyhow::Result<Actor> {
        let Some(name) = as_name else {
            return Actor::person(os_user)
                .map_err(|e| anyhow::anyhow!("the OS user cannot be an actor: {e}"));
        };
        let me = Actor::person(name).map_err(|e| anyhow::anyhow!("--as: {e}"))?;
        if name == os_user {
            return Ok(me);
        }
        let allowed = self
            .identity
            .act_as
            .get(os_user)
            .is_some_and(|names| names.iter().any(|n| n == "*" || n == name));
        if !allowed {
            bail!(
                "{os_user} may not act as {name}: drctl.toml's [identity] act_as does not allow it"
            );
        }
        Ok(me)
    }
}

/// The system-wide configuration, read when no other is named.
const SYSTEM: &str = "/etc/drctl/drctl.toml";
/// Where earlier versions also looked; now only named in a note.
const LOCAL: &str = "drctl.toml";

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// The configuration this process loaded, set once at start.
static CONFIG: OnceLock<Config> = OnceLock::new();

pub(crate) fn set(config: Config) {
    let _ = CONFIG.set(config);
}

/// The loaded configuration (empty if none was loaded).
pub(crate) fn get() -> &'static Config {
    CONFIG.get_or_init(Config::default)
}

/// Who this process acts as, set once at start (`--as`, checked against the
/// configuration) so that every event it records names them.
static ACTOR: OnceLock<Actor> = OnceLock::new();

pub(crate) fn set_actor(me: Actor) {
    let _ = ACTOR.set(me);
}

pub(crate) fn actor_override() -> Option<&'static Actor> {
    ACTOR.get()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const TEXT: &str = "[groups]\nsre = [\"alice\", \"bob\"]\ndba = [\"bob\"]\n\n[identity]\nact_as = { ci = [\"*\"], alice = [\"alice-admin\"] }\n";

    #[test]
    fn groups_and_act_as() {
        let c = Config::parse(Path::new("drctl.toml"), TEXT).unwrap();
        assert_eq!(c.groups_of(&Actor::from_stored("bob")), ["dba", "sre"]);
        assert!(c.groups_of(&Actor::from_stored("zed")).is_empty());
        assert_eq!(c.identity("alice", None).unwrap(), "alice");
        assert_eq!(
            c.identity("alice", Some("alice-admin")).unwrap(),
            "alice-admin"
        );
        assert_eq!(c.identity("ci", Some("anyone")).unwrap(), "anyone");
        let refused = c.identity("bob", Some("alice")).unwrap_err().to_string();
        assert!(refused.contains("bob may not act as alice"), "{refused}");
        assert!(Config::default().identity("bob", Some("alice")).is_err());
        // Nobody acts as the engine or a policy, whatever act_as allows.
        for reserved in ["drctl", "policy:drills", "group:sre"] {
            assert!(c.identity("ci", Some(reserved)).is_err(), "{reserved}");
        }
    }

    #[test]
    fn errors_say_where() {
        let err = Config::parse(Path::new("x.toml"), "[groups]\nsre = \"alice\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("x.toml:2:7: "), "{err}");
        let err = Config::parse(Path::new("x.toml"), "[grups]\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("x.toml:1:"), "{err}");
    }
}
