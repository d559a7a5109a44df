//! `/api/v1/runbooks`: the runbooks the server may start (the `[serve] runbooks` folder),
//! each compiled when asked, so that what is listed is what a start would run.

use axum::Json;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use drctl_runbook::model::Trigger;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Need;
use super::problem::{Problem, RunbookRefusals, TokenRefusals};
use super::{Api, Authed, require};
use crate::ops::folder::{Entry, FolderError, scan_async};

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
    scan_async(&dir, &api.0.registry)
        .await
        .map_err(Problem::from)
}

impl From<crate::ops::start::StartError> for Problem {
    fn from(e: crate::ops::start::StartError) -> Self {
        use crate::ops::start::StartError;
        match e {
            StartError::Folder(f) => f.into(),
            StartError::Unimplemented(ref list) | StartError::Params(ref list) => {
                let list = list.clone();
                Problem::invalid(e.to_string(), list)
            }
            StartError::Calls(_) => Problem::invalid(e.to_string(), Vec::new()),
            StartError::Outside { .. } => Problem::refused(e.to_string()),
            StartError::Secrets(why) => Problem::new(StatusCode::CONFLICT, "not-ready", why),
        }
    }
}

impl From<FolderError> for Problem {
    fn from(e: FolderError) -> Self {
        match e {
            FolderError::Unreadable(_) => Problem::internal(e.to_string()),
            FolderError::Ambiguous { .. } => Problem::refused(e.to_string()),
            FolderError::NotFound(_) => Problem::not_found(e.to_string()),
            FolderError::Invalid { ref errors, .. } => {
                let errors = errors.clone();
                Problem::invalid(e.to_string(), errors)
            }
        }
    }
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
