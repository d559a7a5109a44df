//! The service's own records in an export: what happened outside any run's log but
//! belongs to the audit trail. Every webhook delivery, accepted or refused (hook, peer,
//! verdict, run; never its body or signature), every pause, resume and waiver of a
//! schedule (who, why), and every schedule firing (started, skipped, buffered, missed).
//!
//! They follow the runs, before the manifest, one record per line, so the manifest's
//! digest covers them and its counts say how many of each the file holds. Unlike events,
//! they are not hash-chained in the store: the export vouches for them from the moment
//! it was made, not before.

use drctl_core::Timestamp;
use drctl_store::{ChangeRow, DeliveryRow, FiringRow, RunRow, Store, StoreError};
use serde::{Deserialize, Serialize};

use super::Filters;

/// One service record, as exported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ServiceRecord {
    /// `delivery`, `schedule_change` or `firing`.
    pub record: String,
    /// RFC 3339, and in milliseconds.
    pub at: String,
    pub at_ms: i64,
    /// Who: a schedule change's person; `drctl` for a firing; for a delivery, the person
    /// who confirmed or rejected the run it proposed, else the sender's address.
    pub actor: String,
    /// The delivery's verdict, the change (`pause`, `resume`, `waive`), the firing's
    /// outcome.
    pub kind: String,
    /// The record's fields, as JSON.
    pub body: serde_json::Value,
}

/// The record kinds, as the `record` field names them.
pub(crate) const KINDS: [&str; 3] = ["delivery", "schedule_change", "firing"];

/// How many service records of each kind an export holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceCounts {
    pub deliveries: u64,
    pub schedule_changes: u64,
    pub firings: u64,
}

impl ServiceCounts {
    pub fn is_empty(&self) -> bool {
        self.total() == 0
    }

    pub fn total(&self) -> u64 {
        self.deliveries + self.schedule_changes + self.firings
    }

    pub(crate) fn count(&mut self, record: &str) -> Result<(), String> {
        match record {
            "delivery" => self.deliveries += 1,
            "schedule_change" => self.schedule_changes += 1,
            "firing" => self.firings += 1,
            other => return Err(format!("an unknown service record `{other}`")),
        }
        Ok(())
    }
}

/// The service records of the store (deliveries, schedule changes, firings) in the
/// export's time window, read for [`super::export`].
#[derive(Debug, Clone, Default)]
pub struct ServiceLog {
    pub deliveries: Vec<DeliveryRow>,
    pub changes: Vec<ChangeRow>,
    pub firings: Vec<FiringRow>,
}

impl ServiceLog {
    /// Reads them from `store`, within the filters' time window.
    pub async fn read(store: &dyn Store, filters: &Filters) -> Result<Self, StoreError> {
        let deliveries = store
            .deliveries_between(filters.since, filters.until)
            .await?;
        let (changes, firings) = store.schedule_log(filters.since, filters.until).await?;
        Ok(Self {
            deliveries,
            changes,
            firings,
        })
    }

    /// The records `filters` choose, oldest first within each kind: with `run`, those
    /// about that run (its deliveries, a proposal's too, and its firing); with
    /// `runbook`, those of the runbook (or of a run of it); with `actor`, the schedule
    /// changes that person made and the proposals they confirmed or rejected.
    ///
    /// A proposal past its deadline at `now` is exported `expired`, whether or not a
    /// server marked it so yet.
    pub(crate) fn records(
        &self,
        filters: &Filters,
        runs: &[&RunRow],
        now: Timestamp,
    ) -> Vec<ServiceRecord> {
        let chosen = |run: Option<&drctl_core::RunId>, runbook: &str, actor: Option<&str>| {
            filters.run.as_ref().is_none_or(|id| run == Some(id))
                && filters.runbook.as_ref().is_none_or(|r| {
                    r == runbook || run.is_some_and(|id| runs.iter().any(|row| row.id == *id))
                })
                && filters
                    .actor
                    .as_ref()
                    .is_none_or(|a| Some(a.as_str()) == actor)
        };
        let mut out = Vec::new();
        for d in &self.deliveries {
            let by = d.by.as_ref().map(ToString::to_string);
            if chosen(d.run.as_ref(), &d.runbook, by.as_deref()) {
                let who = by.as_deref().unwrap_or(&d.peer);
                let d = d.clone().as_of(now);
                out.push(record("delivery", d.at, who, d.verdict.as_str(), &d));
            }
        }
        for f in &self.firings {
            if chosen(f.run.as_ref(), &f.runbook, Some("drctl")) {
                out.push(record("firing", f.at, "drctl", f.outcome.as_str(), f));
            }
        }
        for c in &self.changes {
            let by = c.by.to_string();
            if chosen(None, &c.runbook, Some(&by)) {
                out.push(record("schedule_change", c.at, &by, c.change.kind(), c));
            }
        }
        out
    }
}

fn record(
    kind: &str,
    at: Timestamp,
    actor: &str,
    what: &str,
    body: &impl Serialize,
) -> ServiceRecord {
    ServiceRecord {
        record: kind.to_owned(),
        at: at.to_rfc3339(),
        at_ms: at.as_millis(),
        actor: actor.to_owned(),
        kind: what.to_owned(),
        // Rows of strings, numbers and times always serialize.
        body: serde_json::to_value(body).unwrap_or_default(),
    }
}
