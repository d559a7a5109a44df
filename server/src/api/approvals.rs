//! `/api/v1/approvals`: every gate waiting for a decision, and deciding one with the
//! same checks as `drctl approve` (entitled, four-eyes, comment, still waiting).

use axum::Json;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use drctl_core::{RunId, StepId, Timestamp};
use drctl_run::RunState;
use drctl_run::event::Verdict;
use drctl_store::RunFilter;
use serde::{Deserialize, Serialize};

use super::auth::Need;
use super::problem::Problem;
use super::runs::{CommandResult, answer};
use super::{Api, Body, store_problem};
use crate::ops::approvals::{decision, may_decide, waiting};
use crate::ops::deliver::{WAIT, deliver};

#[derive(Debug, Serialize)]
pub struct Gate {
    pub run: RunId,
    pub runbook: String,
    pub step: StepId,
    pub approvers: Vec<String>,
    pub given: usize,
    pub min: u32,
    pub deadline: Option<Timestamp>,
    /// Whether the caller may approve it now, and if not, why.
    pub may_decide: bool,
    pub why_not: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Gates {
    pub approvals: Vec<Gate>,
}

pub async fn list(State(api): State<Api>, headers: HeaderMap) -> Result<Json<Gates>, Problem> {
    let caller = api.caller(&headers, Need::Read)?;
    let groups = api.groups_of(&caller.identity);
    let rows = api
        .0
        .store
        .list_runs(&RunFilter {
            limit: 10_000,
            ..RunFilter::default()
        })
        .await
        .map_err(store_problem)?;
    let now = api.0.clock.now();
    let mut gates = Vec::new();
    for row in rows.iter().filter(|r| !r.is_finished()) {
        let state = api
            .0
            .engine
            .state(&row.id)
            .await
            .map_err(|e| Problem::internal(e.to_string()))?;
        for w in waiting(&state) {
            let check = may_decide(
                &state,
                &w.step,
                (&caller.identity, &groups),
                Verdict::Approve,
                "-",
                now,
            );
            gates.push(Gate {
                run: row.id.clone(),
                runbook: row.runbook.clone(),
                step: w.step,
                approvers: w.approvers,
                given: w.given,
                min: w.min,
                deadline: w.deadline,
                may_decide: check.is_ok(),
                why_not: check.err(),
            });
        }
    }
    Ok(Json(Gates { approvals: gates }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecideRequest {
    pub verdict: Verdict,
    pub comment: String,
}

/// 200 recorded by the run, 202 stored for its next driver, 403 when the caller may not
/// decide this gate (not an approver, four-eyes, no comment), 409 when the gate no longer
/// waits by the time the driver takes the decision.
pub async fn decide(
    State(api): State<Api>,
    headers: HeaderMap,
    UrlPath((id, step)): UrlPath<(String, String)>,
    Body(req): Body<DecideRequest>,
) -> Result<(StatusCode, Json<CommandResult>), Problem> {
    let caller = api.caller(&headers, Need::Decide)?;
    let (run, _) = api.row(&id).await?;
    let step = StepId::new(&step).map_err(|e| Problem::invalid(e.to_string(), Vec::new()))?;
    let state = api
        .0
        .engine
        .state(&run)
        .await
        .map_err(|e| Problem::internal(e.to_string()))?;
    let groups = api.groups_of(&caller.identity);
    let me = (caller.identity.as_str(), groups.as_slice());
    let clock = api.0.clock.clone();
    let check =
        |state: &RunState| may_decide(state, &step, me, req.verdict, &req.comment, clock.now());
    if let Err(why) = check(&state) {
        return Err(Problem::new(StatusCode::FORBIDDEN, "not-allowed", why));
    }
    let command = decision(&state, &step, me, req.verdict, &req.comment);
    let delivered = deliver(
        &api.0.engine,
        &run,
        &caller.identity,
        &command,
        &check,
        WAIT,
    )
    .await
    .map_err(|e| Problem::internal(e.to_string()))?;
    answer(delivered)
}
