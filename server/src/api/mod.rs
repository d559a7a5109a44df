//! The HTTP API, `/api/v1` (axum).
//!
//! - [`auth`]: bearer tokens (kept as SHA-256 digests) and roles.
//! - [`problem`]: every error as RFC 9457 problem JSON.
//! - [`runbooks`]: the runbooks the server may start.
//! - [`runs`]: list, show, start, cancel, resume, decide about a step.
//! - [`approvals`]: the gates waiting for a decision, and deciding one.
//! - [`events`]: a run's events, and every run's live as server-sent events.
//! - [`live`]: what a running step printed so far.
//! - [`evidence`]: a run's report, a runbook's trend, the audit export (streamed).
//! - [`schedules`]: schedules and drill obligations; pause, resume, waive, fire now.
//! - [`proposals`]: runs that hooks with `confirm: true` proposed; confirm or reject.
//! - [`whoami`]: who the caller's token is.
//! - [`openapi`]: the OpenAPI document, generated from the handlers.
//!
//! `/healthz` and `/readyz` need no token. A body is at most 1 MiB (413 beyond). No input
//! makes a handler answer 5xx: a 503 means the store itself could not be reached.

pub mod approvals;
pub mod auth;
pub mod events;
pub mod evidence;
pub mod live;
pub mod openapi;
pub mod problem;
pub mod proposals;
pub mod runbooks;
pub mod runs;
pub mod schedules;
pub mod whoami;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts as Parts_;
use axum::routing::{get, post};
use drctl_connectors::Registry;
use drctl_core::{Clock, RunId};
use drctl_engine::Engine;
use drctl_store::{RunFilter, RunRow, Store, StoreError};
use serde::de::DeserializeOwned;

use crate::{Handle, ServeConfig};
use auth::{Caller, Need};
use problem::Problem;

/// How long a client may take to send a request's head.
pub const HEADERS: std::time::Duration = std::time::Duration::from_secs(10);

/// Connections open at once.
pub const MAX_CONNECTIONS: usize = 1024;

/// The largest body an operation takes.
pub const MAX_BODY: usize = 1 << 20;

/// What every handler shares: the parts, and the permits of live event streams.
#[derive(Clone)]
pub struct Api(
    pub(crate) Arc<Parts>,
    Arc<tokio::sync::Semaphore>,
    /// Audit exports under way (each reads the whole store into memory).
    Arc<tokio::sync::Semaphore>,
    /// Webhooks' rates and locks.
    pub(crate) Arc<crate::hooks::Gate>,
);

/// Audit exports at once: each holds a snapshot of the whole store in memory.
pub const MAX_EXPORTS: usize = 1;

/// Live event streams open at once; more are refused (429) rather than let readers
/// take the memory and the store's connections the drivers need.
pub const MAX_FOLLOWERS: usize = 64;

/// The pieces the API needs from its host.
pub struct Parts {
    pub engine: Engine,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub registry: Registry,
    pub config: ServeConfig,
    /// `[groups]` of `drctl.toml`: who is in which approver group.
    pub groups: BTreeMap<String, Vec<String>>,
    pub supervisor: Handle,
    pub metrics: Arc<crate::metrics::Metrics>,
}

impl Api {
    pub fn new(parts: Parts) -> Self {
        Self(
            Arc::new(parts),
            Arc::new(tokio::sync::Semaphore::new(MAX_FOLLOWERS)),
            Arc::new(tokio::sync::Semaphore::new(MAX_EXPORTS)),
            Arc::new(crate::hooks::Gate::default()),
        )
    }

