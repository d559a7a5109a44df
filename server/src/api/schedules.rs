//! `/api/v1/schedules`: every schedule of the runbooks folder with its next and last
//! firing and, for a drill, its obligation; pause, resume, waive and fire now.
//!
//! Pause, resume and fire need an operator (or admin); a waiver an approver (or admin):
//! it says a drill need not happen, which is an approver's call.

use axum::Json;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use drctl_core::Timestamp;
use drctl_store::Change;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Need;
use super::problem::{BodyRefusals, Problem, TokenRefusals};
use super::{Api, Authed, Body, require, store_problem};
use crate::schedule::manage::{self, ManageError};
use crate::schedule::view::{self, ScheduleList, ScheduleView, ViewError};
use crate::views::Started;

impl From<ViewError> for Problem {
    fn from(e: ViewError) -> Self {
        match e {
            ViewError::Folder(f) => f.into(),
            ViewError::Store(s) => store_problem(s),
        }
    }
}

impl From<ManageError> for Problem {
    fn from(e: ManageError) -> Self {
        match e {
            ManageError::Folder(f) => f.into(),
            ManageError::Store(s) => store_problem(s),
            ManageError::Start(s) => s.into(),
            ManageError::Engine(e) => Problem::internal(e.to_string()),
            ManageError::NotFound(..) => Problem::not_found(e.to_string()),
            ManageError::Invalid(why) => Problem::invalid(why, Vec::new()),
            ManageError::Refused(why) => Problem::refused(why),
        }
    }
}

fn folder(api: &Api) -> Result<std::path::PathBuf, Problem> {
    api.0.config.runbooks.clone().ok_or_else(|| {
        Problem::refused(
            "this server has no runbooks folder: set `runbooks` in drctl.toml's [serve]",
        )
    })
}

/// Every schedule, in file order.
#[utoipa::path(get, path = "/api/v1/schedules", operation_id = "list_schedules", security(("bearer" = [])),
    responses((status = 200, body = ScheduleList), TokenRefusals))]
pub async fn list(
    State(api): State<Api>,
    Authed(caller): Authed,
) -> Result<Json<ScheduleList>, Problem> {
    require(&caller, Need::Read)?;
    let Some(dir) = api.0.config.runbooks.clone() else {
        return Ok(Json(ScheduleList::default()));
    };
    let list = view::list(
        &dir,
        &api.0.registry,
        api.0.store.as_ref(),
        api.0.clock.now(),
    );
    Ok(Json(list.await?))
}

/// A pause or a resume of a schedule, or a proposal's confirmation or rejection, and
/// why.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeRequest {
    /// Recorded with who changed the schedule: one line of plain text.
    #[schema(
        min_length = 1,
        max_length = 1024,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub reason: String,
}

/// A waiver of a drill's obligation.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WaiveRequest {
    /// RFC 3339 (`2027-01-31T00:00:00Z`), or a date (`2027-01-31`, midnight UTC). A time
    /// that has passed is refused (409).
    #[schema(format = DateTime)]
    pub until: String,
    /// One line of plain text.
    #[schema(
        min_length = 1,
        max_length = 1024,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub reason: String,
}

async fn changed(
    api: &Api,
    caller: &super::auth::Caller,
    id: &str,
    change: Change,
) -> Result<Json<ScheduleView>, Problem> {
    let dir = folder(api)?;
    let now = api.0.clock.now();
    manage::change(
        api.0.store.as_ref(),
        (&dir, &api.0.registry),
        id,
        &caller.identity,
        (change, now),
    )
    .await?;
    let all = view::list(&dir, &api.0.registry, api.0.store.as_ref(), now)
        .await?
        .schedules;
    // `RUNBOOK` named the runbook's only schedule, whatever its name.
    let exact = all.iter().position(|s| s.id() == id);
    let index = exact.or_else(|| all.iter().position(|s| s.runbook == id));
    index
        .and_then(|i| all.into_iter().nth(i))
        .map(Json)
        .ok_or_else(|| Problem::not_found(format!("no schedule `{id}`")))
}

