//! `/api/v1/runs`: list, show, start, cancel, resume.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use drctl_core::RunId;
use drctl_engine::{NewRunRequest, OperatorCommand};
use drctl_run::RunStatus;
use drctl_run::event::{Decision, PauseReason};
use drctl_run::state::ItemStatus;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use super::auth::Need;
use super::problem::{ActRefusals, BodyRefusals, Problem, ReadRefusals};
use super::{Api, Authed, Body, MaybeBody, require, store_problem};
use crate::ops::deliver::Delivered;
use crate::ops::runs::RunQuery;
pub use crate::views::{CommandResult, RunDetail, RunList, RunView, Started, StatusArg, StepView};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    pub runbook: Option<String>,
    pub status: Option<StatusArg>,
    /// Include sub-runs.
    #[serde(default)]
    pub all: bool,
    /// At most this many, newest first (default 50, at most 1,000).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
    /// Only drills (`true`) or only real runs (`false`).
    pub drill: Option<bool>,
    /// Only runs created at or after this time (RFC 3339, or a day: `2026-11-22`).
    #[param(format = DateTime)]
    pub since: Option<String>,
    /// The `next` of the page before: the runs listed after it.
    #[param(pattern = r"^run_[0-7][0-9A-HJKMNP-TV-Z]{25}$")]
    pub cursor: Option<String>,
}

/// Runs, newest first.
#[utoipa::path(get, path = "/api/v1/runs", operation_id = "list_runs", params(ListQuery), security(("bearer" = [])),
    responses((status = 200, body = RunList), ReadRefusals))]
pub async fn list(
    State(api): State<Api>,
    Authed(caller): Authed,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<RunList>, Problem> {
    require(&caller, Need::Read)?;
    let Query(q) = query.map_err(|e| Problem::invalid(e.body_text(), Vec::new()))?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(Problem::invalid(
            "`limit` must be from 1 to 1000",
            Vec::new(),
        ));
    }
    let since = q
        .since
        .as_deref()
        .map(|t| {
            drctl_core::Timestamp::parse(t).ok_or_else(|| {
                Problem::invalid(
                    "`since` is not a time: write 2026-11-22 or 2026-11-22T10:00:00Z",
                    Vec::new(),
                )
            })
        })
        .transpose()?;
    let after = match q.cursor.as_deref() {
        Some(c) => Some(c.parse::<RunId>().map_err(|_| {
            Problem::invalid("`cursor` is not a run id: pass a page's `next`", Vec::new())
        })?),
        None => None,
    };
    let runs = crate::ops::runs::list(
        api.0.store.as_ref(),
        &RunQuery {
            status: q.status,
            runbook: q.runbook,
            all: q.all,
            limit,
            drill: q.drill,
            since,
            after,
        },
        api.0.clock.now(),
    )
    .await
    .map_err(store_problem)?;
    let next = (runs.len() == limit)
        .then(|| runs.last().map(|r| r.id.to_string()))
        .flatten();
    Ok(Json(RunList { runs, next }))
}

/// A run, its steps and its sub-runs.
#[utoipa::path(get, path = "/api/v1/runs/{id}", operation_id = "show_run", params(("id" = String, Path, description = "A run id, or a unique prefix of one")),
    security(("bearer" = [])),
    responses((status = 200, body = RunDetail), ReadRefusals))]
pub async fn show(
    State(api): State<Api>,
    Authed(caller): Authed,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<RunDetail>, Problem> {
    require(&caller, Need::Read)?;
    let (run, _) = api.row(&id).await?;
    crate::ops::runs::detail(api.0.store.as_ref(), &run, api.0.clock.now())
        .await
        .map_err(store_problem)?
        .map(Json)
        .ok_or_else(|| Problem::not_found(format!("no run `{run}`")))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRequest {
    /// The `runbook:` name of a runbook in the server's runbooks folder.
    pub runbook: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub params: Map<String, Value>,
    #[serde(default)]
    pub drill: bool,
    /// Start only if the server's text is this: the runbook's digest (`sha256:...`),
    /// then those of the runbooks it calls, sorted. What `drctl run --server` sends, so
    /// that what runs is what the operator read, even if the folder changes meanwhile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digests: Option<Vec<String>>,
}

/// The digests a start is checked against: the runbook's, then its callees' sorted.
pub fn digests(
    source: &drctl_runbook::Source,
    callees: &[(String, drctl_runbook::Source)],
) -> Vec<String> {
    let mut called: Vec<String> = callees.iter().map(|(_, s)| s.digest()).collect();
    called.sort();
    std::iter::once(source.digest()).chain(called).collect()
}

/// Starts a run: 202 with its id once it is recorded; the supervisor drives it at once.
#[utoipa::path(post, path = "/api/v1/runs", operation_id = "start_run", request_body = StartRequest, security(("bearer" = [])),
    responses((status = 202, body = Started), BodyRefusals))]
