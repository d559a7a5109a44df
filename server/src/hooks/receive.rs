//! `POST /hooks/{name}`: a delivery, checked in this order, each refusal recorded:
//!
//! 1. the hook exists in the runbooks folder (404, not recorded: unknown names would let
//!    anyone fill the records);
//! 2. its rate (429), the body's size (413) and type (415);
//! 3. its signature or token (401, the same answer whatever failed);
//! 4. a delivery id seen before is a replay (409, naming what the first one did);
//! 5. the payload: JSON (400), the format's preset (Alertmanager version 4 and `firing`,
//!    PagerDuty `incident.triggered`), the `filter` (202 `filtered`);
//! 6. its dedup key: a run of the key still going, or ended within `dedup_window`, or
//!    a proposal of the key still waiting, takes it (202 `attached`; a run going on
//!    records it in its log too);
//! 7. `cooldown`: a run of this hook ended within it (202 `cooled_down`);
//! 8. the run, with the params rendered from the payload (202 `started`), or with
//!    `confirm: true` its proposal (202 `proposed`: see [`super::propose`]).
//!
//! Step 8 checks the key again in the transaction that creates the run or the
//! proposal: two deliveries of one key at one instant, at one server or two on one
//! database, start one run, and the other is attached to it.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode, header};
use drctl_core::{Actor, RunId, Trigger};
use drctl_engine::{EnvAndFiles, NewRunRequest, OperatorCommand, SecretReader};
use drctl_runbook::model::{HookFormat, Trigger as Declared, Webhook};
use drctl_runbook::params::shown_within;
use drctl_runbook::template::env::TemplateEnv;
use drctl_runbook::template::render::{Context, render_value};
use drctl_store::{Dedup, DeliveryVerdict, Placed, Proposal, Settled};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::verify;
use crate::api::problem::{HookRefusals, Problem};
use crate::api::{Api, Peer, store_problem};
use crate::ops::folder::scan_async;
use crate::ops::start::StartError;

/// What became of a delivery that was taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HookAnswer {
    /// `started`, `proposed` (the hook has `confirm: true`: the run starts when a person
    /// confirms it), `attached`, `filtered` or `cooled_down`.
    pub status: String,
    #[schema(value_type = Option<String>)]
    pub run: Option<RunId>,
}

/// The webhook `name` and its runbook's name, from the folder as it is now.
async fn find(api: &Api, name: &str) -> Result<(String, Webhook), Problem> {
    let not_found = || Problem::not_found(format!("no webhook `{name}`"));
    let Some(dir) = api.0.config.runbooks.clone() else {
        return Err(not_found());
    };
    let entries = scan_async(&dir, &api.0.registry).await?;
    let mut found: Vec<(String, Webhook)> = entries
        .into_iter()
        .filter_map(|e| e.runbook)
        .flat_map(|rb| {
            let runbook = rb.name.to_string();
            rb.triggers.into_iter().filter_map(move |t| match t {
                Declared::Webhook(w) if w.name == name => Some((runbook.clone(), w)),
                _ => None,
            })
        })
        .collect();
    if found.len() > 1 {
        return Err(Problem::refused(format!(
            "more than one runbook declares the webhook `{name}`"
        )));
    }
    found.pop().ok_or_else(not_found)
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|t| t.trim().to_ascii_lowercase())
        .is_some_and(|t| {
            t == "application/json" || (t.starts_with("application/") && t.ends_with("+json"))
        })
}

/// Receives one delivery (see the module doc).
#[utoipa::path(post, path = "/hooks/{name}", operation_id = "receive_hook",
    params(("name" = String, Path, description = "The webhook's name, as a runbook's `triggers:` declare it")),
    request_body(content = Object, description = "The sender's JSON payload, as it signed it"),
    responses((status = 202, body = HookAnswer), HookRefusals))]
