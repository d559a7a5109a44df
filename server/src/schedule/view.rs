//! Every schedule of the runbooks folder as `drctl schedules` and the API show it: the
//! next firing (UTC and local), the last one and its run's result, whether it is paused,
//! and for a drill its obligation. Built from the folder as it is now and the store.

use std::path::Path;

use drctl_connectors::Registry;
use drctl_core::{Actor, RunId, Timestamp};
use drctl_runbook::model::{Schedule, Trigger as Declared};
use drctl_store::{FiringRow, RunFilter, RunStatus, Store, StoreError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::cadence::Cadence;
use super::obligation::{Drill, Obligation, standing};
use crate::ops::folder::{Entry, FolderError, scan_async};
use crate::views::StatusArg;

/// How many of a runbook's newest drills an obligation looks at.
const DRILLS: usize = 50;

/// One schedule. Times are milliseconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ScheduleView {
    pub runbook: String,
    /// The schedule's name; empty for a runbook's one unnamed schedule.
    pub name: String,
    pub cron: String,
    pub timezone: String,
    pub drill: bool,
    /// `skip`, `buffer_one` or `allow`.
    pub overlap: String,
    #[schema(value_type = Option<i64>)]
    pub next: Option<Timestamp>,
    /// `next` in the schedule's time zone, e.g. `2027-01-01 03:00 CET`.
    pub next_local: Option<String>,
    pub last: Option<FiringView>,
    pub paused: Option<PauseView>,
    /// A drill's obligation; `None` for a schedule that is not a drill.
    pub obligation: Option<ObligationView>,
}

impl ScheduleView {
    /// `runbook` or `runbook/name`: how commands name it.
    pub fn id(&self) -> String {
        super::schedule_id(&self.runbook, &self.name)
    }
}

