//! What a person does to a schedule: pause it, resume it, waive its drill obligation
//! until a date, or fire it now. Each change is stored with who made it and why (the
//! schedule's log); a run fired now is recorded under the person who fired it.
//!
//! A schedule is named `RUNBOOK` (the runbook's only schedule) or `RUNBOOK/NAME`.

use std::path::Path;

use drctl_connectors::Registry;
use drctl_core::{Actor, RunId, Timestamp, Trigger};
use drctl_engine::{Engine, EngineError, NewRunRequest};
use drctl_runbook::model::{Schedule, Trigger as Declared};
use drctl_store::{Change, ChangeRow, Store, StoreError};

use crate::ops::folder::{FolderError, scan};
use crate::ops::start::{StartError, from_folder};

/// Why a change was refused.
#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    #[error(transparent)]
    Folder(#[from] FolderError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Start(#[from] StartError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("no schedule `{0}` in the runbooks folder{1}")]
    NotFound(String, String),
    /// Bad input: a reason that is blank or not one line.
    #[error("{0}")]
    Invalid(String),
    /// Well formed, but not now or not for this schedule: a waiver until a time that has
    /// passed, a waiver of a schedule that is no drill.
    #[error("{0}")]
    Refused(String),
}

/// The schedule `id` names (`RUNBOOK` or `RUNBOOK/NAME`), with its runbook's name.
pub fn locate(
    dir: &Path,
    registry: &Registry,
    id: &str,
) -> Result<(String, Schedule), ManageError> {
    let (runbook, name) = id.split_once('/').map_or((id, None), |(r, n)| (r, Some(n)));
    let mut all = Vec::new();
    for e in scan(dir, registry)? {
        let Some(rb) = e.runbook else { continue };
        for t in rb.triggers {
            if let Declared::Schedule(s) = t {
                all.push((rb.name.to_string(), s));
            }
        }
    }
    let ids: Vec<String> = all
        .iter()
        .map(|(r, s)| super::schedule_id(r, &s.name))
        .collect();
    let mut of_runbook: Vec<(String, Schedule)> =
        all.into_iter().filter(|(r, _)| r == runbook).collect();
    let found = match name {
        Some(n) => of_runbook.into_iter().find(|(_, s)| s.name == n),
        None if of_runbook.len() == 1 => of_runbook.pop(),
        None => of_runbook.into_iter().find(|(_, s)| s.name.is_empty()),
    };
    found.ok_or_else(|| {
        let known = if ids.is_empty() {
            String::new()
        } else {
            format!(" (there are: {})", ids.join(", "))
        };
        ManageError::NotFound(id.to_owned(), known)
    })
}

/// Applies a person's change to the schedule `id` and logs it.
pub async fn change(
    store: &dyn Store,
    (dir, registry): (&Path, &Registry),
    id: &str,
    by: &Actor,
    (change, now): (Change, Timestamp),
) -> Result<ChangeRow, ManageError> {
    let reason = match &change {
        Change::Pause { reason } | Change::Resume { reason } | Change::Waive { reason, .. } => {
            reason
        }
    };
    if reason.trim().is_empty() {
        return Err(ManageError::Invalid(format!(
            "a {} needs a reason",
            change.kind()
        )));
    }
    drctl_engine::command::check_text("the reason", reason).map_err(ManageError::Invalid)?;
    if let Change::Waive { until, .. } = &change
        && *until <= now
    {
        return Err(ManageError::Refused(format!(
            "a waiver must run until a later time than now ({})",
            now.to_rfc3339()
        )));
    }
    let (d, r, wanted) = (dir.to_owned(), registry.clone(), id.to_owned());
    let (runbook, schedule) = tokio::task::spawn_blocking(move || locate(&d, &r, &wanted))
        .await
        .map_err(|e| FolderError::Unreadable(e.to_string()))??;
    if matches!(change, Change::Waive { .. }) && !schedule.drill {
        return Err(ManageError::Refused(format!(
            "schedule `{id}` is not a drill: it has no obligation to waive"
        )));
    }
    // Made on first sight, as the scheduler would.
    store.schedule(&runbook, &schedule.name, now).await?;
    let row = ChangeRow {
        runbook,
        trigger: schedule.name,
        at: now,
        by: by.clone(),
        change,
    };
    store.change_schedule(&row).await?;
    Ok(row)
}

/// Fires the schedule `id` now: a run with its params, as a drill if it is one, started
/// by `by` (not a nominal time: the schedule's own firings go on as before).
pub async fn fire_now(
    engine: &Engine,
    (dir, registry): (&Path, &Registry),
    id: &str,
    by: &Actor,
) -> Result<RunId, ManageError> {
    let (d, r, wanted) = (dir.to_owned(), registry.clone(), id.to_owned());
    let ready = tokio::task::spawn_blocking(move || {
        let (runbook, schedule) = locate(&d, &r, &wanted)?;
        let params = schedule
            .params
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        Ok::<_, ManageError>((from_folder(&d, &runbook, &params, &r)?, schedule))
    })
    .await
    .map_err(|e| FolderError::Unreadable(e.to_string()))??;
    let (ready, schedule) = ready;
    Ok(engine
        .create_run(NewRunRequest {
            source: ready.source,
            callees: ready.callees,
            params: ready.params,
            actor: by.clone(),
            trigger: Trigger::Schedule(schedule.name),
            drill: schedule.drill,
            parent: None,
        })
        .await?)
}