pub async fn start(
    State(api): State<Api>,
    Authed(caller): Authed,
    Body(req): Body<StartRequest>,
) -> Result<(StatusCode, Json<Started>), Problem> {
    require(&caller, Need::Operate)?;
    let Some(dir) = api.0.config.runbooks.clone() else {
        return Err(Problem::refused(
            "this server starts no runbooks: set `runbooks` in drctl.toml's [serve]",
        ));
    };
    let registry = api.0.registry.clone();
    let (name, params) = (req.runbook.clone(), req.params.clone());
    // Reading and compiling files: off the async threads.
    let ready = tokio::task::spawn_blocking(move || {
        crate::ops::start::from_folder(&dir, &name, &params, &registry)
    })
    .await
    .map_err(|e| Problem::internal(e.to_string()))??;
    if let Some(expected) = &req.digests
        && *expected != digests(&ready.source, &ready.callees)
    {
        return Err(Problem::refused(format!(
            "the server's runbook `{}` ({}), or a runbook it calls, is not the text you checked: the server runs what its runbooks folder holds",
            req.runbook, ready.source.name
        )));
    }
    let runbook = ready.runbook.name.to_string();
    let id = api
        .0
        .engine
        .create_run(NewRunRequest {
            source: ready.source,
            callees: ready.callees,
            params: ready.params,
            actor: caller.identity,
            trigger: drctl_core::Trigger::Api,
            drill: req.drill,
            parent: None,
        })
        .await
        .map_err(|e| Problem::internal(e.to_string()))?;
    api.0.supervisor.submitted(&id);
    Ok((StatusCode::ACCEPTED, Json(Started { id, runbook })))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    #[serde(default = "default_reason")]
    pub reason: String,
}

fn default_reason() -> String {
    "cancelled by an operator".into()
}

/// 200 when the run's driver recorded it, 202 when stored for the next driver, 409 with
/// why when refused.
pub(super) fn answer(
    delivered: Delivered,
    run: &RunId,
    actor: &drctl_core::Actor,
) -> Result<(StatusCode, Json<CommandResult>), Problem> {
    match delivered {
        Delivered::Applied => Ok((
            StatusCode::OK,
            Json(CommandResult {
                outcome: "applied".into(),
                driver: None,
                counts_as: Vec::new(),
                actor: actor.clone(),
                run: run.clone(),
            }),
        )),
        Delivered::Stored { driver } => Ok((
            StatusCode::ACCEPTED,
            Json(CommandResult {
                outcome: "stored".into(),
                driver,
                counts_as: Vec::new(),
                actor: actor.clone(),
                run: run.clone(),
            }),
        )),
        Delivered::Refused(why) => Err(Problem::refused(why)),
    }
}

/// Cancels a run: its driver stops the running steps and runs `finally`.
#[utoipa::path(post, path = "/api/v1/runs/{id}/cancel", operation_id = "cancel_run", request_body = Option<CancelRequest>,
    params(("id" = String, Path, description = "A run id, or a unique prefix of one")), security(("bearer" = [])),
    responses((status = 200, body = CommandResult), (status = 202, body = CommandResult), BodyRefusals))]
pub async fn cancel(
    State(api): State<Api>,
    Authed(caller): Authed,
    UrlPath(id): UrlPath<String>,
    MaybeBody(req): MaybeBody<CancelRequest>,
) -> Result<(StatusCode, Json<CommandResult>), Problem> {
    require(&caller, Need::Operate)?;
    let req = req.unwrap_or_else(|| CancelRequest {
        reason: default_reason(),
    });
    let (run, row) = api.row(&id).await?;
    if row.is_finished() {
        return Err(Problem::refused(format!(
            "run {run} already ended ({}): nothing to cancel",
            row.status
        )));
    }
    let command = OperatorCommand::Cancel { reason: req.reason };
    let delivered = api.send(&run, &caller, &command, &|_| Ok(())).await?;
    if let Delivered::Stored { driver: None } = &delivered {
        // Nobody drives it (paused): this server does, to run `finally`.
        api.0.supervisor.resume(&run, &caller.identity);
    }
    answer(delivered, &run, &caller.identity)
}

/// Resumes a paused run (or one nobody drives): 202, the supervisor drives it.
#[utoipa::path(post, path = "/api/v1/runs/{id}/resume", operation_id = "resume_run",
    params(("id" = String, Path, description = "A run id, or a unique prefix of one")), security(("bearer" = [])),
    responses((status = 202, body = CommandResult), ActRefusals))]
