//! Proposed runs: a delivery of a hook with `confirm: true` does not start its run, it
//! proposes it. The proposal pins what the run would be (the runbook's text and every
//! runbook it calls, as they were when the alert came, and the params rendered from the
//! payload) under a run id given to the sender at once. A person then confirms it, and
//! the run is created with that id, that text and those params, by them; or rejects it,
//! and nothing runs. A proposal nobody settled within the hook's `confirm_within` expires.
//!
//! The CLI (`drctl hooks`) and the API (`/api/v1/proposals`) share these functions.

use std::collections::BTreeMap;

use drctl_connectors::Registry;
use drctl_core::{Actor, RunId, Timestamp, Trigger};
use drctl_engine::{Engine, EngineError, NewRunRequest};
use drctl_run::event::{Confirmed, PinnedSource};
use drctl_run::pinned::PinnedCalls;
use drctl_runbook::source::Source;
use drctl_store::{DeliveryRow, DeliveryVerdict, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::ops::start::Ready;

/// What a proposal keeps: enough to create its run later exactly as proposed.
#[derive(Debug, Serialize, Deserialize)]
struct Pinned {
    hook: String,
    runbook: String,
    /// The runbook file's name and text.
    source: (String, String),
    /// Each called runbook: its key (as `call:` reaches it), file name and text.
    callees: Vec<(String, String, String)>,
    params: Map<String, Value>,
    drill: bool,
}

/// The proposal's stored body for the run `ready` would start.
pub fn pin(ready: &Ready, (hook, runbook): (&str, &str), drill: bool) -> String {
    let pinned = Pinned {
        hook: hook.to_owned(),
        runbook: runbook.to_owned(),
        source: (ready.source.name.clone(), ready.source.text.clone()),
        callees: ready
            .callees
            .iter()
            .map(|(key, s)| (key.clone(), s.name.clone(), s.text.clone()))
            .collect(),
        params: ready.params.clone(),
        drill,
    };
    // A map of JSON values and strings always serializes.
    serde_json::to_string(&pinned).unwrap_or_default()
}

/// A proposal, as `drctl hooks proposals` and the API show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProposalView {
    /// The run it would start (and will have, once confirmed).
    #[schema(value_type = String)]
    pub run: RunId,
    pub hook: String,
    pub runbook: String,
    /// The delivery that proposed it.
    pub delivery: u64,
    pub peer: String,
    /// When it was proposed and until when it can be confirmed (RFC 3339).
    pub at: String,
    pub expires: String,
    pub key: Option<String>,
    /// The params the run would start with.
    #[schema(value_type = Object)]
    pub params: Map<String, Value>,
    pub drill: bool,
    /// `proposed` while it waits; then `started`, `rejected` or `expired`.
    pub status: String,
    /// Who confirmed or rejected it.
    #[schema(value_type = Option<String>)]
    pub by: Option<Actor>,
    /// Who confirmed or rejected it, and why.
    pub detail: Option<String>,
}

impl ProposalView {
    /// The proposal of `row` as it stands at `now` (one past its deadline is `expired`,
    /// whether or not a server swept it yet).
    fn of(row: &DeliveryRow, body: &str, now: Timestamp) -> Result<Self, ProposeError> {
        let row = row.clone().as_of(now);
        let pinned = read(body)?;
        Ok(Self {
            run: row
                .run
                .clone()
                .ok_or_else(|| corrupt("a proposal without a run"))?,
            hook: row.hook.clone(),
            runbook: pinned.runbook,
            delivery: row.seq,
            peer: row.peer.clone(),
            at: row.at.to_rfc3339(),
            expires: row.expires.map(Timestamp::to_rfc3339).unwrap_or_default(),
            key: row.key.clone(),
            params: pinned.params,
            drill: pinned.drill,
            status: row.verdict.as_str().to_owned(),
            by: row.by,
            detail: row.detail,
        })
    }
}

