//! Runs as every front end lists and shows them. `drctl ls`, `GET /api/v1/runs` and
//! the console call these, so a filter means the same everywhere.

use drctl_core::{RunId, Timestamp};
use drctl_store::{RunFilter, RunReader, RunStatus, StoreError};

use crate::views::{RunDetail, RunView, StatusArg, StepView};

/// Which runs to list.
#[derive(Debug, Clone, Default)]
pub struct RunQuery {
    pub status: Option<StatusArg>,
    pub runbook: Option<String>,
    /// Sub-runs too.
    pub all: bool,
    pub limit: usize,
    /// Only drills (`Some(true)`) or only real runs.
    pub drill: Option<bool>,
    /// Only runs created at or after this.
    pub since: Option<Timestamp>,
    /// Only the runs listed after this one (a page's `next`).
    pub after: Option<RunId>,
}

/// Runs, newest first. `interrupted` is not stored: it is a `running` or `waiting` row
/// that nobody drives, so those rows are read whole and judged at `now`.
pub async fn list(
    store: &dyn RunReader,
    q: &RunQuery,
    now: Timestamp,
) -> Result<Vec<RunView>, StoreError> {
    // The cursor is a run: the page goes on after it, in the list's order.
    let before = match &q.after {
        Some(id) => {
            let row = store
                .run(id)
                .await?
                .ok_or_else(|| StoreError::NotFound(id.to_string()))?;
            Some((row.created_at, row.id))
        }
        None => None,
    };
    let stored: Vec<Option<RunStatus>> = match q.status {
        None => vec![None],
        Some(StatusArg::Interrupted) => vec![Some(RunStatus::Running), Some(RunStatus::Waiting)],
        Some(s) => vec![s.stored()],
    };
    // A live status may be shown differently from the stored one (interrupted), so
    // those rows are not cut at `limit` before they are judged.
    let live = matches!(
        q.status,
        Some(StatusArg::Running | StatusArg::Waiting | StatusArg::Interrupted)
    );
    let mut rows = Vec::new();
    for s in stored {
        rows.extend(
            store
                .list_runs(&RunFilter {
                    status: s,
                    runbook: q.runbook.clone(),
                    top_level: !q.all,
                    limit: if live { usize::MAX >> 1 } else { q.limit },
                    drill: q.drill,
                    since: q.since,
                    before: before.clone(),
                })
                .await?,
        );
    }
    let mut views: Vec<RunView> = rows.into_iter().map(|r| RunView::of(r, now)).collect();
    if let Some(want) = q.status {
        views.retain(|v| v.status == want);
    }
    views.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
    views.truncate(q.limit);
    Ok(views)
}

/// A run, its steps and its sub-runs; `None` when there is no such run.
pub async fn detail(
    store: &dyn RunReader,
    id: &RunId,
    now: Timestamp,
) -> Result<Option<RunDetail>, StoreError> {
    let Some(row) = store.run(id).await? else {
        return Ok(None);
    };
    let steps = store.steps(id).await?;
    let children = store.children(id).await?;
    Ok(Some(RunDetail {
        run: RunView::of(row, now),
        steps: steps.into_iter().map(StepView::of).collect(),
        children: children.into_iter().map(|c| RunView::of(c, now)).collect(),
    }))
}

/// The top-level runs of `runbook` that `trigger` started, newest first (the newest 200:
/// what a schedule's overlap and a webhook's cooldown look at).
pub async fn of_trigger(
    store: &dyn drctl_store::RunReader,
    runbook: &str,
    trigger: &drctl_core::Trigger,
) -> Result<Vec<drctl_store::RunRow>, drctl_store::StoreError> {
    let rows = store
        .list_runs(&drctl_store::RunFilter {
            runbook: Some(runbook.to_owned()),
            top_level: true,
            limit: 200,
            ..drctl_store::RunFilter::default()
        })
        .await?;
    Ok(rows.into_iter().filter(|r| r.trigger == *trigger).collect())
}

/// The run an audit export is asked about: a run by its id or a unique prefix, or the
/// whole id of a run a webhook proposed that never started (its deliveries are all
/// there is of it).
pub async fn audited(store: &dyn drctl_store::Store, text: &str) -> Result<RunId, StoreError> {
    match store.resolve(text).await {
        Err(StoreError::NotFound(why)) => match text.parse::<RunId>() {
            Ok(id) if store.proposal(&id).await?.is_some() => Ok(id),
            _ => Err(StoreError::NotFound(why)),
        },
        other => other,
    }
}