/// A firing and what became of its run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FiringView {
    #[schema(value_type = i64)]
    pub nominal: Timestamp,
    /// `started`, `skipped`, `buffered` or `missed`.
    pub outcome: String,
    pub reason: Option<String>,
    #[schema(value_type = Option<String>)]
    pub run: Option<RunId>,
    /// The run's status now.
    pub result: Option<StatusArg>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PauseView {
    #[schema(value_type = String)]
    pub by: Actor,
    #[schema(value_type = i64)]
    pub at: Timestamp,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ObligationView {
    pub status: Obligation,
    /// Why, for people.
    pub why: String,
    #[schema(value_type = Option<i64>)]
    pub last_success: Option<Timestamp>,
    #[schema(value_type = Option<String>)]
    pub last_success_run: Option<RunId>,
    pub waiver: Option<WaiverView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WaiverView {
    #[schema(value_type = String)]
    pub by: Actor,
    #[schema(value_type = i64)]
    pub until: Timestamp,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ScheduleList {
    pub schedules: Vec<ScheduleView>,
    /// The runbooks with a `readiness:` check, and its last result.
    #[serde(default)]
    pub readiness: Vec<ReadinessView>,
    /// Files of the folder that do not compile, each error as `file:line:col: message`:
    /// their schedules neither fire nor show until fixed.
    #[serde(default)]
    pub problems: Vec<String>,
}

/// A runbook's readiness: would it work now? Times are milliseconds since the epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReadinessView {
    pub runbook: String,
    /// How often it is checked, e.g. `30m`.
    pub every: String,
    /// When it was last checked (`None`: not yet).
    #[schema(value_type = Option<i64>)]
    pub checked_at: Option<Timestamp>,
    pub ready: Option<bool>,
    /// Why not, step by step.
    pub findings: Vec<FindingView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FindingView {
    pub step: String,
    pub why: String,
}

/// Why the schedules cannot be shown.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    #[error(transparent)]
    Folder(#[from] FolderError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Everything `drctl schedules` and the API show, from one read of the folder `dir`.
pub async fn list(
    dir: &Path,
    registry: &Registry,
    store: &dyn Store,
    now: Timestamp,
) -> Result<ScheduleList, ViewError> {
    list_in(&scan_async(dir, registry).await?, store, now).await
}

/// [`list`], from the folder's entries as a caller already read them.
pub async fn list_in(
    entries: &[Entry],
    store: &dyn Store,
    now: Timestamp,
) -> Result<ScheduleList, ViewError> {
    let mut out = ScheduleList {
        schedules: Vec::new(),
        readiness: Vec::new(),
        // A file that does not compile: its schedules neither fire nor show.
        problems: entries
            .iter()
            .filter(|e| e.runbook.is_none())
            .flat_map(|e| e.errors.iter().cloned())
            .collect(),
    };
    for e in entries {
        let Some(rb) = &e.runbook else { continue };
        let digest = e.source.digest();
        for t in &rb.triggers {
            if let Declared::Schedule(s) = t {
                out.schedules
                    .push(one(store, rb.name.as_str(), s, &digest, now).await?);
            }
        }
        if let Some(r) = &rb.readiness {
            out.readiness
                .push(readiness(store, rb.name.as_str(), r).await?);
        }
    }
    Ok(out)
}

/// A runbook's readiness check and its last result.
async fn readiness(
    store: &dyn Store,
    runbook: &str,
    r: &drctl_runbook::model::Readiness,
) -> Result<ReadinessView, ViewError> {
    let last = store.last_readiness(runbook).await?;
    Ok(ReadinessView {
        runbook: runbook.to_owned(),
        every: drctl_core::format_duration(r.every),
        checked_at: last.as_ref().map(|l| l.at),
        ready: last.as_ref().map(|l| l.ready),
        findings: last
            .map(|l| {
                l.findings
                    .into_iter()
                    .map(|f| FindingView {
                        step: f.step,
                        why: f.why,
                    })
                    .collect()
            })
            .unwrap_or_default(),
    })
}

async fn one(
    store: &dyn Store,
    runbook: &str,
    s: &Schedule,
    digest: &str,
    now: Timestamp,
) -> Result<ScheduleView, ViewError> {
    let row = store.schedule(runbook, &s.name, now).await?;
    let cadence = Cadence::of(s).ok();
    let next = cadence.as_ref().and_then(|c| c.next_after(now));
    let last = match store.firings(runbook, &s.name, 1).await?.pop() {
        Some(f) => Some(firing(store, f).await?),
        None => None,
    };
    let obligation = match (&cadence, s.drill) {
        (Some(c), true) => {
            let drills = drills(store, runbook).await?;
            let st = standing(
                (s, c),
                row.since,
                now,
                &drills,
                (digest, row.waiver.as_ref()),
            );
            Some(ObligationView {
                status: st.status,
                why: st.why,
                last_success: st.last_success.as_ref().map(|d| d.finished),
                last_success_run: st.last_success.map(|d| d.run),
                waiver: row.waiver.filter(|w| w.until > now).map(|w| WaiverView {
                    by: w.by,
                    until: w.until,
                    reason: w.reason,
                }),
            })
        }
        _ => None,
    };
    Ok(ScheduleView {
        runbook: runbook.to_owned(),
        name: s.name.clone(),
        cron: s.cron.clone(),
        timezone: s.timezone.name().to_owned(),
        drill: s.drill,
        overlap: s.overlap.as_str().to_owned(),
        next_local: next.zip(cadence.as_ref()).map(|(t, c)| c.show_local(t)),
        next,
        last,
        paused: row.paused.map(|p| PauseView {
            by: p.by,
            at: p.at,
            reason: p.reason,
        }),
        obligation,
    })
}

async fn firing(store: &dyn Store, f: FiringRow) -> Result<FiringView, ViewError> {
    let result = match &f.run {
        Some(id) => store.run(id).await?.map(|r| StatusArg::from(r.status)),
        None => None,
    };
    Ok(FiringView {
        nominal: f.nominal,
        outcome: f.outcome.as_str().to_owned(),
        reason: f.reason,
        run: f.run,
        result,
    })
}

/// The runbook's finished drills, newest first.
async fn drills(store: &dyn Store, runbook: &str) -> Result<Vec<Drill>, StoreError> {
    let rows = store
        .list_runs(&RunFilter {
            runbook: Some(runbook.to_owned()),
            drill: Some(true),
            top_level: true,
            limit: DRILLS,
            ..RunFilter::default()
        })
        .await?;
    let mut out: Vec<Drill> = rows
        .into_iter()
        .filter_map(|r| {
            Some(Drill {
                finished: r.finished_at?,
                succeeded: r.status == RunStatus::Succeeded,
                digest: r.digest,
                run: r.id,
            })
        })
        .collect();
    // Listed by creation; the obligation reads them by when they ended.
    out.sort_by_key(|d| std::cmp::Reverse(d.finished));
    Ok(out)
}
