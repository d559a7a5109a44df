//! Webhook deliveries: every delivery a hook received, accepted or refused, with its
//! peer, its verdict and the run it started or joined (never its body or signature).
//! A delivery id (a sender's own) is claimed once per hook: a second delivery with it is
//! a replay.

use async_trait::async_trait;
use drctl_core::{Actor, RunId, Timestamp};
use serde::Serialize;

use crate::error::StoreError;

/// What became of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Claimed, being handled.
    Pending,
    Started,
    Attached,
    Filtered,
    CooledDown,
    Unauthorized,
    Replayed,
    RateLimited,
    Invalid,
    /// Verified, but the run could not start (its runbook does not compile now, a
    /// secret is unreadable).
    Failed,
    /// Its run waits for a person to confirm it (a hook with `confirm: true`).
    Proposed,
    /// Its proposed run was rejected.
    Rejected,
    /// Its proposed run was neither confirmed nor rejected in time.
    Expired,
}

impl Verdict {
    pub const ALL: [Verdict; 13] = [
        Verdict::Pending,
        Verdict::Started,
        Verdict::Attached,
        Verdict::Filtered,
        Verdict::CooledDown,
        Verdict::Unauthorized,
        Verdict::Replayed,
        Verdict::RateLimited,
        Verdict::Invalid,
        Verdict::Failed,
        Verdict::Proposed,
        Verdict::Rejected,
        Verdict::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pending => "pending",
            Verdict::Started => "started",
            Verdict::Attached => "attached",
            Verdict::Filtered => "filtered",
            Verdict::CooledDown => "cooled_down",
            Verdict::Unauthorized => "unauthorized",
            Verdict::Replayed => "replayed",
            Verdict::RateLimited => "rate_limited",
            Verdict::Invalid => "invalid",
            Verdict::Failed => "failed",
            Verdict::Proposed => "proposed",
            Verdict::Rejected => "rejected",
            Verdict::Expired => "expired",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == text)
    }
}

/// A delivery as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryRow {
    /// Its place among all deliveries.
    pub seq: u64,
    pub hook: String,
    /// The runbook that declared the hook when the delivery came.
    pub runbook: String,
    /// The sender's delivery id, when its scheme has one.
    pub id: Option<String>,
    pub at: Timestamp,
    pub peer: String,
    pub verdict: Verdict,
    pub run: Option<RunId>,
    /// Its dedup key, rendered.
    pub key: Option<String>,
    /// Why, for people (never the body, never a signature).
    pub detail: Option<String>,
    /// A proposed run's deadline: confirmed by then, or expired.
    pub expires: Option<Timestamp>,
    /// Who confirmed or rejected the run it proposed.
    pub by: Option<Actor>,
}

/// What a proposal that expired says.
pub const EXPIRED: &str = "nobody confirmed it in time";

impl DeliveryRow {
    /// The delivery as it stands at `now`: a proposal past its deadline reads `expired`
    /// (no decision), whether or not a server has marked it so yet.
    #[must_use]
    pub fn as_of(mut self, now: Timestamp) -> Self {
        if self.verdict == Verdict::Proposed && self.expires.is_none_or(|e| now >= e) {
            self.verdict = Verdict::Expired;
            self.detail = Some(EXPIRED.to_owned());
        }
        self
    }
}

/// The newest delivery of a dedup key that started or proposed a run, with that run's
/// end: what decides whether a new delivery of the key joins it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub run: RunId,
    pub verdict: Verdict,
    pub expires: Option<Timestamp>,
    /// When its run ended (`None` while it goes on, or while it is proposed).
    pub finished: Option<Timestamp>,
}

impl Holder {
    /// Whether the key is still held at `now`: a proposal until it expires, a run while
    /// it goes on and for `window` after it ended.
    pub fn holds(&self, window: std::time::Duration, now: Timestamp) -> bool {
        match self.verdict {
            Verdict::Proposed => self.expires.is_some_and(|e| now < e),
            Verdict::Started => self.finished.is_none_or(|end| now.since(end) < window),
            _ => false,
        }
    }
}

/// A delivery's dedup key and how long a key's run holds it after it ended.
#[derive(Debug, Clone, Copy)]
pub struct Dedup<'a> {
    pub key: &'a str,
    pub window: std::time::Duration,
    pub now: Timestamp,
}