/// Pauses a schedule: its firings are recorded missed, with the reason, until resumed.
#[utoipa::path(post, path = "/api/v1/schedules/{id}/pause", operation_id = "pause_schedule", request_body = ChangeRequest,
    params(("id" = String, Path, description = "`RUNBOOK`, or `RUNBOOK:NAME` for one of several schedules")), security(("bearer" = [])),
    responses((status = 200, body = ScheduleView), BodyRefusals))]
pub async fn pause(
    State(api): State<Api>,
    Authed(caller): Authed,
    UrlPath(id): UrlPath<String>,
    Body(req): Body<ChangeRequest>,
) -> Result<Json<ScheduleView>, Problem> {
    require(&caller, Need::Operate)?;
    changed(
        &api,
        &caller,
        &path_id(&id),
        Change::Pause { reason: req.reason },
    )
    .await
}

/// Resumes a paused schedule.
#[utoipa::path(post, path = "/api/v1/schedules/{id}/resume", operation_id = "resume_schedule", request_body = ChangeRequest,
    params(("id" = String, Path, description = "`RUNBOOK`, or `RUNBOOK:NAME` for one of several schedules")), security(("bearer" = [])),
    responses((status = 200, body = ScheduleView), BodyRefusals))]
pub async fn resume(
    State(api): State<Api>,
    Authed(caller): Authed,
    UrlPath(id): UrlPath<String>,
    Body(req): Body<ChangeRequest>,
) -> Result<Json<ScheduleView>, Problem> {
    require(&caller, Need::Operate)?;
    changed(
        &api,
        &caller,
        &path_id(&id),
        Change::Resume { reason: req.reason },
    )
    .await
}

/// Waives a drill's obligation until a time: it shows `waived`, with who and why.
#[utoipa::path(post, path = "/api/v1/schedules/{id}/waive", operation_id = "waive_schedule", request_body = WaiveRequest,
    params(("id" = String, Path, description = "`RUNBOOK`, or `RUNBOOK:NAME` for one of several schedules")), security(("bearer" = [])),
    responses((status = 200, body = ScheduleView), BodyRefusals))]
pub async fn waive(
    State(api): State<Api>,
    Authed(caller): Authed,
    UrlPath(id): UrlPath<String>,
    Body(req): Body<WaiveRequest>,
) -> Result<Json<ScheduleView>, Problem> {
    require(&caller, Need::Decide)?;
    let until = Timestamp::parse(&req.until).ok_or_else(|| {
        Problem::invalid(
            "`until` must be an RFC 3339 time or a date (YYYY-MM-DD)",
            vec![format!("until: `{}`", req.until.escape_default())],
        )
    })?;
    changed(
        &api,
        &caller,
        &path_id(&id),
        Change::Waive {
            until,
            reason: req.reason,
        },
    )
    .await
}

/// Fires a schedule now: a run with its params (a drill if it is one), started by the
/// caller. The schedule's own firings go on as before.
#[utoipa::path(post, path = "/api/v1/schedules/{id}/fire", operation_id = "fire_schedule",
    params(("id" = String, Path, description = "`RUNBOOK`, or `RUNBOOK:NAME` for one of several schedules")), security(("bearer" = [])),
    responses((status = 202, body = Started), BodyRefusals))]
pub async fn fire(
    State(api): State<Api>,
    Authed(caller): Authed,
    UrlPath(id): UrlPath<String>,
) -> Result<(StatusCode, Json<Started>), Problem> {
    require(&caller, Need::Operate)?;
    let dir = folder(&api)?;
    let id = path_id(&id);
    let run = manage::fire_now(
        &api.0.engine,
        (&dir, &api.0.registry),
        &id,
        &caller.identity,
    )
    .await?;
    api.0.supervisor.submitted(&run);
    let runbook = id.split('/').next().unwrap_or_default().to_owned();
    Ok((StatusCode::ACCEPTED, Json(Started { id: run, runbook })))
}

/// A path segment cannot hold `/`: `RUNBOOK:NAME` stands for `RUNBOOK/NAME` there.
fn path_id(segment: &str) -> String {
    segment.replacen(':', "/", 1)
}
