//! What a run report says, gathered from the store: the run and its sub-runs, their
//! steps, approvals and errors, the objectives it measured, and how much of the RTO
//! window drctl itself took.

use drctl_core::{RunId, Timestamp};
use drctl_engine::Engine;
use drctl_engine::liveness;
use drctl_run::event::{AttemptResult, EventKind, Verdict};
use drctl_run::measure::Measured;
use drctl_run::state::Compensation;
use drctl_run::{Phase, RunState};
use drctl_runbook::model::Mark;
use drctl_store::RunRow;
use serde::Serialize;
use serde_json::{Value, json};

use super::ReportError;
use super::overhead::{Covered, Overhead};

#[derive(Debug, Serialize)]
pub struct RunReport {
    pub run: String,
    pub runbook: String,
    pub status: String,
    pub detail: Option<String>,
    pub drill: bool,
    pub trigger: drctl_core::Trigger,
    /// For a run a webhook started: the delivery that started it (the alert), and how
    /// many later deliveries attached to it.
    pub delivery: Option<DeliveryRow>,
    pub started_by: drctl_core::Actor,
    pub created_at: String,
    pub finished_at: Option<String>,
    pub took_ms: Option<u64>,
    /// The figures and whether each met its objective.
    pub objectives: Value,
    /// Every objective the runbook sets and every figure its marks measure: measured, or
    /// why not.
    pub objective_rows: Vec<ObjectiveRow>,
    /// The params the run was started with.
    pub params: Value,
    /// The compensations run after a failure, latest completed step first.
    pub compensations: Vec<CompensationRow>,
    /// How the RTO window was spent: in actions, in deliberate waits, and in drctl.
    pub rto_breakdown: Option<Overhead>,
    pub timeline: Vec<TimelineRow>,
    pub approvals: Vec<ApprovalRow>,
    pub errors: Vec<ErrorRow>,
}