pub async fn receive(
    State(api): State<Api>,
    peer: Option<axum::Extension<Peer>>,
    UrlPath(name): UrlPath<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<HookAnswer>), Problem> {
    let (runbook, hook) = find(&api, &name).await?;
    let peer = peer.map_or_else(|| "unknown".to_owned(), |p| p.0.0.clone());
    let store = api.0.store.clone();
    let now = api.0.clock.now();
    // A refused delivery is recorded before it is answered. Refusals before the sender
    // proved itself are recorded at the hook's rate at most (the rest only answered), so
    // that anyone who knows the hook's name cannot fill the database.
    let refuse = |verdict: DeliveryVerdict, detail: String, problem: Problem, proven: bool| {
        let (store, name, peer, gate) = (store.clone(), name.clone(), peer.clone(), api.3.clone());
        let runbook = runbook.clone();
        let rate = hook.rate;
        async move {
            if proven || gate.admit_refusal(&name, rate, now) {
                let seq = store
                    .claim_delivery((&name, &runbook), None, (now, &peer))
                    .await
                    .map_err(store_problem)?
                    .map_err(|_| {
                        Problem::internal("a delivery without an id cannot be a replay")
                    })?;
                let settled = Settled {
                    verdict,
                    run: None,
                    key: None,
                    detail: Some(detail),
                };
                store
                    .settle_delivery(seq, &settled)
                    .await
                    .map_err(store_problem)?;
            }
            Err::<(StatusCode, Json<HookAnswer>), Problem>(problem)
        }
    };
    let body = match body {
        Ok(b) => b,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            let problem = Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                "a delivery's body is at most 1 MiB",
            );
            return refuse(
                DeliveryVerdict::Invalid,
                "a body over 1 MiB".into(),
                problem,
                false,
            )
            .await;
        }
        Err(e) => {
            let problem = Problem::new(StatusCode::BAD_REQUEST, "bad-request", e.body_text());
            return refuse(DeliveryVerdict::Invalid, e.body_text(), problem, false).await;
        }
    };
    if !is_json(&headers) {
        let problem = Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "not-json",
            "a delivery is JSON: Content-Type: application/json",
        );
        return refuse(DeliveryVerdict::Invalid, "not JSON".into(), problem, false).await;
    }
    // The hook's secrets, as the server can read them now. None usable is the server's
    // problem, not the sender's: 503, and the record says which and why.
    let mut unusable = Vec::new();
    let mut secrets = Vec::new();
    for (i, source) in hook.auth.secrets.iter().enumerate() {
        match EnvAndFiles.read(&format!("secret #{} of webhook {name}", i + 1), source) {
            Ok(v) if verify::strong_enough(hook.auth.scheme, &v) => secrets.push(v),
            Ok(_) => unusable.push(format!(
                "secret #{} is shorter than {} characters (a whsec_ key: bytes)",
                i + 1,
                verify::MIN_SECRET
            )),
            Err(why) => unusable.push(why),
        }
    }
    if secrets.is_empty() {
        let problem = Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not-ready",
            "the webhook cannot verify deliveries now: the server's records say why",
        );
        return refuse(
            DeliveryVerdict::Failed,
            format!("no usable secret: {}", unusable.join("; ")),
            problem,
            false,
        )
        .await;
    }
    let verified = match verify::verify(hook.auth.scheme, &secrets, &headers, &body, now) {
        Ok(v) => v,
        Err(why) => {
            let problem = Problem::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "the delivery does not verify",
            );
            return refuse(
                DeliveryVerdict::Unauthorized,
                why.to_string(),
                problem,
                false,
            )
            .await;
        }
    };
    let seq = match claim(
        &api,
        (&name, &runbook),
        verified.id.as_deref(),
        (now, &peer),
    )
    .await?
    {
        Ok(seq) => seq,
        Err(earlier) => {
            let id = earlier.id.as_deref().unwrap_or("?");
            let what = earlier.run.as_ref().map_or_else(
                || format!("it was {}", earlier.verdict.as_str()),
                |r| format!("it was {} with run {r}", earlier.verdict.as_str()),
            );
            let problem = Problem::new(
                StatusCode::CONFLICT,
                "replay",
                format!("delivery `{id}` was received before: {what}"),
            );
            // A captured delivery replayed is signed: recorded at the capped rate of
            // refusals, and it spends nothing of the hook's rate.
            return refuse(
                DeliveryVerdict::Replayed,
                format!("a replay of delivery {id}"),
                problem,
                false,
            )
            .await;
        }
    };
    // The rate counts new deliveries that verified: nobody else can spend it. One over
    // it is recorded (once: it has its own id) and may be retried later.
    if !api.3.admit(&name, hook.rate, now) {
        let settled = Settled {
            verdict: DeliveryVerdict::RateLimited,
            run: None,
            key: None,
            detail: Some(format!("over {} deliveries a minute", hook.rate)),
        };
        api.0
            .store
            .settle_delivery(seq, &settled)
            .await
            .map_err(store_problem)?;
        return Err(Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            format!(
                "webhook `{name}` takes at most {} deliveries a minute",
                hook.rate
            ),
        ));
    }
    let sender = (verified.id.as_deref(), peer.as_str());
    handle(&api, (&name, &runbook, &hook), (seq, sender), &body, now).await
}

