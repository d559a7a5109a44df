//! What started a run: a person at the CLI, the API, a schedule or a webhook. Stored and
//! shown as text (`manual`, `api`, `schedule:<trigger>`, `webhook:<name>`), so logs written
//! before this type read the same.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Trigger {
    /// `drctl run` (in the foreground or detached).
    Manual,
    /// `POST /api/v1/runs`.
    Api,
    /// A schedule of the runbook's `triggers:`, by its name (empty when unnamed).
    Schedule(String),
    /// A webhook, by its name.
    Webhook(String),
    /// A `call:` step of this parent run (a sub-run).
    Call(crate::RunId),
}

impl Trigger {
    /// Its kind alone: `manual`, `api`, `schedule`, `webhook` (a metric's label).
    pub fn kind(&self) -> &'static str {
        match self {
            Trigger::Manual => "manual",
            Trigger::Api => "api",
            Trigger::Schedule(_) => "schedule",
            Trigger::Webhook(_) => "webhook",
            Trigger::Call(_) => "call",
        }
    }

    /// The trigger a text names; `None` for a text drctl never writes.
    pub fn parse(text: &str) -> Option<Self> {
        if let Some(run) = text.strip_prefix("call from ") {
            return run.parse().ok().map(Trigger::Call);
        }
        let (kind, name) = text.split_once(':').unwrap_or((text, ""));
        match (kind, name) {
            ("manual", "") => Some(Trigger::Manual),
            ("api", "") => Some(Trigger::Api),
            ("schedule", name) => Some(Trigger::Schedule(name.to_owned())),
            ("webhook", name) if !name.is_empty() => Some(Trigger::Webhook(name.to_owned())),
            _ => None,
        }
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trigger::Schedule(name) if name.is_empty() => f.write_str("schedule"),
            Trigger::Schedule(name) | Trigger::Webhook(name) => {
                write!(f, "{}:{name}", self.kind())
            }
            Trigger::Call(run) => write!(f, "call from {run}"),
            other => f.write_str(other.kind()),
        }
    }
}

impl Serialize for Trigger {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Trigger {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Trigger::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("`{text}` is not a trigger")))
    }
}

#[cfg(test)]
mod tests {
    use super::Trigger;

    #[test]
    fn a_trigger_reads_back_as_written() {
        for text in [
            "manual",
            "api",
            "schedule",
            "schedule:monthly",
            "webhook:region-down",
            "call from run_01JD3N2Y9V6X4W8Q5R7T0ZKM2B",
        ] {
            let t = Trigger::parse(text).unwrap();
            assert_eq!(t.to_string(), text);
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(serde_json::from_str::<Trigger>(&json).unwrap(), t);
        }
        for bad in ["", "cron", "webhook", "manual:x", "call from x"] {
            assert_eq!(Trigger::parse(bad), None, "{bad}");
        }
    }
}
