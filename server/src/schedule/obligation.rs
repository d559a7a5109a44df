//! A scheduled drill as an obligation: did the drill succeed within its period?
//!
//! In order, the first that holds:
//! - `waived`: a waiver runs until a later time (who, why, until when);
//! - `failed`: the newest finished drill of the runbook failed;
//! - `overdue`: no drill succeeded within the period plus `grace` (the period is the
//!   time between the schedule's nominal times now: a month for a monthly drill);
//! - `stale`: the last successful drill ran another text of the runbook than the one in
//!   the folder now, so it proved an older procedure;
//! - `due`: no drill succeeded within the period, and the grace has not run out;
//! - `ok`.
//!
//! Every drill of the runbook counts (a manual `drctl run --drill` too), not only the
//! schedule's own runs. Before a first success, the period counts from when a scheduler
//! first saw the schedule.

use drctl_core::{RunId, Timestamp, format_duration};
use drctl_runbook::model::Schedule;
use drctl_store::Waiver;
use serde::Serialize;

use super::cadence::Cadence;
use super::plan::period;

/// A drill obligation's status.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Obligation {
    Ok,
    Due,
    Overdue,
    Failed,
    Waived,
    Stale,
}

impl Obligation {
    pub const ALL: [Obligation; 6] = [
        Obligation::Ok,
        Obligation::Due,
        Obligation::Overdue,
        Obligation::Failed,
        Obligation::Waived,
        Obligation::Stale,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Obligation::Ok => "ok",
            Obligation::Due => "due",
            Obligation::Overdue => "overdue",
            Obligation::Failed => "failed",
            Obligation::Waived => "waived",
            Obligation::Stale => "stale",
        }
    }
}

/// A finished drill of the runbook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drill {
    pub run: RunId,
    pub finished: Timestamp,
    pub succeeded: bool,
    /// The digest of the text it ran.
    pub digest: String,
}

/// What the obligation's status rests on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    pub status: Obligation,
    /// Why, for people.
    pub why: String,
    pub last_success: Option<Drill>,
}

/// The obligation of `schedule` at `now`, from the runbook's finished drills (newest
/// first) and the digest of its text now.
pub fn standing(
    (schedule, cadence): (&Schedule, &Cadence),
    since: Timestamp,
    now: Timestamp,
    drills: &[Drill],
    (digest, waiver): (&str, Option<&Waiver>),
) -> Standing {
    let last_success = drills.iter().find(|d| d.succeeded).cloned();
    let at = |status, why: String| Standing {
        status,
        why,
        last_success: last_success.clone(),
    };
    if let Some(w) = waiver.filter(|w| w.until > now) {
        return at(
            Obligation::Waived,
            format!(
                "waived by {} until {}: {}",
                w.by,
                w.until.to_rfc3339(),
                w.reason
            ),
        );
    }
    if let Some(last) = drills.first().filter(|d| !d.succeeded) {
        return at(
            Obligation::Failed,
            format!("the last drill, run {}, failed", last.run),
        );
    }
    let period = period(cadence, now);
    let from = last_success.as_ref().map_or(since, |d| d.finished);
    let age = now.since(from);
    let last = last_success.as_ref().map_or_else(
        || "no drill has succeeded yet".to_owned(),
        // Whole seconds: a person reads "1m20s", not "1m20s73ms".
        |_| {
            let whole = std::time::Duration::from_secs(age.as_secs());
            format!(
                "the last successful drill ended {} ago",
                format_duration(whole)
            )
        },
    );
    if age > period + schedule.grace {
        return at(
            Obligation::Overdue,
            format!(
                "{last}: more than its period ({}) and grace ({})",
                format_duration(period),
                format_duration(schedule.grace)
            ),
        );
    }
    if let Some(d) = last_success.as_ref().filter(|d| d.digest != digest) {
        return at(
            Obligation::Stale,
            format!(
                "run {} proved another text of the runbook than the one in the folder now",
                d.run
            ),
        );
    }
    if last_success.is_none() || age > period {
        return at(
            Obligation::Due,
            format!("{last}; the period is {}", format_duration(period)),
        );
    }
    at(Obligation::Ok, last)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Duration;

    use chrono::{TimeZone as _, Utc};
    use drctl_runbook::model::{DEFAULT_CATCHUP, Overlap};

    use super::*;

    fn utc(y: i32, mo: u32, d: u32) -> Timestamp {
        Timestamp::from_millis(
            Utc.with_ymd_and_hms(y, mo, d, 12, 0, 0)
                .unwrap()
                .timestamp_millis(),
        )
    }

    fn drill(n: u128, finished: Timestamp, succeeded: bool, digest: &str) -> Drill {
        Drill {
            run: RunId::from_parts(finished, n),
            finished,
            succeeded,
            digest: digest.into(),
        }
    }

    #[test]
    fn each_status() {
        let s = Schedule {
            name: String::new(),
            cron: "0 3 1 * *".into(),
            timezone: chrono_tz::UTC,
            params: Default::default(),
            drill: true,
            overlap: Overlap::Skip,
            catchup_window: DEFAULT_CATCHUP,
            jitter: None,
            grace: Duration::from_secs(3 * 86_400),
            span: drctl_runbook::Span::default(),
        };
        let c = Cadence::of(&s).unwrap();
        let since = utc(2026, 1, 1);
        let status = |now, drills: &[Drill], waiver: Option<&Waiver>| {
            standing((&s, &c), since, now, drills, ("sha256:new", waiver)).status
        };
        let ok = [drill(1, utc(2026, 11, 1), true, "sha256:new")];
        assert_eq!(status(utc(2026, 11, 20), &ok, None), Obligation::Ok);
        // The Dec 1 drill has not succeeded yet: due, then overdue after the grace.
        assert_eq!(status(utc(2026, 12, 3), &ok, None), Obligation::Due);
        assert_eq!(status(utc(2026, 12, 6), &ok, None), Obligation::Overdue);
        let failed = [
            drill(2, utc(2026, 12, 1), false, "sha256:new"),
            ok[0].clone(),
        ];
        assert_eq!(status(utc(2026, 12, 2), &failed, None), Obligation::Failed);
        let stale = [drill(1, utc(2026, 11, 1), true, "sha256:old")];
        assert_eq!(status(utc(2026, 11, 20), &stale, None), Obligation::Stale);
        let waiver = Waiver {
            until: utc(2026, 12, 31),
            reason: "freeze".into(),
            by: drctl_core::Actor::from_stored("carol"),
            at: utc(2026, 12, 5),
        };
        assert_eq!(
            status(utc(2026, 12, 6), &ok, Some(&waiver)),
            Obligation::Waived
        );
        // An expired waiver no longer counts.
        assert_eq!(
            status(utc(2027, 1, 6), &ok, Some(&waiver)),
            Obligation::Overdue
        );
        // Never drilled: due within the first period, then overdue.
        assert_eq!(status(utc(2026, 1, 20), &[], None), Obligation::Due);
        assert_eq!(status(utc(2026, 3, 20), &[], None), Obligation::Overdue);
    }
}