/// What [`Deliveries::start_delivery`] or [`Deliveries::propose_delivery`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placed {
    /// The delivery started (or proposed) its run.
    New,
    /// Another delivery of its key holds a run (checked in the same transaction): the
    /// delivery is recorded attached to it, and nothing else is written.
    Attached(RunId),
}

/// A run a delivery proposes: its id, what the server needs to create it when a person
/// confirms (opaque to the store), and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    pub run: RunId,
    pub body: String,
    pub expires: Timestamp,
}

/// A delivery's outcome, to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    pub verdict: Verdict,
    pub run: Option<RunId>,
    pub key: Option<String>,
    pub detail: Option<String>,
}

/// The deliveries' part of the store.
#[async_trait]
pub trait Deliveries: Send + Sync {
    /// Records a delivery as pending. With a sender's `id` already seen for this hook,
    /// nothing is written and the earlier delivery is returned (`Err`).
    async fn claim_delivery(
        &self,
        (hook, runbook): (&str, &str),
        id: Option<&str>,
        (at, peer): (Timestamp, &str),
    ) -> Result<Result<u64, DeliveryRow>, StoreError>;
    /// Records what became of a claimed delivery.
    async fn settle_delivery(&self, seq: u64, settled: &Settled) -> Result<(), StoreError>;
    /// Creates the run a claimed delivery starts and marks it started with its key, in one
    /// transaction: a crash leaves either both or neither. With a key that a run (or a
    /// proposal) still holds ([`Holder::holds`]), the delivery is attached to it instead,
    /// in the same transaction, so two servers never start two runs for one key.
    /// `NotFound` when the delivery is no longer pending (a retry took it over
    /// meanwhile): then nothing is written.
    async fn start_delivery(
        &self,
        seq: u64,
        dedup: Option<Dedup<'_>>,
        run: (&crate::rows::NewRun, &crate::rows::NewEvent),
    ) -> Result<Placed, StoreError>;
    /// As [`Deliveries::start_delivery`], but the run is only proposed: the delivery
    /// keeps the proposal until a person confirms or rejects it, or it expires.
    async fn propose_delivery(
        &self,
        seq: u64,
        dedup: Option<Dedup<'_>>,
        proposal: &Proposal,
    ) -> Result<Placed, StoreError>;
    /// The proposal of run `run`, with its delivery (whatever became of it since).
    async fn proposal(&self, run: &RunId) -> Result<Option<(DeliveryRow, String)>, StoreError>;
    /// Every proposal still waiting at `now`, oldest first, each with its body.
    async fn proposals(&self, now: Timestamp) -> Result<Vec<(DeliveryRow, String)>, StoreError>;
    /// Settles a waiting proposal as `by` decided (`detail` says why): confirmed with
    /// `run` (created in the same transaction, verdict `started`), or rejected (`run` is
    /// `None`, verdict `rejected`). One past its deadline becomes `expired` instead, with
    /// neither `by` nor `detail` (a refused attempt is no decision), and nothing is
    /// created. Returns the verdict it settled as, or `None` when it no longer waited
    /// (another person settled it first).
    async fn settle_proposal(
        &self,
        proposed: &RunId,
        (now, by, detail): (Timestamp, &Actor, &str),
        run: Option<(&crate::rows::NewRun, &crate::rows::NewEvent)>,
    ) -> Result<Option<Verdict>, StoreError>;
    /// Marks every proposal past its deadline at `now` expired; how many.
    async fn expire_proposals(&self, now: Timestamp) -> Result<u64, StoreError>;
    /// Takes a delivery over again for a sender's retry: only if it is still `verdict` as
    /// recorded at `at` (pending since a crash, or failed), it becomes pending at `now`.
    /// `false` when another retry took it, or it moved on.
    async fn retake_delivery(
        &self,
        seq: u64,
        (verdict, at): (Verdict, Timestamp),
        now: Timestamp,
    ) -> Result<bool, StoreError>;
    /// The newest delivery with this dedup key that started or proposed a run.
    async fn holder(&self, hook: &str, key: &str) -> Result<Option<Holder>, StoreError>;
    /// Every delivery of every hook received in `[since, until)`, oldest first (the
    /// audit export).
    async fn deliveries_between(
        &self,
        since: Option<Timestamp>,
        until: Option<Timestamp>,
    ) -> Result<Vec<DeliveryRow>, StoreError>;
    /// A hook's deliveries, newest first.
    async fn deliveries(&self, hook: &str, limit: u32) -> Result<Vec<DeliveryRow>, StoreError>;
}