    /// The router of every endpoint.
    pub fn router(self) -> Router {
        Router::new()
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz))
            .route("/metrics", get(metrics))
            .route("/api/v1/openapi.json", get(openapi::document))
            .route("/api/v1/whoami", get(whoami::whoami))
            .route("/api/v1/runbooks", get(runbooks::list))
            .route("/api/v1/runbooks/{name}", get(runbooks::show))
            .route("/api/v1/runs", get(runs::list).post(runs::start))
            .route("/api/v1/runs/{id}", get(runs::show))
            .route("/api/v1/runs/{id}/cancel", post(runs::cancel))
            .route("/api/v1/runs/{id}/resume", post(runs::resume))
            .route("/api/v1/runs/{id}/steps/{step}", post(runs::step))
            .route("/api/v1/runs/{id}/events", get(events::of_run))
            .route("/api/v1/runs/{id}/steps/{step}/live", get(live::of_step))
            .route("/api/v1/runs/{id}/report", get(evidence::run_report))
            .route("/api/v1/runbooks/{name}/trend", get(evidence::trend))
            .route("/api/v1/audit/export", get(evidence::export))
            .route("/api/v1/events", get(events::follow))
            .route("/hooks/{name}", post(crate::hooks::receive::receive))
            .route("/api/v1/schedules", get(schedules::list))
            .route("/api/v1/schedules/{id}/pause", post(schedules::pause))
            .route("/api/v1/schedules/{id}/resume", post(schedules::resume))
            .route("/api/v1/schedules/{id}/waive", post(schedules::waive))
            .route("/api/v1/schedules/{id}/fire", post(schedules::fire))
            .route("/api/v1/proposals", get(proposals::list))
            .route("/api/v1/proposals/{run}", get(proposals::show))
            .route("/api/v1/proposals/{run}/confirm", post(proposals::confirm))
            .route("/api/v1/proposals/{run}/reject", post(proposals::reject))
            .route("/api/v1/approvals", get(approvals::list))
            .route(
                "/api/v1/runs/{id}/approvals/{step}",
                post(approvals::decide),
            )
            .fallback(not_found)
            .method_not_allowed_fallback(method_not_allowed)
            .layer(DefaultBodyLimit::max(MAX_BODY))
            .with_state(self)
    }

    /// Answers on `listener` until `stop` is cancelled; requests under way finish (the
    /// host gives them a deadline). HTTP/1.1, with what `axum::serve` does not set: a
    /// client must send its request's head within [`HEADERS`], and at most
    /// [`MAX_CONNECTIONS`] connections are open at once (more wait in the kernel's
    /// backlog), so clients that connect and say nothing cannot take the server.
    pub async fn serve<L>(
        self,
        mut listener: L,
        stop: tokio_util::sync::CancellationToken,
    ) -> std::io::Result<()>
    where
        L: axum::serve::Listener,
        L::Addr: std::fmt::Debug,
    {
        let router = self.router();
        let open = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
        let mut connections = tokio::task::JoinSet::new();
        loop {
            let permit = tokio::select! {
                () = stop.cancelled() => break,
                permit = open.clone().acquire_owned() => match permit {
                    Ok(p) => p,
                    Err(_) => break,
                },
            };
            let io = tokio::select! {
                () = stop.cancelled() => break,
                accepted = listener.accept() => accepted,
            };
            let (io, addr) = io;
            // Who is on the other end, for the records of webhook deliveries.
            let peer = Peer(format!("{addr:?}"));
            let service = hyper_util::service::TowerToHyperService::new(
                router.clone().layer(axum::Extension(peer)),
            );
            let stop = stop.clone();
            connections.spawn(async move {
                let _open = permit;
                let connection = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(HEADERS)
                    .serve_connection(hyper_util::rt::TokioIo::new(io), service);
                let mut connection = std::pin::pin!(connection);
                tokio::select! {
                    _ = connection.as_mut() => {}
                    () = stop.cancelled() => {
                        connection.as_mut().graceful_shutdown();
                        let _ = connection.await;
                    }
                }
            });
            while connections.try_join_next().is_some() {}
        }
        while connections.join_next().await.is_some() {}
        Ok(())
    }

    fn groups_of(&self, identity: &drctl_core::Actor) -> Vec<String> {
        let Some(identity) = identity.person_name() else {
            return Vec::new();
        };
        self.0
            .groups
            .iter()
            .filter(|(_, members)| members.iter().any(|m| m == identity))
            .map(|(g, _)| g.clone())
            .collect()
    }

    /// Sends an operator's command to `run` as `caller`, as the CLI does (see
    /// `ops::deliver`): what became of it, or 503 when the store does not answer.
    async fn send(
        &self,
        run: &RunId,
        caller: &Caller,
        command: &drctl_engine::OperatorCommand,
        check: &(dyn Fn(&drctl_run::RunState) -> Result<(), String> + Send + Sync),
    ) -> Result<crate::ops::deliver::Delivered, Problem> {
        crate::ops::deliver::deliver(
            &self.0.engine,
            run,
            &caller.identity,
            command,
            check,
            crate::ops::deliver::WAIT,
        )
        .await
        .map_err(|e| Problem::internal(e.to_string()))
    }

    /// A run by its id (or a unique prefix of it), or 404.
    async fn row(&self, id: &str) -> Result<(RunId, RunRow), Problem> {
        // No run id is this long; the store is not asked to match a pattern of it.
        if id.len() > 64 {
            return Err(Problem::not_found(
                StoreError::NotFound(id.chars().take(64).collect()).to_string(),
            ));
        }
        let run = self.0.store.resolve(id).await.map_err(store_problem)?;
        let row = self
            .0
            .store
            .run(&run)
            .await
            .map_err(store_problem)?
            .ok_or_else(|| Problem::not_found(StoreError::NotFound(id.to_owned()).to_string()))?;
        Ok((run, row))
    }
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Parts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parts")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// What the store said, as the client should hear it.
pub(crate) fn store_problem(e: StoreError) -> Problem {
    match e {
        StoreError::NotFound(_) => Problem::not_found(e.to_string()),
        StoreError::Ambiguous { .. } => Problem::invalid(e.to_string(), Vec::new()),
        other => Problem::internal(other.to_string()),
    }
}