/// How long a delivery may stay pending before a retry of it is taken to mean that its
/// handler died (a handler takes milliseconds; a run's start, a few).
const ABANDONED: std::time::Duration = std::time::Duration::from_secs(60);

/// Claims the delivery; a sender's retry of one whose handler died (still pending after
/// [`ABANDONED`]), whose run could not start (`failed`) or that was over the rate is taken
/// over, once.
async fn claim(
    api: &Api,
    hook: (&str, &str),
    id: Option<&str>,
    (now, peer): (drctl_core::Timestamp, &str),
) -> Result<Result<u64, drctl_store::DeliveryRow>, Problem> {
    let store = &api.0.store;
    let claimed = store
        .claim_delivery(hook, id, (now, peer))
        .await
        .map_err(store_problem)?;
    let Err(earlier) = claimed else {
        return Ok(claimed);
    };
    let again = match earlier.verdict {
        DeliveryVerdict::Failed | DeliveryVerdict::RateLimited => true,
        DeliveryVerdict::Pending => now.since(earlier.at) >= ABANDONED,
        _ => false,
    };
    if again
        && store
            .retake_delivery(earlier.seq, (earlier.verdict, earlier.at), now)
            .await
            .map_err(store_problem)?
    {
        return Ok(Ok(earlier.seq));
    }
    Ok(Err(earlier))
}

