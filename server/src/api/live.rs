//! What a running step has printed so far: an `exec` step's stdout and stderr tails,
//! secrets masked, replaced as output arrives (see drctl-store's `LiveOutputs`).

use axum::Json;
use axum::extract::{Path as UrlPath, State};
use drctl_core::{StepId, Timestamp};
use drctl_store::LiveRow;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Need;
use super::problem::{Problem, ReadRefusals};
use super::{Api, Authed, require, store_problem};

/// One attempt's output so far.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LiveView {
    /// The `for_each` index.
    pub item: Option<u32>,
    pub attempt: u32,
    /// The end of stdout (up to 4 KiB), secrets masked.
    pub stdout: String,
    /// The end of stderr (up to 4 KiB), secrets masked.
    pub stderr: String,
    /// When it was last replaced (milliseconds since the Unix epoch).
    #[schema(value_type = i64)]
    pub at: Timestamp,
}

impl From<LiveRow> for LiveView {
    fn from(r: LiveRow) -> Self {
        Self {
            item: r.item,
            attempt: r.attempt,
            stdout: r.stdout,
            stderr: r.stderr,
            at: r.at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LiveList {
    /// Oldest attempt first. A row may outlive its attempt when the process driving it
    /// died: the run's events say which attempts are still running.
    pub attempts: Vec<LiveView>,
}

/// A step's output while it runs (empty when nothing runs or it prints nothing).
#[utoipa::path(get, path = "/api/v1/runs/{id}/steps/{step}/live", operation_id = "step_live_output",
    params(("id" = String, Path, description = "A run id, or a unique prefix of one"),
           ("step" = String, Path, description = "A step id")),
    security(("bearer" = [])),
    responses((status = 200, body = LiveList), ReadRefusals))]
pub async fn of_step(
    State(api): State<Api>,
    Authed(caller): Authed,
    UrlPath((id, step)): UrlPath<(String, String)>,
) -> Result<Json<LiveList>, Problem> {
    require(&caller, Need::Read)?;
    let (run, _) = api.row(&id).await?;
    let step = StepId::new(&step).map_err(|_| {
        Problem::not_found(format!(
            "run {run} has no step `{}`",
            step.chars().take(64).collect::<String>()
        ))
    })?;
    let rows = api
        .0
        .store
        .live(&run, step.as_str())
        .await
        .map_err(store_problem)?;
    Ok(Json(LiveList {
        attempts: rows.into_iter().map(LiveView::from).collect(),
    }))
}
