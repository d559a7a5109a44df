//! `/api/v1/runs`: list, show, start, cancel, resume.

use std::path::Path;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode};
use drctl_core::{RunId, Timestamp};
use drctl_engine::liveness::shown_status;
use drctl_engine::{NewRunRequest, OperatorCommand};
use drctl_runbook::fs::{FsCalls, callee_sources, read_source};
use drctl_runbook::params::resolve_json;
use drctl_runbook::{Severity, Source, compile};
use drctl_store::{RunFilter, RunRow, StepRow};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::auth::Need;
use super::problem::Problem;
use super::{Api, Body, store_problem};
use crate::ops::deliver::{Delivered, WAIT, deliver};
use crate::ops::start::{check_secrets, unimplemented};

/// A run as the API shows it.
#[derive(Debug, Serialize)]
pub struct RunView {
    pub id: RunId,
    pub runbook: String,
    pub file: String,
    /// As stored, or `interrupted` when the row says driven and nobody drives it.
    pub status: String,
    pub detail: Option<String>,
    pub actor: String,
    pub parent: Option<RunId>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    /// Number of events.
    pub version: u64,
}

impl RunView {
    fn of(row: RunRow, now: Timestamp) -> Self {
        Self {
            status: shown_status(&row, now).to_owned(),
            id: row.id,
            runbook: row.runbook,
            file: row.source_name,
            detail: row.detail,
            actor: row.actor,
            parent: row.parent,
            created_at: row.created_at,
            updated_at: row.updated_at,
            finished_at: row.finished_at,
            version: row.version,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub runbook: Option<String>,
    pub status: Option<String>,
    /// Include sub-runs.
    #[serde(default)]
    pub all: bool,
    /// At most this many, newest first (default 50, at most 1,000).
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize)]
pub struct RunList {
    pub runs: Vec<RunView>,
}

pub async fn list(
    State(api): State<Api>,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<RunList>, Problem> {
    api.caller(&headers, Need::Read)?;
    let Query(q) = query.map_err(|e| Problem::invalid(e.body_text(), Vec::new()))?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(Problem::invalid(
            "`limit` must be from 1 to 1000",
            Vec::new(),
        ));
    }
    let rows = api
        .0
        .store
        .list_runs(&RunFilter {
            status: q.status,
            runbook: q.runbook,
            top_level: !q.all,
            limit,
        })
        .await
        .map_err(store_problem)?;
    let now = api.0.clock.now();
    Ok(Json(RunList {
        runs: rows.into_iter().map(|r| RunView::of(r, now)).collect(),
    }))
}

#[derive(Debug, Serialize)]
pub struct RunDetail {
    pub run: RunView,
    pub steps: Vec<StepRow>,
}

pub async fn show(
    State(api): State<Api>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<RunDetail>, Problem> {
    api.caller(&headers, Need::Read)?;
    let (run, row) = api.row(&id).await?;
    let steps = api.0.store.steps(&run).await.map_err(store_problem)?;
    Ok(Json(RunDetail {
        run: RunView::of(row, api.0.clock.now()),
        steps,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartRequest {
    /// The `runbook:` name of a runbook in the server's runbooks folder.
    pub runbook: String,
    #[serde(default)]
    pub params: Map<String, Value>,
    #[serde(default)]
    pub drill: bool,
}

#[derive(Debug, Serialize)]
pub struct Started {
    pub id: RunId,
    pub runbook: String,
}

/// Starts a run: 202 with its id once it is recorded; the supervisor drives it at once.
pub async fn start(
    State(api): State<Api>,
    headers: HeaderMap,
    Body(req): Body<StartRequest>,
) -> Result<(StatusCode, Json<Started>), Problem> {
    let caller = api.caller(&headers, Need::Operate)?;
    let Some(dir) = api.0.config.runbooks.clone() else {
        return Err(Problem::refused(
            "this server starts no runbooks: set `runbooks` in drctl.toml's [serve]",
        ));
    };
    let registry = api.0.registry.clone();
    let name = req.runbook.clone();
    // Reading and compiling files: off the async threads.
    let found = tokio::task::spawn_blocking(move || find(&dir, &name, &registry))
        .await
        .map_err(|e| Problem::internal(e.to_string()))??;
    let (source, runbook) = found;
    let missing = unimplemented(&runbook, &api.0.registry);
    if !missing.is_empty() {
        return Err(Problem::invalid(
            "the runbook calls actions this build cannot run",
            missing.iter().map(|m| m.message(&source.name)).collect(),
        ));
    }
    let resolved = resolve_json(&runbook.params, &req.params).map_err(|errors| {
        Problem::invalid(
            "the params do not fit the runbook",
            errors.iter().map(ToString::to_string).collect(),
        )
    })?;
    let callees = callee_sources(&runbook, &source.name, &api.0.registry)
        .map_err(|e| Problem::invalid(e.to_string(), Vec::new()))?;
    check_secrets(&source.name, &runbook, &callees, &api.0.registry)
        .map_err(|why| Problem::new(StatusCode::CONFLICT, "not-ready", why))?;
    let id = api
        .0
        .engine
        .create_run(NewRunRequest {
            source,
            callees,
            params: resolved.to_map(),
            actor: caller.identity,
            trigger: "api".into(),
            drill: req.drill,
            parent: None,
        })
        .await
        .map_err(|e| Problem::internal(e.to_string()))?;
    api.0.supervisor.submitted(&id);
    api.0.metrics.run_started("api");
    Ok((
        StatusCode::ACCEPTED,
        Json(Started {
            id,
            runbook: runbook.name.to_string(),
        }),
    ))
}

/// The runbook named `name` in `dir`, compiled; 404 when none is, 422 when it does not
/// compile (each error with its `file:line:col`).
fn find(
    dir: &Path,
    name: &str,
    registry: &drctl_connectors::Registry,
) -> Result<(Source, drctl_runbook::Runbook), Problem> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        Problem::internal(format!(
            "cannot read the runbooks folder {}: {e}",
            dir.display()
        ))
    })?;
    let mut paths: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
        .collect();
    paths.sort();
    for path in paths {
        let Ok(source) = read_source(&path) else {
            continue;
        };
        let compiled = compile(&source, registry, &FsCalls::new(registry));
        match compiled.runbook {
            Some(rb) if rb.name.as_str() == name => return Ok((source, rb)),
            Some(_) => {}
            // A file that does not compile is this runbook if its name says so.
            None if declares(&source, name) => {
                let errors = compiled
                    .diagnostics
                    .iter()
                    .filter(|d| d.severity == Severity::Error)
                    .map(|d| {
                        format!(
                            "{}:{}:{}: {}",
                            source.name, d.span.line, d.span.col, d.message
                        )
                    })
                    .collect();
                return Err(Problem::invalid(
                    format!("runbook `{name}` does not compile"),
                    errors,
                ));
            }
            None => {}
        }
    }
    Err(Problem::not_found(format!(
        "no runbook named `{name}` in the server's runbooks folder"
    )))
}

/// Whether the text's top-level `runbook:` line names `name`.
fn declares(source: &Source, name: &str) -> bool {
    source.text.lines().any(|l| {
        l.strip_prefix("runbook:")
            .is_some_and(|v| v.trim().trim_matches(['"', '\'']) == name)
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    #[serde(default = "default_reason")]
    pub reason: String,
}

fn default_reason() -> String {
    "cancelled by an operator".into()
}

/// What became of a command sent to a run.
#[derive(Debug, Serialize)]
pub struct CommandResult {
    /// `applied` (recorded by the run's driver) or `stored` (applied by the run's next
    /// driver before anything else).
    pub outcome: &'static str,
    pub driver: Option<String>,
}

/// 200 when the run's driver recorded it, 202 when stored for the next driver, 409 with
/// why when refused.
pub(super) fn answer(delivered: Delivered) -> Result<(StatusCode, Json<CommandResult>), Problem> {
    match delivered {
        Delivered::Applied => Ok((
            StatusCode::OK,
            Json(CommandResult {
                outcome: "applied",
                driver: None,
            }),
        )),
        Delivered::Stored { driver } => Ok((
            StatusCode::ACCEPTED,
            Json(CommandResult {
                outcome: "stored",
                driver,
            }),
        )),
        Delivered::Refused(why) => Err(Problem::refused(why)),
    }
}

pub async fn cancel(
    State(api): State<Api>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
    Body(req): Body<CancelRequest>,
) -> Result<(StatusCode, Json<CommandResult>), Problem> {
    let caller = api.caller(&headers, Need::Operate)?;
    let (run, row) = api.row(&id).await?;
    if row.is_finished() {
        return Err(Problem::refused(format!(
            "run {run} already ended ({}): nothing to cancel",
            row.status
        )));
    }
    let command = OperatorCommand::Cancel { reason: req.reason };
    let delivered = deliver(
        &api.0.engine,
        &run,
        &caller.identity,
        &command,
        &|_| Ok(()),
        WAIT,
    )
    .await
    .map_err(|e| Problem::internal(e.to_string()))?;
    if let Delivered::Stored { driver: None } = &delivered {
        // Nobody drives it (paused): this server does, to run `finally`.
        api.0.supervisor.resume(&run);
    }
    answer(delivered)
}

/// Resumes a paused run (or one nobody drives): 202, the supervisor drives it.
pub async fn resume(
    State(api): State<Api>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
) -> Result<(StatusCode, Json<CommandResult>), Problem> {
    api.caller(&headers, Need::Operate)?;
    let (run, row) = api.row(&id).await?;
    if row.is_finished() {
        return Err(Problem::refused(format!(
            "run {run} already ended ({}): nothing to resume",
            row.status
        )));
    }
    let driver = api
        .0
        .engine
        .driver(&run)
        .await
        .map_err(|e| Problem::internal(e.to_string()))?;
    if driver.is_none() {
        api.0.supervisor.resume(&run);
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(CommandResult {
            outcome: "stored",
            driver,
        }),
    ))
}