/// What went wrong with a proposal.
#[derive(Debug, thiserror::Error)]
pub enum ProposeError {
    #[error("no proposed run `{0}`")]
    NotFound(RunId),
    /// It no longer waits (settled, expired), or the reason cannot be recorded.
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

fn corrupt(what: &str) -> ProposeError {
    ProposeError::Store(StoreError::Corrupt(what.to_owned()))
}

fn read(body: &str) -> Result<Pinned, ProposeError> {
    serde_json::from_str(body).map_err(|e| corrupt(&format!("a proposal that does not read: {e}")))
}

/// Every proposal still waiting at `now`, oldest first.
pub async fn list(
    store: &dyn drctl_store::Store,
    now: Timestamp,
) -> Result<Vec<ProposalView>, ProposeError> {
    store
        .proposals(now)
        .await?
        .iter()
        .map(|(row, body)| ProposalView::of(row, body, now))
        .collect()
}

/// One proposal, whatever became of it.
pub async fn get(
    store: &dyn drctl_store::Store,
    run: &RunId,
    now: Timestamp,
) -> Result<ProposalView, ProposeError> {
    let (row, body) = store
        .proposal(run)
        .await?
        .ok_or_else(|| ProposeError::NotFound(run.clone()))?;
    ProposalView::of(&row, &body, now)
}

/// Every secret the proposed runbook (and those it calls) declares must be readable
/// here before the proposal is used up: a confirmed run that cannot start helps nobody.
fn check_secrets(pinned: &Pinned, registry: &Registry) -> Result<(), String> {
    let pin = |(name, text): (&str, &str)| {
        let source = Source::new(name, text);
        PinnedSource {
            name: name.to_owned(),
            digest: source.digest(),
            text: text.to_owned(),
        }
    };
    let callees: BTreeMap<String, PinnedSource> = pinned
        .callees
        .iter()
        .map(|(key, name, text)| (key.clone(), pin((name, text))))
        .collect();
    let calls = PinnedCalls {
        callees: &callees,
        catalog: registry,
    };
    let source = Source::new(pinned.source.0.clone(), pinned.source.1.clone());
    let runbook = drctl_runbook::compile(&source, registry, &calls)
        .runbook
        .ok_or_else(|| format!("{}: the proposed text does not compile here", source.name))?;
    let sources: Vec<(String, Source)> = pinned
        .callees
        .iter()
        .map(|(key, name, text)| (key.clone(), Source::new(name.clone(), text.clone())))
        .collect();
    crate::ops::start::check_secrets(&source.name, &runbook, &sources, registry)
}

/// Confirm (the run is created, by `actor`) or reject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Confirm,
    Reject,
}

/// Settles the proposal of `run` as `actor` decided, with `reason` (one line, recorded
/// with who). Confirmed, the run exists when this returns (its driver still has to take
/// it); the view says what became of the proposal.
pub async fn decide(
    (engine, registry): (&Engine, &Registry),
    run: &RunId,
    (decision, actor, reason): (Decision, &Actor, &str),
    now: Timestamp,
) -> Result<ProposalView, ProposeError> {
    drctl_engine::command::check_reason("the reason", reason).map_err(ProposeError::Invalid)?;
    let store = engine.store().as_ref();
    let (row, body) = store
        .proposal(run)
        .await?
        .ok_or_else(|| ProposeError::NotFound(run.clone()))?;
    let row = row.as_of(now);
    if row.verdict != DeliveryVerdict::Proposed {
        // Settled, or past its deadline: a late attempt is no decision.
        if row.verdict == DeliveryVerdict::Expired {
            store.expire_proposals(now).await?;
        }
        return Err(no_longer(run, row.verdict.as_str(), row.detail.as_deref()));
    }
    let pinned = read(&body)?;
    if decision == Decision::Confirm {
        check_secrets(&pinned, registry).map_err(|why| {
            ProposeError::Refused(format!(
                "the proposed run could not start here: {why}; the proposal still waits"
            ))
        })?;
    }
    let verb = match decision {
        Decision::Confirm => "confirmed",
        Decision::Reject => "rejected",
    };
    let detail = format!("{verb} by {actor}: {reason}");
    let prepared = match decision {
        Decision::Reject => None,
        Decision::Confirm => {
            let confirmed = Confirmed {
                hook: pinned.hook.clone(),
                delivery: row.seq,
                proposed_at: row.at,
                reason: reason.to_owned(),
            };
            let req = NewRunRequest {
                source: Source::new(pinned.source.0, pinned.source.1),
                callees: pinned
                    .callees
                    .into_iter()
                    .map(|(key, name, text)| (key, Source::new(name, text)))
                    .collect(),
                params: pinned.params,
                actor: actor.clone(),
                trigger: Trigger::Webhook(pinned.hook),
                drill: pinned.drill,
                parent: None,
            };
            Some(engine.prepare_proposed(run.clone(), req, confirmed)?)
        }
    };
    let settled = store
        .settle_proposal(
            run,
            (now, actor, &detail),
            prepared.as_ref().map(|(_, row, first)| (row, first)),
        )
        .await?;
    let after = get(store, run, now).await?;
    match settled {
        Some(DeliveryVerdict::Expired) => Err(ProposeError::Refused(format!(
            "the proposal of run {run} expired at {}: nothing was started",
            after.expires
        ))),
        Some(_) => Ok(after),
        // Another person settled it first.
        None => Err(no_longer(run, &after.status, after.detail.as_deref())),
    }
}

fn no_longer(run: &RunId, status: &str, detail: Option<&str>) -> ProposeError {
    ProposeError::Refused(format!(
        "run {run} is no longer proposed: it was {status}{}",
        detail.map_or_else(String::new, |d| format!(" ({d})"))
    ))
}
