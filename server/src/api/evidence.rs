//! Evidence: a run's report, a runbook's trend, and the audit export, made by the same
//! library functions as `drctl report` and `drctl audit export` (`drctl_evidence`).
//!
//! The export is streamed: the store is read as one snapshot (so runs appending
//! meanwhile appear as they were), and the file is written to the connection as it is
//! made, by a blocking task, never held whole in memory a second time.

use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use drctl_core::Timestamp;
use drctl_evidence::audit::{self, Format as AuditFormat};
use drctl_evidence::report::{self, Format, ReportError};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Need;
use super::problem::{ExportRefusals, Problem, ReadRefusals};
use super::{Api, Authed, require, store_problem};

/// How a report is written.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReportFormat {
    #[default]
    Md,
    Json,
    Html,
}

impl From<ReportFormat> for Format {
    fn from(f: ReportFormat) -> Self {
        match f {
            ReportFormat::Md => Format::Md,
            ReportFormat::Json => Format::Json,
            ReportFormat::Html => Format::Html,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// `md` (default), `json` or `html`.
    pub format: Option<ReportFormat>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TrendQuery {
    /// `md` (default), `json` or `html`.
    pub format: Option<ReportFormat>,
    /// How many finished runs, newest last (default 10, at most 1,000).
    #[param(minimum = 1, maximum = 1000)]
    pub last: Option<usize>,
}

/// A run's report: timeline, approvals, RTO and RPO against the objectives, errors.
#[utoipa::path(get, path = "/api/v1/runs/{id}/report", operation_id = "run_report",
    params(("id" = String, Path, description = "A run id, or a unique prefix of one"), ReportQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "The report in the format asked",
        content((String = "text/markdown"), (Object = "application/json"), (String = "text/html"))), ReadRefusals))]
pub async fn run_report(
    State(api): State<Api>,
    Authed(caller): Authed,
    UrlPath(id): UrlPath<String>,
    query: Result<Query<ReportQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    require(&caller, Need::Read)?;
    let Query(q) = query.map_err(|e| Problem::invalid(e.body_text(), Vec::new()))?;
    let (run, _) = api.row(&id).await?;
    let format: Format = q.format.unwrap_or_default().into();
    let text = report::run_report(&api.0.engine, &run, format, api.0.clock.now())
        .await
        .map_err(report_problem)?;
    Ok(text_answer(text, format.media_type()))
}

/// The objectives across a runbook's last finished runs.
#[utoipa::path(get, path = "/api/v1/runbooks/{name}/trend", operation_id = "runbook_trend",
    params(("name" = String, Path, description = "The runbook's `runbook:` name"), TrendQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "The trend in the format asked (JSON: one object per run)",
        content((String = "text/markdown"), (Vec<Object> = "application/json"), (String = "text/html"))), ReadRefusals))]
pub async fn trend(
    State(api): State<Api>,
    Authed(caller): Authed,
    UrlPath(name): UrlPath<String>,
    query: Result<Query<TrendQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    require(&caller, Need::Read)?;
    let Query(q) = query.map_err(|e| Problem::invalid(e.body_text(), Vec::new()))?;
    let last = q.last.unwrap_or(10);
    if !(1..=1000).contains(&last) {
        return Err(Problem::invalid(
            "`last` must be from 1 to 1000",
            Vec::new(),
        ));
    }
    let format: Format = q.format.unwrap_or_default().into();
    let text = report::trend(&api.0.engine, &name, last, format, api.0.clock.now())
        .await
        .map_err(report_problem)?;
    Ok(text_answer(text, format.media_type()))
}

fn text_answer(text: String, media_type: &'static str) -> Response {
    let mut response = text.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
    response
}

fn report_problem(e: ReportError) -> Problem {
    match e {
        ReportError::NoRun(_) | ReportError::NoFinishedRun(_) => Problem::not_found(e.to_string()),
        ReportError::Store(e) => store_problem(e),
        ReportError::Engine(e) => Problem::internal(e.to_string()),
    }
}