/// A verified, claimed delivery: its payload, and what it does.
async fn handle(
    api: &Api,
    (name, runbook, hook): (&str, &str, &Webhook),
    (seq, (id, peer)): (u64, (Option<&str>, &str)),
    body: &[u8],
    now: drctl_core::Timestamp,
) -> Result<(StatusCode, Json<HookAnswer>), Problem> {
    let store = api.0.store.clone();
    let settle = |verdict: DeliveryVerdict,
                  run: Option<RunId>,
                  key: Option<String>,
                  detail: Option<String>| {
        let store = store.clone();
        async move {
            store
                .settle_delivery(
                    seq,
                    &Settled {
                        verdict,
                        run,
                        key,
                        detail,
                    },
                )
                .await
                .map_err(store_problem)
        }
    };
    // The sender's input does not fit: recorded `invalid` with why, and 422.
    let invalid = |key: Option<String>, why: String| {
        let settled = settle(DeliveryVerdict::Invalid, None, key, Some(why.clone()));
        async move {
            settled.await?;
            Err::<(StatusCode, Json<HookAnswer>), Problem>(Problem::invalid(why, Vec::new()))
        }
    };
    let payload: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            settle(
                DeliveryVerdict::Invalid,
                None,
                None,
                Some(format!("not JSON: {e}")),
            )
            .await?;
            return Err(Problem::new(
                StatusCode::BAD_REQUEST,
                "bad-request",
                format!("the body is not JSON: {e}"),
            ));
        }
    };
    let answer = |status: &str, run: Option<RunId>| {
        Ok((
            StatusCode::ACCEPTED,
            Json(HookAnswer {
                status: status.to_owned(),
                run,
            }),
        ))
    };
    if let Some(why) = preset_filter(hook.format, &payload) {
        return match why {
            Ok(why) => {
                settle(DeliveryVerdict::Filtered, None, None, Some(why)).await?;
                answer("filtered", None)
            }
            Err(why) => invalid(None, why).await,
        };
    }
    let env = TemplateEnv::new();
    let ctx = Context::new().payload(&payload).build();
    if let Some(filter) = &hook.filter {
        match env.eval(&filter.source, &ctx) {
            Ok(v) if v.is_true() => {}
            Ok(_) => {
                settle(
                    DeliveryVerdict::Filtered,
                    None,
                    None,
                    Some("the filter is false".into()),
                )
                .await?;
                return answer("filtered", None);
            }
            Err(e) => {
                let why = format!(
                    "the filter cannot be evaluated on this payload: {}",
                    e.message
                );
                return invalid(None, why).await;
            }
        }
    }
    let key = match dedup_key(hook, &payload, &env, &ctx) {
        Ok(k) => k,
        Err(why) => return invalid(None, why).await,
    };
    let sender = Sender {
        id,
        peer,
        key: key.as_deref(),
    };
    let dedup = key.as_deref().map(|key| Dedup {
        key,
        window: hook.dedup_window,
        now,
    });
    // The key's run, found before anything is rendered or compiled. The store checks it
    // again in the transaction that would start a run: two servers, or two deliveries
    // at once, never start two runs for one key.
    if let Some(d) = dedup
        && let Some(held) = store.holder(name, d.key).await.map_err(store_problem)?
        && held.holds(d.window, now)
    {
        settle(
            DeliveryVerdict::Attached,
            Some(held.run.clone()),
            key.clone(),
            None,
        )
        .await?;
        return attached(api, name, (seq, sender), held.run).await;
    }
    if let Some(cooldown) = hook.cooldown
        && let Some(ended) = last_end(api, runbook, name).await?
        && now.since(ended) < cooldown
    {
        settle(
            DeliveryVerdict::CooledDown,
            None,
            key,
            Some(format!(
                "a run of this hook ended at {}",
                ended.to_rfc3339()
            )),
        )
        .await?;
        return answer("cooled_down", None);
    }
    let mut params = serde_json::Map::new();
    for (p, t) in &hook.params {
        match render_value(&env, t, &ctx) {
            Ok(v) => {
                params.insert(p.to_string(), v);
            }
            Err(e) => {
                let why = format!(
                    "param `{p}` cannot be rendered from this payload: {}",
                    e.message
                );
                return invalid(key, why).await;
            }
        }
    }
    let Some(dir) = api.0.config.runbooks.clone() else {
        return Err(Problem::not_found(format!("no webhook `{name}`")));
    };
    let (registry, rb) = (api.0.registry.clone(), runbook.to_owned());
    let ready = tokio::task::spawn_blocking(move || {
        crate::ops::start::from_folder(&dir, &rb, &params, &registry)
    })
    .await
    .map_err(|e| Problem::internal(e.to_string()))?;
    let not_ready = || {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not-ready",
            "the runbook cannot start now: the server's records say why",
        )
    };
    let ready = match ready {
        Ok(r) => r,
        // Params the payload made that do not fit: the sender's input.
        Err(StartError::Params(errors)) => {
            let why = format!(
                "the payload's params do not fit the runbook: {}",
                errors.join("; ")
            );
            return invalid(key, why).await;
        }
        // The server's own state: a retry may succeed. The sender learns nothing of
        // the server's files; the record says why.
        Err(e) => {
            settle(DeliveryVerdict::Failed, None, key, Some(e.to_string())).await?;
            return Err(not_ready());
        }
    };
    let proposal = hook.confirm.map(|within| Proposal {
        run: api.0.engine.new_run_id(),
        body: super::propose::pin(&ready, (name, runbook), hook.drill),
        expires: now.plus(within),
    });
    // The run (or its proposal) and the delivery's verdict together: a crash leaves
    // both or neither, and a delivery a retry took over meanwhile starts nothing here.
    let placed = match &proposal {
        Some(p) => store
            .propose_delivery(seq, dedup, p)
            .await
            .map(|placed| (placed, p.run.clone())),
        None => {
            let request = NewRunRequest {
                source: ready.source,
                callees: ready.callees,
                params: ready.params,
                actor: Actor::Engine,
                trigger: Trigger::Webhook(name.to_owned()),
                drill: hook.drill,
                parent: None,
            };
            match api.0.engine.prepare_request(request) {
                Ok((id, row, first)) => store
                    .start_delivery(seq, dedup, (&row, &first))
                    .await
                    .map(|placed| (placed, id)),
                // A runbook (or one it calls) that no longer compiles: the server's state.
                Err(e) => {
                    settle(DeliveryVerdict::Failed, None, key, Some(e.to_string())).await?;
                    return Err(not_ready());
                }
            }
        }
    };
    match placed {
        Ok((Placed::Attached(run), _)) => attached(api, name, (seq, sender), run).await,
        Ok((Placed::New, run)) if proposal.is_some() => answer("proposed", Some(run)),
        Ok((Placed::New, run)) => {
            api.0.supervisor.submitted(&run);
            answer("started", Some(run))
        }
        Err(drctl_store::StoreError::NotFound(_)) => {
            Err(Problem::refused("a retry of this delivery took it over"))
        }
        Err(e) => Err(store_problem(e)),
    }
}

