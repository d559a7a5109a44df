//! `/api/v1/runbooks`: the runbooks the server may start (the `[serve] runbooks` folder),
//! each compiled when asked, so that what is listed is what a start would run.

use std::path::{Path, PathBuf};

use axum::Json;
use axum::extract::{Path as UrlPath, State};
use drctl_connectors::Registry;
use drctl_runbook::fs::{FsCalls, read_source};
use drctl_runbook::model::Trigger;
use drctl_runbook::{Runbook, Severity, Source, compile};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Need;
use super::problem::{Problem, RunbookRefusals, TokenRefusals};
use super::{Api, Authed, require};

/// One file of the runbooks folder.
struct Entry {
    source: Source,
    runbook: Option<Runbook>,
    /// Its errors, each as `file:line:col: message`.
    errors: Vec<String>,
}

impl Entry {
    /// The name the file gives itself: its runbook's, or its `runbook:` line's.
    fn name(&self) -> Option<String> {
        self.runbook
            .as_ref()
            .map(|rb| rb.name.to_string())
            .or_else(|| {
                self.source.text.lines().find_map(|l| {
                    let v = l.strip_prefix("runbook:")?.trim().trim_matches(['"', '\'']);
                    (!v.is_empty()).then(|| v.to_owned())
                })
            })
    }
}

/// Whether `path` (symlinks followed) is in the folder `dir` or below it.
pub(super) fn inside(dir: &Path, path: &Path) -> bool {
    match (std::fs::canonicalize(dir), std::fs::canonicalize(path)) {
        (Ok(dir), Ok(path)) => path.starts_with(dir),
        _ => false,
    }
}

/// Every `*.yaml` and `*.yml` file of the folder, compiled, in file-name order.
fn scan(dir: &Path, registry: &Registry) -> Result<Vec<Entry>, Problem> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        Problem::internal(format!(
            "cannot read the runbooks folder {}: {e}",
            dir.display()
        ))
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
        .collect();
    paths.sort();
    Ok(paths
        .iter()
        .filter_map(|path| read_source(path).ok())
        .map(|source| {
            let compiled = compile(&source, registry, &FsCalls::new(registry));
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
            Entry {
                runbook: compiled.runbook,
                errors,
                source,
            }
        })
        .collect())
}

/// The runbook named `name` in `dir`, compiled; 404 when no file is, 422 when it does
/// not compile (each error with its `file:line:col`), 409 when two files say they are it
/// (never one picked by file name).
pub(super) fn find(
    dir: &Path,
    name: &str,
    registry: &Registry,
) -> Result<(Source, Runbook), Problem> {
    let mut found: Vec<Entry> = scan(dir, registry)?
        .into_iter()
        .filter(|e| e.name().as_deref() == Some(name))
        .collect();
    if found.len() > 1 {
        let files: Vec<&str> = found.iter().map(|e| e.source.name.as_str()).collect();
        return Err(Problem::refused(format!(
            "more than one file in the runbooks folder is runbook `{name}`: {}",
            files.join(", ")
        )));
    }
    let Some(entry) = found.pop() else {
        return Err(Problem::not_found(format!(
            "no runbook named `{name}` in the server's runbooks folder"
        )));
    };
    match entry.runbook {
        Some(rb) => Ok((entry.source, rb)),
        None => Err(Problem::invalid(
            format!("runbook `{name}` does not compile"),
            entry.errors,
        )),
    }
}

/// A runbook as the API lists it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RunbookView {
    /// Its `runbook:` name (absent when the file gives none).
    pub name: Option<String>,
    pub file: String,
    /// `sha256:<hex>` of the file's text.
    pub digest: String,
    /// Whether it compiles; `errors` says why not.
    pub valid: bool,
    pub errors: Vec<String>,
    pub params: Vec<String>,
    pub triggers: Vec<TriggerView>,
}

/// A trigger the runbook declares (fired by a later version of `drctl serve`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TriggerView {
    /// `schedule` or `webhook`.
    pub kind: String,
    /// A schedule's cron and time zone, or a webhook's name.
    pub cron: Option<String>,
    pub timezone: Option<String>,
    pub webhook: Option<String>,
    pub drill: bool,
}

impl RunbookView {
    fn of(e: &Entry) -> Self {
        let rb = e.runbook.as_ref();
        Self {
            name: e.name(),
            file: e.source.name.clone(),
            digest: e.source.digest(),
            valid: rb.is_some(),
            errors: e.errors.clone(),
            params: rb.map_or_else(Vec::new, |rb| {
                rb.params.keys().map(ToString::to_string).collect()
            }),
            triggers: rb.map_or_else(Vec::new, |rb| {
                rb.triggers
                    .iter()
                    .map(|t| match t {
                        Trigger::Schedule(s) => TriggerView {
                            kind: "schedule".into(),
                            cron: Some(s.cron.clone()),
                            timezone: Some(s.timezone.name().to_owned()),
                            webhook: None,
                            drill: s.drill,
                        },
                        Trigger::Webhook(w) => TriggerView {
                            kind: "webhook".into(),
                            cron: None,
                            timezone: None,
                            webhook: Some(w.name.clone()),
                            drill: false,
                        },
                    })
                    .collect()
            }),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RunbookList {
    pub runbooks: Vec<RunbookView>,
}

async fn scanned(api: &Api) -> Result<Vec<Entry>, Problem> {
    let Some(dir) = api.0.config.runbooks.clone() else {
        return Ok(Vec::new());
    };
    let registry = api.0.registry.clone();
    tokio::task::spawn_blocking(move || scan(&dir, &registry))
        .await
        .map_err(|e| Problem::internal(e.to_string()))?
}

/// The runbooks the server may start (none without `[serve] runbooks`).
#[utoipa::path(get, path = "/api/v1/runbooks", operation_id = "list_runbooks", security(("bearer" = [])),
    responses((status = 200, body = RunbookList), TokenRefusals))]
pub async fn list(
    State(api): State<Api>,
    Authed(caller): Authed,
) -> Result<Json<RunbookList>, Problem> {
    require(&caller, Need::Read)?;
    let entries = scanned(&api).await?;
    Ok(Json(RunbookList {
        runbooks: entries.iter().map(RunbookView::of).collect(),
    }))
}

/// One runbook, with its text.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RunbookDetail {
    pub runbook: RunbookView,
    pub text: String,
}

#[utoipa::path(get, path = "/api/v1/runbooks/{name}", operation_id = "show_runbook",
    params(("name" = String, Path, description = "The runbook's `runbook:` name")), security(("bearer" = [])),
    responses((status = 200, body = RunbookDetail), RunbookRefusals))]
pub async fn show(
    State(api): State<Api>,
    Authed(caller): Authed,
    UrlPath(name): UrlPath<String>,
) -> Result<Json<RunbookDetail>, Problem> {
    require(&caller, Need::Read)?;
    let mut found: Vec<Entry> = scanned(&api)
        .await?
        .into_iter()
        .filter(|e| e.name().as_deref() == Some(name.as_str()))
        .collect();
    if found.len() > 1 {
        return Err(Problem::refused(format!(
            "more than one file is runbook `{name}`"
        )));
    }
    let entry = found
        .pop()
        .ok_or_else(|| Problem::not_found(format!("no runbook named `{name}`")))?;
    Ok(Json(RunbookDetail {
        runbook: RunbookView::of(&entry),
        text: entry.source.text.clone(),
    }))
}