/// The address of a request's peer (`127.0.0.1:50312`), as the connection gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer(pub String);

/// The caller, from the request's token (401 without a known one). Taken before the
/// path and the body, so that nobody without a token gets a server to read a body, nor
/// learns anything from how it was refused.
#[derive(Debug)]
pub struct Authed(pub Caller);

impl FromRequestParts<Api> for Authed {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts_, api: &Api) -> Result<Self, Self::Rejection> {
        auth::caller(&parts.headers, &api.0.config.token).map(Authed)
    }
}

/// 403 unless the caller's role allows `need`.
fn require(caller: &Caller, need: Need) -> Result<(), Problem> {
    auth::require(caller, need)
}

/// A JSON body whose every problem is answered as problem JSON (see
/// `From<JsonRejection> for Problem`).
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(value) = axum::Json::<T>::from_request(req, state)
            .await
            .map_err(|e: JsonRejection| Problem::from(e))?;
        Ok(Body(value))
    }
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// Ready when the store answers.
async fn readyz(State(api): State<Api>) -> Result<&'static str, Problem> {
    api.0
        .store
        .list_runs(&RunFilter {
            limit: 1,
            ..RunFilter::default()
        })
        .await
        .map_err(|e| Problem::internal(format!("the store does not answer: {e}")))?;
    Ok("ready\n")
}

/// A JSON body that may be left out (`curl -X POST .../cancel` during an outage): no
/// body is `None`; a body is read as [`Body`] reads it.
#[derive(Debug)]
pub struct MaybeBody<T>(pub Option<T>);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for MaybeBody<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let headers = req.headers();
        let length = headers
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let chunked = headers.contains_key(axum::http::header::TRANSFER_ENCODING);
        if !chunked && length.is_none_or(|n| n == 0) {
            return Ok(MaybeBody(None));
        }
        // JSON `null` is no body too.
        let Body(value) = Body::<Option<T>>::from_request(req, state).await?;
        Ok(MaybeBody(value))
    }
}

/// Prometheus' scrape: no token (it says how many runs are in which state, nothing about
/// them).
async fn metrics(
    State(api): State<Api>,
) -> Result<([(axum::http::HeaderName, &'static str); 1], String), Problem> {
    let rows = api
        .0
        .store
        .list_runs(&RunFilter {
            top_level: true,
            limit: 1_000_000,
            ..RunFilter::default()
        })
        .await
        .map_err(store_problem)?;
    let now = api.0.clock.now();
    let mut by_status: BTreeMap<String, i64> = BTreeMap::new();
    for row in &rows {
        *by_status
            .entry(drctl_engine::liveness::shown_status(row, now).to_owned())
            .or_default() += 1;
    }
    let (mut waiting, mut oldest) = (0, 0);
    for row in rows.iter().filter(|r| !r.is_finished()) {
        let Ok(state) = api.0.engine.state(&row.id).await else {
            continue;
        };
        for gate in crate::ops::approvals::waiting(&state) {
            waiting += 1;
            let since = state
                .steps
                .get(gate.step.as_str())
                .and_then(|s| s.items.first())
                .and_then(|i| i.started_at)
                .map_or(0, |at| i64::try_from(now.since(at).as_secs()).unwrap_or(0));
            oldest = oldest.max(since);
        }
    }
    let runs: Vec<(String, i64)> = by_status.into_iter().collect();
    // A folder that cannot be read shows no obligations; the scrape still answers.
    let shown = match &api.0.config.runbooks {
        Some(dir) => crate::schedule::view::list(dir, &api.0.registry, api.0.store.as_ref(), now)
            .await
            .unwrap_or_default(),
        None => crate::schedule::view::ScheduleList::default(),
    };
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        api.0.metrics.render(
            &runs,
            (waiting, oldest),
            (&shown.schedules, &shown.readiness, now),
        ),
    ))
}

async fn not_found() -> Problem {
    Problem::not_found("no such endpoint")
}

async fn method_not_allowed() -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "this endpoint does not take that method",
    )
}