/// The delivery that started a run.
#[derive(Debug, Serialize)]
pub struct DeliveryRow {
    pub hook: String,
    /// The sender's own id, when its scheme has one.
    pub id: Option<String>,
    pub peer: String,
    pub at: String,
    /// Its dedup key (an Alertmanager group's `groupKey`).
    pub key: Option<String>,
    pub attached: usize,
    /// Who confirmed the run it proposed, and why (a hook with `confirm: true`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirmed: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct TimelineRow {
    /// 0 for the run's own steps, 1 for a sub-run's, and so on.
    pub depth: usize,
    pub runbook: String,
    pub step: String,
    pub item: Option<u32>,
    pub status: String,
    pub attempts: u32,
    /// From the run's creation.
    pub start_ms: Option<u64>,
    pub duration_ms: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct ObjectiveRow {
    pub what: String,
    /// The figure, or why there is none.
    pub measured: String,
    pub objective: String,
    /// PASS, FAIL, or empty when there is nothing to compare.
    pub result: String,
}

#[derive(Debug, Serialize)]
pub struct CompensationRow {
    pub runbook: String,
    pub step: String,
    pub item: Option<u32>,
    pub attempt: u32,
    /// succeeded, failed or cancelled.
    pub result: String,
    pub message: String,
}

#[derive(Debug, Serialize)]
pub struct ApprovalRow {
    pub runbook: String,
    pub step: String,
    pub verdict: String,
    pub by: drctl_core::Actor,
    pub on_behalf_of: Vec<drctl_core::Approver>,
    pub at: String,
    pub comment: String,
}

#[derive(Debug, Serialize)]
pub struct ErrorRow {
    pub runbook: String,
    pub step: String,
    pub item: Option<u32>,
    pub attempt: u32,
    /// retryable, permanent or timeout.
    pub class: String,
    pub message: String,
}

pub(crate) fn ms(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The measured figures with pass or fail, as the report shows them.
pub(crate) fn objectives(m: Option<&Measured>) -> Value {
    let Some(m) = m else {
        return Value::Null;
    };
    json!({
        "rto_ms": m.rto_ms,
        "healthy_ms": m.healthy_ms,
        "rto_objective_ms": m.rto_objective_ms,
        "rto_met": m.rto_met(),
        "lost_writes": m.lost_writes,
        "lost_seconds": m.lost_seconds,
        "rpo_objective_ms": m.rpo_objective_ms,
        "rpo_met": m.rpo_met(),
    })
}

/// The figures a finished run recorded in its `run_finished` event.
pub(crate) fn recorded(events: &[drctl_run::Event]) -> Option<Measured> {
    events.iter().rev().find_map(|e| match &e.kind {
        EventKind::RunFinished { measured, .. } => measured.clone(),
        _ => None,
    })
}

pub(crate) async fn build(
    engine: &Engine,
    row: &RunRow,
    now: Timestamp,
) -> Result<RunReport, ReportError> {
    let store = engine.store();
    let state = engine.state(&row.id).await?;
    let mut report = RunReport {
        run: row.id.to_string(),
        runbook: row.runbook.clone(),
        status: liveness::shown_status(row, now).to_owned(),
        detail: liveness::interrupted(row, now).or_else(|| row.detail.clone()),
        drill: state.created.drill,
        trigger: state.created.trigger.clone(),
        delivery: match &state.created.trigger {
            drctl_core::Trigger::Webhook(hook) => delivery(store.as_ref(), hook, &row.id).await?,
            _ => None,
        },
        started_by: row.actor.clone(),
        created_at: row.created_at.to_rfc3339(),
        finished_at: row.finished_at.map(Timestamp::to_rfc3339),
        took_ms: row.finished_at.map(|f| ms(f.since(row.created_at))),
        // Filled from the run's own `run_finished` by `walk`.
        objectives: Value::Null,
        objective_rows: Vec::new(),
        params: Value::Object(state.created.params.clone()),
        compensations: Vec::new(),
        rto_breakdown: None,
        timeline: Vec::new(),
        approvals: Vec::new(),
        errors: Vec::new(),
    };
    let mut covered = Covered::default();
    walk(
        engine,
        store.as_ref(),
        (row, row.created_at, 0, now),
        &mut report,
        &mut covered,
    )
    .await?;
    let measured = recorded(&engine.events(&row.id).await?).or_else(|| state.measured());
    report.objective_rows = objective_rows(&state, measured.as_ref());
    report.rto_breakdown = state
        .rto_window()
        .map(|(start, end)| covered.within(start, end));
    Ok(report)
}

/// Adds one run's steps, approvals, errors and busy intervals, then its sub-runs' after
/// the step that called them.
async fn walk(
    engine: &Engine,
    store: &dyn drctl_store::Store,
    (row, t0, depth, now): (&RunRow, Timestamp, usize, Timestamp),
    report: &mut RunReport,
    covered: &mut Covered,
) -> Result<(), ReportError> {
    let events = engine.events(&row.id).await?;
    if depth == 0 {
        report.objectives = objectives(recorded(&events).as_ref());
    }
    covered.add_run(&events);
    for e in &events {
        match &e.kind {
            EventKind::ApprovalDecided {
                step,
                verdict,
                comment,
                on_behalf_of,
            } => report.approvals.push(ApprovalRow {
                runbook: row.runbook.clone(),
                step: step.to_string(),
                verdict: match verdict {
                    Verdict::Approve => "approved".into(),
                    Verdict::Reject => "rejected".into(),
                },
                by: e.actor.clone(),
                on_behalf_of: on_behalf_of.clone(),
                at: e.at.to_rfc3339(),
                comment: comment.clone(),
            }),
            EventKind::AttemptFinished {
                step,
                item,
                attempt,
                phase: Phase::Compensate,
                result,
            } => report.compensations.push(CompensationRow {
                runbook: row.runbook.clone(),
                step: step.to_string(),
                item: *item,
                attempt: *attempt,
                result: match result {
                    AttemptResult::Succeeded { .. } => "succeeded".into(),
                    AttemptResult::Failed { .. } => "failed".into(),
                    AttemptResult::Cancelled => "cancelled".into(),
                },
                message: match result {
                    AttemptResult::Failed { message, .. } => message.clone(),
                    _ => String::new(),
                },
            }),
            EventKind::AttemptFinished {
                step,
                item,
                attempt,
                result: AttemptResult::Failed { class, message },
                ..
            } => report.errors.push(ErrorRow {
                runbook: row.runbook.clone(),
                step: step.to_string(),
                item: *item,
                attempt: *attempt,
                class: format!("{class:?}").to_lowercase(),
                message: message.clone(),
            }),
            _ => {}
        }
    }
    let children: Vec<RunRow> = store.children(&row.id).await?;
    let state = engine.state(&row.id).await?;
    let stalled = liveness::interrupted(row, now).is_some();
    for step in store.steps(&row.id).await? {
        let undone = state
            .steps
            .get(step.step.as_str())
            .and_then(|s| s.items.get(step.item.unwrap_or(0) as usize))
            .and_then(|it| match &it.compensation {
                Compensation::Done => Some(", undone"),
                Compensation::Failed { .. } => Some(", undo failed"),
                _ => None,
            })
            .unwrap_or_default();
        report.timeline.push(TimelineRow {
            depth,
            runbook: row.runbook.clone(),
            step: step.step.clone(),
            item: step.item,
            status: if stalled && step.status == "running" {
                liveness::INTERRUPTED.to_owned()
            } else {
                format!("{}{undone}", step.status)
            },
            attempts: step.attempts,
            start_ms: step.started_at.map(|s| ms(s.since(t0))),
            duration_ms: match (step.started_at, step.finished_at) {
                (Some(s), Some(f)) => Some(ms(f.since(s))),
                _ => None,
            },
        });
        for child in children
            .iter()
            .filter(|c| c.parent_step.as_deref() == Some(step.step.as_str()))
        {
            Box::pin(walk(
                engine,
                store,
                (child, t0, depth + 1, now),
                report,
                covered,
            ))
            .await?;
        }
    }
    Ok(())
}

/// The runs a trend covers: the runbook's last `n` finished top-level runs, oldest first.
pub(crate) async fn last_runs(
    store: &dyn drctl_store::Store,
    runbook: &str,
    n: usize,
) -> Result<Vec<RunRow>, ReportError> {
    let mut rows = store
        .list_runs(&drctl_store::RunFilter {
            status: None,
            runbook: Some(runbook.to_owned()),
            top_level: true,
            limit: 10_000,
            ..drctl_store::RunFilter::default()
        })
        .await?;
    rows.retain(RunRow::is_finished);
    rows.sort_by_key(|r| r.created_at);
    let skip = rows.len().saturating_sub(n);
    Ok(rows.into_iter().skip(skip).collect())
}

/// One row per objective set and per figure marked: what was measured, or why nothing was.
fn objective_rows(state: &RunState, m: Option<&Measured>) -> Vec<ObjectiveRow> {
    let rb = &state.runbook;
    let marked = |mark: Mark| -> Vec<String> {
        rb.blocks()
            .into_iter()
            .flat_map(|b| &b.steps)
            .filter(|s| s.marks.contains(&mark))
            .map(|s| format!("`{}`", s.id))
            .collect()
    };
    let (starts, ends, rpo) = (
        marked(Mark::RtoStart),
        marked(Mark::RtoEnd),
        marked(Mark::Rpo),
    );
    let objective = |d: Option<std::time::Duration>| {
        d.map_or_else(|| "none set".to_owned(), drctl_core::format_duration)
    };
    let verdict = |met: Option<bool>| match met {
        Some(true) => "PASS".to_owned(),
        Some(false) => "FAIL".to_owned(),
        None => String::new(),
    };
    let mut rows = Vec::new();
    if rb.objectives.rto.is_some() || !starts.is_empty() || !ends.is_empty() {
        let measured = match m.and_then(|m| m.rto_ms) {
            Some(ms) => super::render::secs(ms),
            None if starts.is_empty() || ends.is_empty() => {
                let missing: Vec<&str> = [("`rto_start`", &starts), ("`rto_end`", &ends)]
                    .into_iter()
                    .filter(|(_, marked)| marked.is_empty())
                    .map(|(mark, _)| mark)
                    .collect();
                format!("not measured: no step is marked {}", missing.join(" or "))
            }
            None => format!(
                "not measured: the run did not get from {} to a successful {}",
                starts.join(", "),
                ends.join(", ")
            ),
        };
        rows.push(ObjectiveRow {
            what: "RTO (rto_start to rto_end)".into(),
            measured,
            objective: objective(rb.objectives.rto),
            result: verdict(m.and_then(Measured::rto_met)),
        });
    }
    if let Some(ms) = m.and_then(|m| m.healthy_ms) {
        rows.push(ObjectiveRow {
            what: "Time until healthy through the load balancer".into(),
            measured: super::render::secs(ms),
            objective: String::new(),
            result: String::new(),
        });
    }
    if rb.objectives.rpo.is_some() || !rpo.is_empty() {
        let measured = match m.and_then(|m| m.lost_writes.zip(m.lost_seconds)) {
            Some((writes, secs)) => format!("{writes} writes, {secs:.3} s"),
            None if rpo.is_empty() => "not measured: no step is marked `rpo`".to_owned(),
            None => format!(
                "not measured: {} did not succeed with `lost_writes` and `lost_seconds`",
                rpo.join(", ")
            ),
        };
        rows.push(ObjectiveRow {
            what: "RPO (acknowledged writes lost)".into(),
            measured,
            objective: objective(rb.objectives.rpo),
            result: verdict(m.and_then(Measured::rpo_met)),
        });
    }
    rows
}

/// How many deliveries of a hook a report looks through for its run's.
const DELIVERIES: u32 = 10_000;

/// The delivery of `hook` that started `run`, and the later ones that attached to it.
async fn delivery(
    store: &dyn drctl_store::Store,
    hook: &str,
    run: &RunId,
) -> Result<Option<DeliveryRow>, ReportError> {
    use drctl_store::DeliveryVerdict;
    let all = store.deliveries(hook, DELIVERIES).await?;
    let ours = |v: DeliveryVerdict| {
        all.iter()
            .filter(move |d| d.verdict == v && d.run.as_ref() == Some(run))
    };
    Ok(ours(DeliveryVerdict::Started).next().map(|d| DeliveryRow {
        hook: d.hook.clone(),
        id: d.id.clone(),
        peer: d.peer.clone(),
        at: d.at.to_rfc3339(),
        key: d.key.clone(),
        attached: ours(DeliveryVerdict::Attached).count(),
        confirmed: d.detail.clone(),
    }))
}