/// An export's format.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    #[default]
    Jsonl,
    Csv,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// Runs with an event at or after this time (RFC 3339, or a day: `2026-11-22`).
    #[param(format = DateTime)]
    pub since: Option<String>,
    /// Runs with an event before this time (RFC 3339, or a day).
    #[param(format = DateTime)]
    pub until: Option<String>,
    pub runbook: Option<String>,
    /// Runs in which this actor caused an event.
    pub actor: Option<String>,
    /// One run, by its id or a unique prefix.
    pub run: Option<String>,
    /// `jsonl` (default) or `csv`.
    pub format: Option<ExportFormat>,
}

/// Whole runs with their hash chains, then a manifest (with the runs' ledger entries and
/// the server's signatures over them), as `drctl audit export` writes them; streamed.
#[utoipa::path(get, path = "/api/v1/audit/export", operation_id = "audit_export", params(ExportQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "The export",
        content((String = "application/x-ndjson"), (String = "text/csv"))), ExportRefusals))]
pub async fn export(
    State(api): State<Api>,
    Authed(caller): Authed,
    query: Result<Query<ExportQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    require(&caller, Need::Read)?;
    let Query(q) = query.map_err(|e| Problem::invalid(e.body_text(), Vec::new()))?;
    let time = |name: &str, text: &Option<String>| -> Result<Option<Timestamp>, Problem> {
        text.as_deref()
            .map(|t| {
                Timestamp::parse(t).ok_or_else(|| {
                    Problem::invalid(
                        format!("`{name}` is not a time: write 2026-11-22 or 2026-11-22T10:00:00Z"),
                        Vec::new(),
                    )
                })
            })
            .transpose()
    };
    // A window that holds no time chooses no run: an export of none (the CLI refuses it
    // before asking).
    let (since, until) = (time("since", &q.since)?, time("until", &q.until)?);
    let run = match &q.run {
        Some(prefix) if prefix.len() <= 64 => Some(
            crate::ops::runs::audited(api.0.store.as_ref(), prefix)
                .await
                .map_err(store_problem)?,
        ),
        // No run id is this long.
        Some(_) => return Err(Problem::not_found("no such run")),
        None => None,
    };
    let as_given = audit::Given {
        since: q.since,
        until: q.until,
        runbook: q.runbook.clone(),
        actor: q.actor.clone(),
        run: q.run,
    }
    .as_given();
    let filters = audit::Filters {
        since,
        until,
        runbook: q.runbook,
        actor: q.actor,
        run,
        as_given,
    };
    let (format, media_type) = match q.format.unwrap_or_default() {
        ExportFormat::Jsonl => (AuditFormat::Jsonl, "application/x-ndjson"),
        ExportFormat::Csv => (AuditFormat::Csv, "text/csv; charset=utf-8"),
    };
    // One export at a time: each reads the whole store into memory.
    let permit = api.2.clone().try_acquire_owned().map_err(|_| {
        Problem::new(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            "busy",
            "an audit export is under way; try again when it has ended",
        )
    })?;
    let snapshot = api
        .0
        .store
        .snapshot(filters.run.as_ref())
        .await
        .map_err(store_problem)?;
    let service = audit::ServiceLog::read(api.0.store.as_ref(), &filters)
        .await
        .map_err(store_problem)?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    let by = (caller.identity, api.0.clock.now());
    tokio::task::spawn_blocking(move || {
        let _held = permit;
        let out = std::io::BufWriter::with_capacity(64 * 1024, Pipe(tx.clone()));
        // A client that goes away ends the export: the pipe's write fails.
        let read = (&snapshot, &service);
        if let Err(e) = audit::export(read, &filters, format, out, (&by.0, by.1)) {
            let _ = tx.blocking_send(Err(e));
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    let mut response = Body::from_stream(stream).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
    Ok(response)
}

/// The export's bytes to the response body.
struct Pipe(tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>);

impl std::io::Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
