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

use super::auth::Need;
use super::problem::Problem;
use super::{Api, store_problem};

/// How often a follower looks for new events.
pub const POLL: Duration = Duration::from_millis(200);

/// Events read from the store at a time.
const PAGE: usize = 256;

/// One event as the API shows it.
#[derive(Debug, Serialize)]
pub struct EventView {
    pub run: RunId,
    pub seq: u64,
    pub at: Timestamp,
    pub actor: String,
    pub kind: String,
    /// The event as recorded (secrets were masked before it was stored).
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

#[derive(Debug, Serialize)]
pub struct EventList {
    pub events: Vec<EventView>,
}

/// A run's events, in order.
pub async fn of_run(
    State(api): State<Api>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<EventList>, Problem> {
    api.caller(&headers, Need::Read)?;
    let (run, _) = api.row(&id).await?;
    let events = api.0.store.events(&run, 0).await.map_err(store_problem)?;
    Ok(Json(EventList {
        events: events.into_iter().map(EventView::of).collect(),
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FollowQuery {
    /// Only this run's events.
    pub run: Option<String>,
    /// Start after this cursor (`Last-Event-ID` wins when both are given).
    pub after: Option<u64>,
}

/// Events as they are stored, from the cursor on, for ever.
pub async fn follow(
    State(api): State<Api>,
    headers: HeaderMap,
    query: Result<Query<FollowQuery>, QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Problem> {
    api.caller(&headers, Need::Read)?;
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
    let cursor = last.or(q.after).unwrap_or(0);
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
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