/// Who sent a delivery, and its key: what a run's log records of a delivery that joined
/// it.
#[derive(Debug, Clone, Copy)]
struct Sender<'a> {
    id: Option<&'a str>,
    peer: &'a str,
    key: Option<&'a str>,
}

/// A delivery attached to the run its key holds. While that run goes on, the delivery
/// is recorded in its log too (its driver records it, wherever it runs); a run that has
/// ended, or is only proposed, has it in the deliveries' records alone.
async fn attached(
    api: &Api,
    hook: &str,
    (seq, sender): (u64, Sender<'_>),
    run: RunId,
) -> Result<(StatusCode, Json<HookAnswer>), Problem> {
    let going = api
        .0
        .store
        .run(&run)
        .await
        .map_err(store_problem)?
        .is_some_and(|r| !r.is_finished());
    if going {
        let command = OperatorCommand::Delivery {
            hook: hook.to_owned(),
            delivery: seq,
            id: sender.id.map(|i| shown_within(i, 256)),
            peer: sender.peer.to_owned(),
            // The payload's: shown escaped, so that the log keeps it on one line.
            key: sender.key.map(|k| shown_within(k, 256)),
        };
        // The record is the delivery's row; the event is for whoever reads the run. A
        // run that ended meanwhile goes without it (the answer does not change).
        let _ = api
            .0
            .engine
            .submit(&run, &Actor::Engine, &command, &|_| Ok(()))
            .await;
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(HookAnswer {
            status: "attached".into(),
            run: Some(run),
        }),
    ))
}

/// What a format's preset says of a payload: `None` to go on, `Some(Ok(why))` to filter
/// it out, `Some(Err(why))` when it is not that format at all.
fn preset_filter(format: HookFormat, payload: &Value) -> Option<Result<String, String>> {
    match format {
        HookFormat::Json => None,
        HookFormat::Alertmanager => {
            if payload.get("version").and_then(Value::as_str) != Some("4") {
                return Some(Err("not an Alertmanager payload of version 4".into()));
            }
            match payload.get("status").and_then(Value::as_str) {
                Some("firing") => None,
                Some(other) => Some(Ok(format!("the alert group is {other}"))),
                None => Some(Err("an Alertmanager payload without `status`".into())),
            }
        }
        HookFormat::Pagerduty => {
            let kind = payload.pointer("/event/event_type").and_then(Value::as_str);
            match kind {
                Some("incident.triggered") => None,
                Some(other) => Some(Ok(format!("a PagerDuty `{other}` event"))),
                None => Some(Err(
                    "not a PagerDuty v3 webhook payload (no event.event_type)".into(),
                )),
            }
        }
    }
}

/// The delivery's dedup key: the hook's template, else the format's (`groupKey`, the
/// incident's id).
fn dedup_key(
    hook: &Webhook,
    payload: &Value,
    env: &TemplateEnv,
    ctx: &minijinja::Value,
) -> Result<Option<String>, String> {
    let value = match &hook.dedup_key {
        Some(t) => render_value(env, t, ctx).map_err(|e| {
            format!(
                "`dedup_key` cannot be rendered from this payload: {}",
                e.message
            )
        })?,
        None => match hook.format {
            HookFormat::Json => return Ok(None),
            HookFormat::Alertmanager => payload.get("groupKey").cloned().unwrap_or(Value::Null),
            HookFormat::Pagerduty => payload
                .pointer("/event/data/id")
                .cloned()
                .unwrap_or(Value::Null),
        },
    };
    Ok(match value {
        Value::Null => None,
        Value::String(s) => Some(s),
        other => Some(other.to_string()),
    })
}

/// When the newest finished run this hook started ended.
async fn last_end(
    api: &Api,
    runbook: &str,
    hook: &str,
) -> Result<Option<drctl_core::Timestamp>, Problem> {
    let ours = Trigger::Webhook(hook.to_owned());
    let rows = crate::ops::runs::of_trigger(api.0.store.as_ref(), runbook, &ours)
        .await
        .map_err(store_problem)?;
    Ok(rows.iter().filter_map(|r| r.finished_at).max())
}