pub async fn resume(
    State(api): State<Api>,
    Authed(caller): Authed,
    UrlPath(id): UrlPath<String>,
) -> Result<(StatusCode, Json<CommandResult>), Problem> {
    require(&caller, Need::Operate)?;
    let (run, row) = api.row(&id).await?;
    if row.is_finished() {
        return Err(Problem::refused(format!(
            "run {run} already ended ({}): nothing to resume",
            row.status
        )));
    }
    // Paused for an interrupted step nobody decided: resuming would only pause again.
    let state = api
        .0
        .engine
        .state(&run)
        .await
        .map_err(|e| Problem::internal(e.to_string()))?;
    if let RunStatus::Paused {
        reason: PauseReason::Interrupted { step, item, .. },
    } = &state.status
    {
        let undecided = state
            .steps
            .get(step.as_str())
            .and_then(|s| s.items.get(item.map_or(0, |i| i as usize)))
            .is_some_and(|i| matches!(i.status, ItemStatus::Interrupted { .. }));
        // A decision stored for the next driver counts: it is applied before anything.
        let waiting = api
            .0
            .store
            .waiting_commands(&run)
            .await
            .map_err(store_problem)?;
        let decided = waiting.iter().any(|c| {
            matches!(
                serde_json::from_value::<OperatorCommand>(c.body.clone()),
                Ok(OperatorCommand::Step { step: s, item: i, .. }) if s == *step && i == *item
            )
        });
        if undecided && !decided {
            return Err(Problem::refused(format!(
                "step `{step}` was interrupted and nobody knows whether it took effect: decide it first (POST /api/v1/runs/{run}/steps/{step} with retry, skip or fail)"
            )));
        }
    }
    let driver = api
        .0
        .engine
        .driver(&run)
        .await
        .map_err(|e| Problem::internal(e.to_string()))?;
    if driver.is_none() {
        api.0.supervisor.resume(&run, &caller.identity);
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(CommandResult {
            outcome: "stored".into(),
            driver,
            counts_as: Vec::new(),
            actor: caller.identity.clone(),
            run,
        }),
    ))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepRequest {
    pub decision: DecisionArg,
    /// The item of a `for_each` step.
    #[serde(default, deserialize_with = "whole_number")]
    #[schema(minimum = 0, maximum = 4294967295_u64)]
    pub item: Option<u32>,
    /// With `skip`: the step did take effect, and this is its output for the steps after
    /// it (the step then counts as succeeded).
    #[schema(value_type = Option<Value>)]
    pub output: Option<Value>,
}

/// An operator's decision about an interrupted step (or, for `skip`, one not started).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DecisionArg {
    Retry,
    Skip,
    Fail,
}

/// Decides about a step, as `drctl step retry|skip|fail` does; a paused run then needs
/// a resume.
#[utoipa::path(post, path = "/api/v1/runs/{id}/steps/{step}", operation_id = "decide_step", request_body = StepRequest,
    params(("id" = String, Path, description = "A run id, or a unique prefix of one"), ("step" = String, Path, description = "The step's id")),
    security(("bearer" = [])),
    responses((status = 200, body = CommandResult), (status = 202, body = CommandResult), BodyRefusals))]
pub async fn step(
    State(api): State<Api>,
    Authed(caller): Authed,
    UrlPath((id, step)): UrlPath<(String, String)>,
    Body(req): Body<StepRequest>,
) -> Result<(StatusCode, Json<CommandResult>), Problem> {
    require(&caller, Need::Operate)?;
    let (run, row) = api.row(&id).await?;
    let step =
        drctl_core::StepId::new(&step).map_err(|e| Problem::invalid(e.to_string(), Vec::new()))?;
    if row.is_finished() {
        return Err(Problem::refused(format!(
            "run {run} already ended ({})",
            row.status
        )));
    }
    let decision = match req.decision {
        DecisionArg::Retry => Decision::Retry,
        DecisionArg::Skip => Decision::Skip,
        DecisionArg::Fail => Decision::Fail,
    };
    if req.output.is_some() && decision != Decision::Skip {
        return Err(Problem::invalid(
            "`output` goes with `skip` only",
            Vec::new(),
        ));
    }
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
    let command = OperatorCommand::Step {
        step,
        item: req.item,
        decision,
        output: req.output,
    };
    let delivered = api.send(&run, &caller, &command, &|_| Ok(())).await?;
    answer(delivered, &run, &caller.identity)
}

/// An item number written as any JSON number that is whole (`3`, `3.0`): JSON does not
/// tell integers from other numbers, and neither may a client's encoder.
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    n.as_u64()
        .or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                .map(|f| f as u64)
        })
        .and_then(|n| u32::try_from(n).ok())
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom(format!("item: {n} is not an item number")))
}
