//! Webhook deliveries: every delivery a hook received, accepted or refused, with its
//! peer, its verdict and the run it started or joined (never its body or signature).
//! A delivery id (a sender's own) is claimed once per hook: a second delivery with it is
//! a replay.

use async_trait::async_trait;
use drctl_core::{RunId, Timestamp};
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
}

impl Verdict {
    pub const ALL: [Verdict; 10] = [
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
        hook: &str,
        id: Option<&str>,
        (at, peer): (Timestamp, &str),
    ) -> Result<Result<u64, DeliveryRow>, StoreError>;
    /// Records what became of a claimed delivery.
    async fn settle_delivery(&self, seq: u64, settled: &Settled) -> Result<(), StoreError>;
    /// Creates the run a claimed delivery starts and marks it started with its key, in one
    /// transaction: a crash leaves either both or neither. `NotFound` when the delivery is
    /// no longer pending (a retry took it over meanwhile): then no run is created.
    async fn start_delivery(
        &self,
        seq: u64,
        key: Option<&str>,
        run: (&crate::rows::NewRun, &crate::rows::NewEvent),
    ) -> Result<(), StoreError>;
    /// Takes a delivery over again for a sender's retry: only if it is still `verdict` as
    /// recorded at `at` (pending since a crash, or failed), it becomes pending at `now`.
    /// `false` when another retry took it, or it moved on.
    async fn retake_delivery(
        &self,
        seq: u64,
        (verdict, at): (Verdict, Timestamp),
        now: Timestamp,
    ) -> Result<bool, StoreError>;
    /// The run the newest delivery with this dedup key started.
    async fn keyed_run(&self, hook: &str, key: &str) -> Result<Option<RunId>, StoreError>;
    /// A hook's deliveries, newest first.
    async fn deliveries(&self, hook: &str, limit: u32) -> Result<Vec<DeliveryRow>, StoreError>;
}
