//! `/api/v1/approvals`: every gate waiting for a decision, and deciding one with the
//! same checks as `drctl approve` (entitled, four-eyes, comment, still waiting).

use axum::Json;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use drctl_core::{RunId, StepId, Timestamp};
use drctl_run::RunState;
use drctl_run::event::Verdict;
use drctl_store::RunFilter;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Need;
use super::problem::{BodyRefusals, Problem, TokenRefusals};
use super::runs::{CommandResult, answer};
use super::{Api, Authed, Body, require, store_problem};
use crate::ops::approvals::{decision, may_decide, waiting};
use crate::ops::deliver::{WAIT, deliver};

/// A gate waiting for a decision. Times are milliseconds since the Unix epoch.
#[derive(Debug, Serialize, ToSchema)]
pub struct Gate {
    #[schema(value_type = String)]
    pub run: RunId,
    pub runbook: String,
    #[schema(value_type = String)]
    pub step: StepId,
    pub approvers: Vec<String>,
    pub given: usize,
    pub min: u32,
    #[schema(value_type = Option<i64>)]
    pub deadline: Option<Timestamp>,
    /// Whether the caller may approve it now, and if not, why.
    pub may_decide: bool,
    pub why_not: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Gates {
    pub approvals: Vec<Gate>,
}

/// Every gate waiting for a decision, and whether the caller may decide it.
#[utoipa::path(get, path = "/api/v1/approvals", operation_id = "list_approvals", security(("bearer" = [])),
    responses((status = 200, body = Gates), TokenRefusals))]
pub async fn list(State(api): State<Api>, Authed(caller): Authed) -> Result<Json<Gates>, Problem> {
    require(&caller, Need::Read)?;
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

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecideRequest {
    pub verdict: VerdictArg,
    /// Why (recorded in the audit trail).
    pub comment: String,
}

/// An approver's answer.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VerdictArg {
    Approve,
    Reject,
}

impl From<VerdictArg> for Verdict {
    fn from(v: VerdictArg) -> Self {
        match v {
            VerdictArg::Approve => Verdict::Approve,
            VerdictArg::Reject => Verdict::Reject,
        }
    }
}

/// 200 recorded by the run, 202 stored for its next driver, 403 when the caller may not
/// decide this gate (not an approver, four-eyes, no comment), 409 when the gate no longer
/// waits by the time the driver takes the decision.
#[utoipa::path(post, path = "/api/v1/runs/{id}/approvals/{step}", operation_id = "decide_approval", request_body = DecideRequest,
    params(("id" = String, Path, description = "A run id, or a unique prefix of one"), ("step" = String, Path, description = "The gate's step id")),
    security(("bearer" = [])),
    responses((status = 200, body = CommandResult), (status = 202, body = CommandResult), BodyRefusals))]
pub async fn decide(
    State(api): State<Api>,
    Authed(caller): Authed,
    UrlPath((id, step)): UrlPath<(String, String)>,
    Body(req): Body<DecideRequest>,
) -> Result<(StatusCode, Json<CommandResult>), Problem> {
    require(&caller, Need::Decide)?;
    let (run, _) = api.row(&id).await?;
    let step = StepId::new(&step).map_err(|e| Problem::invalid(e.to_string(), Vec::new()))?;
    let state = api
        .0
        .engine
        .state(&run)
        .await
        .map_err(|e| Problem::internal(e.to_string()))?;
    if state.definition(step.as_str()).is_none() {
        return Err(Problem::not_found(format!(
            "run {run} has no step `{step}`"
        )));
    }
    let groups = api.groups_of(&caller.identity);
    let me = (caller.identity.as_str(), groups.as_slice());
    let clock = api.0.clock.clone();
    let verdict = Verdict::from(req.verdict);
    let check = |state: &RunState| may_decide(state, &step, me, verdict, &req.comment, clock.now());
    if let Err(why) = check(&state) {
        return Err(Problem::new(StatusCode::FORBIDDEN, "not-allowed", why));
    }
    let command = decision(&state, &step, me, verdict, &req.comment);
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
