//! `/api/v1/proposals`: the runs that hooks with `confirm: true` proposed, waiting for a
//! person; confirm one (its run starts, created by the caller) or reject it. Both need
//! an operator (or admin): confirming starts a run, as `POST /api/v1/runs` does.

use axum::Json;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use drctl_core::RunId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Need;
use super::problem::{BodyRefusals, Problem, TokenRefusals};
use super::schedules::ChangeRequest as DecideProposal;
use super::{Api, Authed, Body, require, store_problem};
use crate::hooks::propose::{self, Decision, ProposalView, ProposeError};

impl From<ProposeError> for Problem {
    fn from(e: ProposeError) -> Self {
        match e {
            ProposeError::NotFound(_) => Problem::not_found(e.to_string()),
            ProposeError::Refused(why) => Problem::refused(why),
            ProposeError::Invalid(why) => Problem::invalid(why, Vec::new()),
            ProposeError::Store(s) => store_problem(s),
            ProposeError::Engine(e) => Problem::internal(e.to_string()),
        }
    }
}

/// The proposals waiting now, oldest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProposalList {
    pub proposals: Vec<ProposalView>,
}

/// No proposal is named by what is not a whole run id: 404, as for any unknown name.
fn run_id(text: &str) -> Result<RunId, Problem> {
    text.parse().map_err(|_| {
        Problem::not_found(format!(
            "no proposed run `{}`: a proposal is named by the whole run id its delivery was answered with",
            drctl_runbook::params::shown_within(text, 64)
        ))
    })
}

/// Every proposal still waiting.
#[utoipa::path(get, path = "/api/v1/proposals", operation_id = "list_proposals", security(("bearer" = [])),
    responses((status = 200, body = ProposalList), TokenRefusals))]
pub async fn list(
    State(api): State<Api>,
    Authed(caller): Authed,
) -> Result<Json<ProposalList>, Problem> {
    require(&caller, Need::Read)?;
    let proposals = propose::list(api.0.store.as_ref(), api.0.clock.now()).await?;
    Ok(Json(ProposalList { proposals }))
}

/// One proposal, waiting or settled.
#[utoipa::path(get, path = "/api/v1/proposals/{run}", operation_id = "show_proposal",
    params(("run" = String, Path, description = "The run id the delivery was answered with")), security(("bearer" = [])),
    responses((status = 200, body = ProposalView), BodyRefusals))]
pub async fn show(
    State(api): State<Api>,
    Authed(caller): Authed,
    UrlPath(run): UrlPath<String>,
) -> Result<Json<ProposalView>, Problem> {
    require(&caller, Need::Read)?;
    let run = run_id(&run)?;
    let now = api.0.clock.now();
    Ok(Json(propose::get(api.0.store.as_ref(), &run, now).await?))
}

async fn decide(
    api: &Api,
    caller: &super::auth::Caller,
    run: &str,
    (decision, reason): (Decision, &str),
) -> Result<ProposalView, Problem> {
    require(caller, Need::Operate)?;
    let run = run_id(run)?;
    let view = propose::decide(
        (&api.0.engine, &api.0.registry),
        &run,
        (decision, &caller.identity, reason),
        api.0.clock.now(),
    )
    .await?;
    if decision == Decision::Confirm {
        api.0.supervisor.submitted(&run);
    }
    Ok(view)
}

/// Confirms a proposal: its run is created, by the caller, as it was proposed (the
/// runbook's text of then, the params from the alert), and this server drives it.
#[utoipa::path(post, path = "/api/v1/proposals/{run}/confirm", operation_id = "confirm_proposal", request_body = DecideProposal,
    params(("run" = String, Path, description = "The run id the delivery was answered with")), security(("bearer" = [])),
    responses((status = 202, body = ProposalView), BodyRefusals))]
pub async fn confirm(
    State(api): State<Api>,
    Authed(caller): Authed,
    UrlPath(run): UrlPath<String>,
    Body(req): Body<DecideProposal>,
) -> Result<(StatusCode, Json<ProposalView>), Problem> {
    let view = decide(&api, &caller, &run, (Decision::Confirm, &req.reason)).await?;
    Ok((StatusCode::ACCEPTED, Json(view)))
}

/// Rejects a proposal: nothing runs; later deliveries of its key may propose again.
#[utoipa::path(post, path = "/api/v1/proposals/{run}/reject", operation_id = "reject_proposal", request_body = DecideProposal,
    params(("run" = String, Path, description = "The run id the delivery was answered with")), security(("bearer" = [])),
    responses((status = 200, body = ProposalView), BodyRefusals))]
pub async fn reject(
    State(api): State<Api>,
    Authed(caller): Authed,
    UrlPath(run): UrlPath<String>,
    Body(req): Body<DecideProposal>,
) -> Result<Json<ProposalView>, Problem> {
    let view = decide(&api, &caller, &run, (Decision::Reject, &req.reason)).await?;
    Ok(Json(view))
}
