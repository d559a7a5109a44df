//! Events: a run's log as JSON, and every run's (or one run's) events live as
//! server-sent events.
//!
//! Each event's SSE `id` is its store-wide cursor, so a client that reconnects with
//! `Last-Event-ID` (or `?after=`) misses nothing and sees nothing twice. The stream polls
//! the store (every [`POLL`]) rather than listening to this process's drivers, so it shows
//! runs driven by any process on the database. Comments keep idle connections alive.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use drctl_core::{RunId, Timestamp};
use drctl_store::StoredEvent;
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::auth::Need;
use super::problem::{FollowRefusals, Problem, ReadRefusals};
use super::{Api, Authed, require, store_problem};

/// How often a follower looks for new events.
pub const POLL: Duration = Duration::from_millis(200);

/// Events read from the store at a time: all a stream holds in memory (an event can be
/// large: the first one carries the runbook's text).
const PAGE: usize = 16;

/// One event as the API shows it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventView {
    #[schema(value_type = String)]
    pub run: RunId,
    pub seq: u64,
    /// Milliseconds since the Unix epoch.
    #[schema(value_type = i64)]
    pub at: Timestamp,
    #[schema(value_type = String)]
    pub actor: drctl_core::Actor,
    pub kind: String,
    /// The event as recorded (secrets were masked before it was stored).
    #[schema(value_type = Value)]
    pub body: Value,
}

impl EventView {
    fn of(e: StoredEvent) -> Self {
        Self {
            body: serde_json::from_str(&e.body).unwrap_or(Value::String(e.body)),
            run: e.run,
            seq: e.seq,
            at: e.at,
            actor: e.actor,
            kind: e.kind,
        }
    }
}

/// One server-sent event of `/api/v1/events`, as a client's SSE parser sees it (the
/// document describes the stream's items, as OpenAPI 3.2's `itemSchema` does).
#[derive(Debug, Serialize, ToSchema)]
pub struct StreamedEvent {
    /// The store-wide cursor: send it back as `Last-Event-ID` to resume after it (none on
    /// `error`).
    pub id: Option<String>,
    /// The event's kind (`run_created`, `attempt_finished`, ...), or `error` when the
    /// store stopped answering (the stream then ends; reconnect to resume).
    pub event: String,
    /// An `EventView` as JSON (for `error`, why, as text).
    pub data: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventList {
    pub events: Vec<EventView>,
}

/// A run's events, in order.
#[utoipa::path(get, path = "/api/v1/runs/{id}/events", operation_id = "run_events",
    params(("id" = String, Path, description = "A run id, or a unique prefix of one")), security(("bearer" = [])),
    responses((status = 200, body = EventList), ReadRefusals))]
pub async fn of_run(
    State(api): State<Api>,
    Authed(caller): Authed,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<EventList>, Problem> {
    require(&caller, Need::Read)?;
    let (run, _) = api.row(&id).await?;
    let events = api.0.store.events(&run, 0).await.map_err(store_problem)?;
    Ok(Json(EventList {
        events: events.into_iter().map(EventView::of).collect(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FollowQuery {
    /// Only this run's events.
    pub run: Option<String>,
    /// Start after this cursor (`Last-Event-ID` wins when both are given).
    #[param(minimum = 0)]
    pub after: Option<i64>,
}

/// The header a reconnecting client sends.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Header)]
pub struct Resume {
    /// Resume after this cursor.
    #[param(rename = "Last-Event-ID", nullable = false, pattern = r"^[0-9]{1,18}$")]
    pub last_event_id: Option<String>,
}

/// Events as they are stored, from the cursor on, for ever, as server-sent events (see
/// `StreamedEvent`).
#[utoipa::path(get, path = "/api/v1/events", operation_id = "follow_events", params(FollowQuery, Resume),
    security(("bearer" = [])),
    responses((status = 200, content_type = "text/event-stream", body = StreamedEvent), FollowRefusals))]
pub async fn follow(
    State(api): State<Api>,
    Authed(caller): Authed,
    headers: HeaderMap,
    query: Result<Query<FollowQuery>, QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Problem> {
    require(&caller, Need::Read)?;
    let Query(q) = query.map_err(|e| Problem::invalid(e.body_text(), Vec::new()))?;
    let run = match &q.run {
        Some(id) => Some(api.row(id).await?.0),
        None => None,
    };
    let last = headers
        .get("last-event-id")
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|t| t.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    Problem::invalid("Last-Event-ID must be a cursor (a number)", Vec::new())
                })
        })
        .transpose()?;
    let after = q
        .after
        .map(|a| {
            u64::try_from(a)
                .map_err(|_| Problem::invalid("`after` must be a cursor (0 or more)", Vec::new()))
        })
        .transpose()?;
    let cursor = last.or(after).unwrap_or(0);
    if cursor > i64::MAX as u64 {
        return Err(Problem::invalid("a cursor is at most 2^63 - 1", Vec::new()));
    }
    let permit = api.1.clone().try_acquire_owned().map_err(|_| {
        Problem::new(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            "busy",
            format!(
                "{} event streams are open already; try again later",
                super::MAX_FOLLOWERS
            ),
        )
    })?;
    let state = (
        api,
        run,
        cursor,
        VecDeque::<(u64, StoredEvent)>::new(),
        false,
    );
    let stream =
        futures_util::stream::unfold(state, |(api, run, mut cursor, mut buf, done)| async move {
            if done {
                return None;
            }
            loop {
                if let Some((at, e)) = buf.pop_front() {
                    cursor = at;
                    let event = Event::default()
                        .id(at.to_string())
                        .event(e.kind.clone())
                        .json_data(EventView::of(e))
                        .unwrap_or_else(|_| Event::default().comment("an event that is not JSON"));
                    return Some((Ok(event), (api, run, cursor, buf, false)));
                }
                match api.0.store.feed(cursor, run.as_ref(), PAGE).await {
                    Ok(page) if page.is_empty() => tokio::time::sleep(POLL).await,
                    Ok(page) => buf.extend(page),
                    Err(e) => {
                        // The client reconnects with the last id it saw and resumes there.
                        let event = Event::default()
                            .event("error")
                            .data(format!("the store does not answer: {e}"));
                        return Some((Ok(event), (api, run, cursor, buf, true)));
                    }
                }
            }
        });
    // The permit goes with the stream: released when the client goes.
    let stream = futures_util::StreamExt::map(stream, move |e| {
        let _held = &permit;
        e
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
