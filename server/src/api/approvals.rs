//! `/api/v1/approvals`: every gate waiting for a decision, and deciding one with the
//! same checks as `drctl approve` (entitled, four-eyes, comment, still waiting).

use axum::Json;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use drctl_core::StepId;
use drctl_run::RunState;
use drctl_run::event::Verdict;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Need;
use super::problem::{BodyRefusals, Problem, TokenRefusals};
use super::runs::answer;
use super::{Api, Authed, Body, require, store_problem};
use crate::ops::approvals::{approvers_of, decision, may_decide};
pub use crate::views::{CommandResult, Gate, Gates};
use drctl_run::approval::entries_for;

/// Every gate waiting for a decision, and whether the caller may decide it.
#[utoipa::path(get, path = "/api/v1/approvals", operation_id = "list_approvals", security(("bearer" = [])),
    responses((status = 200, body = Gates), TokenRefusals))]
pub async fn list(State(api): State<Api>, Authed(caller): Authed) -> Result<Json<Gates>, Problem> {
    require(&caller, Need::Read)?;
    let groups = api.groups_of(&caller.identity);
    let gates = crate::ops::approvals::gates(
        &api.0.engine,
        api.0.store.as_ref(),
        (&caller.identity, &groups),
        api.0.clock.now(),
    )
    .await
    .map_err(|e| match e {
        crate::ops::approvals::GatesError::Store(e) => store_problem(e),
        crate::ops::approvals::GatesError::Engine(e) => Problem::internal(e.to_string()),
    })?;
    Ok(Json(Gates { approvals: gates }))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecideRequest {
    pub verdict: VerdictArg,
    /// Why (recorded in the audit trail).
    pub comment: String,
}

/// An approver's answer.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
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
    let me = (&caller.identity, groups.as_slice());
    let clock = api.0.clock.clone();
    let verdict = Verdict::from(req.verdict);
    let check = |state: &RunState| may_decide(state, &step, me, verdict, &req.comment, clock.now());
    if let Err(why) = check(&state) {
        return Err(Problem::new(StatusCode::FORBIDDEN, "not-allowed", why));
    }
    let command = decision(&state, &step, me, verdict, &req.comment);
    let delivered = api.send(&run, &caller, &command, &check).await?;
    let counts_as = entries_for(&approvers_of(&state, &step), me.0, me.1);
    answer(delivered, &run, &caller.identity).map(|(code, Json(mut result))| {
        result.counts_as = counts_as;
        (code, Json(result))
    })
}
