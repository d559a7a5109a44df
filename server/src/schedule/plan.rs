//! What a scheduler does with a schedule now: the firings it owes since it last looked,
//! each decided once. Pure: the caller reads the store, calls [`decide`], and records
//! what it returns (the store refuses a nominal time recorded already).
//!
//! - Nominal times are owed after the later of the schedule's `since` (when a scheduler
//!   first saw it) and the newest recorded one, up to now (each once its jitter passed).
//! - Of those, the ones older than `catchup_window` are missed; of the rest, the latest
//!   fires and the others are missed: downtime never ends in a burst of runs.
//! - The one that fires follows `overlap` while the schedule's previous run goes on:
//!   `skip` records it skipped; `buffer_one` lets it wait (one at most, any further one is
//!   skipped); `allow` starts it.
//! - A paused schedule records its firings as missed, with the pause's reason.

use std::time::Duration;

use drctl_core::{RunId, Timestamp, format_duration};
use drctl_runbook::model::{Overlap, Schedule};
use drctl_store::{FiringOutcome, Pause};

use super::cadence::{Cadence, jitter_of};

/// At most this many firings are recorded in one look; older owed ones are counted in
/// the oldest one's reason.
pub const KEEP: usize = 100;

/// What the scheduler knows of one schedule.
#[derive(Debug, Clone, Copy)]
pub struct Situation<'a> {
    pub runbook: &'a str,
    pub schedule: &'a Schedule,
    /// When a scheduler first saw the schedule.
    pub since: Timestamp,
    /// The newest nominal time recorded.
    pub last: Option<Timestamp>,
    pub now: Timestamp,
    pub paused: Option<&'a Pause>,
    /// An unfinished run this schedule started.
    pub running: Option<&'a RunId>,
    /// Whether a firing already waits (`buffer_one`).
    pub buffered: bool,
}

/// One nominal time, decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub nominal: Timestamp,
    pub outcome: FiringOutcome,
    pub reason: Option<String>,
}

/// The firings owed now, oldest first.
pub fn decide(cadence: &Cadence, s: &Situation<'_>) -> Vec<Decision> {
    let after = s.last.map_or(s.since, |l| l.max(s.since));
    let (owed, dropped) = cadence.between(after, s.now, KEEP);
    let trigger = s.schedule.name.as_str();
    // A nominal time whose jitter has not passed waits, and so does every later one.
    let ready: Vec<Timestamp> = owed
        .into_iter()
        .take_while(|t| t.plus(jitter_of(s.runbook, trigger, *t, s.schedule.jitter)) <= s.now)
        .collect();
    let window = s.schedule.catchup_window;
    let mut out: Vec<Decision> = Vec::with_capacity(ready.len());
    for (i, &nominal) in ready.iter().enumerate() {
        let latest = i + 1 == ready.len();
        let decision = if let Some(p) = s.paused {
            missed(
                nominal,
                format!("the schedule is paused by {}: {}", p.by, p.reason),
            )
        } else if s.now.since(nominal) > window {
            missed(
                nominal,
                format!(
                    "older than the catch-up window ({}) when the scheduler saw it",
                    format_duration(window)
                ),
            )
        } else if !latest {
            missed(nominal, "a later firing ran instead".to_owned())
        } else {
            overlap(s, nominal)
        };
        out.push(decision);
    }
    if dropped > 0
        && let Some(first) = out.first_mut()
    {
        let why = first.reason.get_or_insert_with(String::new);
        why.push_str(&format!("; {dropped} earlier firings were missed too"));
    }
    out
}

fn missed(nominal: Timestamp, why: String) -> Decision {
    Decision {
        nominal,
        outcome: FiringOutcome::Missed,
        reason: Some(why),
    }
}

fn overlap(s: &Situation<'_>, nominal: Timestamp) -> Decision {
    let start = Decision {
        nominal,
        outcome: FiringOutcome::Started,
        reason: None,
    };
    let Some(running) = s.running else {
        return start;
    };
    match s.schedule.overlap {
        Overlap::Allow => start,
        Overlap::Skip => Decision {
            nominal,
            outcome: FiringOutcome::Skipped,
            reason: Some(format!("run {running} of this schedule was still going")),
        },
        Overlap::BufferOne if s.buffered => Decision {
            nominal,
            outcome: FiringOutcome::Skipped,
            reason: Some(format!(
                "run {running} was still going and a firing already waited for it"
            )),
        },
        Overlap::BufferOne => Decision {
            nominal,
            outcome: FiringOutcome::Buffered,
            reason: Some(format!("waits for run {running} to end")),
        },
    }
}

/// How long after `t` a schedule's obligations look back: its period around `t`, or a
/// day for a pattern croner cannot step through.
pub fn period(cadence: &Cadence, t: Timestamp) -> Duration {
    cadence.period_at(t).unwrap_or(Duration::from_secs(86_400))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::{TimeZone as _, Utc};
    use drctl_core::Actor;
    use drctl_runbook::model::{DEFAULT_CATCHUP, DEFAULT_GRACE};

    use super::*;

    fn schedule(cron: &str, overlap: Overlap, catchup: Duration) -> Schedule {
        Schedule {
            name: "monthly".into(),
            cron: cron.into(),
            timezone: chrono_tz::UTC,
            params: Default::default(),
            drill: true,
            overlap,
            catchup_window: catchup,
            jitter: None,
            grace: DEFAULT_GRACE,
            span: drctl_runbook::Span::default(),
        }
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32) -> Timestamp {
        Timestamp::from_millis(
            Utc.with_ymd_and_hms(y, mo, d, h, 0, 0)
                .unwrap()
                .timestamp_millis(),
        )
    }

    fn situation<'a>(s: &'a Schedule, last: Timestamp, now: Timestamp) -> Situation<'a> {
        Situation {
            runbook: "dr-drill",
            schedule: s,
            since: utc(2026, 1, 1, 0),
            last: Some(last),
            now,
            paused: None,
            running: None,
            buffered: false,
        }
    }

    fn outcomes(d: &[Decision]) -> Vec<(Timestamp, FiringOutcome)> {
        d.iter().map(|d| (d.nominal, d.outcome)).collect()
    }

    #[test]
    fn nothing_is_owed_before_the_next_nominal_time() {
        let s = schedule("0 3 1 * *", Overlap::Skip, DEFAULT_CATCHUP);
        let c = Cadence::of(&s).unwrap();
        assert!(
            decide(
                &c,
                &situation(&s, utc(2026, 11, 1, 3), utc(2026, 11, 30, 23))
            )
            .is_empty()
        );
        let d = decide(&c, &situation(&s, utc(2026, 11, 1, 3), utc(2026, 12, 1, 3)));
        assert_eq!(
            outcomes(&d),
            [(utc(2026, 12, 1, 3), FiringOutcome::Started)]
        );
        // A schedule first seen today owes nothing from before today.
        let fresh = Situation {
            last: None,
            since: utc(2026, 12, 2, 0),
            ..situation(&s, utc(2026, 1, 1, 0), utc(2026, 12, 2, 1))
        };
        assert!(decide(&c, &fresh).is_empty());
    }

    #[test]
    fn three_days_down_runs_the_missed_drill_once_within_the_window() {
        let week = Duration::from_secs(7 * 86_400);
        let s = schedule("0 3 1 * *", Overlap::Skip, week);
        let c = Cadence::of(&s).unwrap();
        // Down from Nov 30 to Dec 3: the Dec 1 drill is owed, 2 days late, and runs.
        let d = decide(&c, &situation(&s, utc(2026, 11, 1, 3), utc(2026, 12, 3, 9)));
        assert_eq!(
            outcomes(&d),
            [(utc(2026, 12, 1, 3), FiringOutcome::Started)]
        );
        // With the default window (24 h) the same downtime misses it, and says why.
        let s = schedule("0 3 1 * *", Overlap::Skip, DEFAULT_CATCHUP);
        let d = decide(&c, &situation(&s, utc(2026, 11, 1, 3), utc(2026, 12, 3, 9)));
        assert_eq!(outcomes(&d), [(utc(2026, 12, 1, 3), FiringOutcome::Missed)]);
        assert!(
            d[0].reason
                .as_deref()
                .unwrap()
                .contains("catch-up window (1d)"),
            "{d:?}"
        );
    }

    #[test]
    fn forty_days_down_runs_one_catch_up_and_records_the_rest_missed() {
        let s = schedule("0 3 1 * *", Overlap::Skip, Duration::from_secs(45 * 86_400));
        let c = Cadence::of(&s).unwrap();
        // Last fired Oct 1; down until Dec 10: Nov 1 and Dec 1 are owed.
        let d = decide(
            &c,
            &situation(&s, utc(2026, 10, 1, 3), utc(2026, 12, 10, 9)),
        );
        assert_eq!(
            outcomes(&d),
            [
                (utc(2026, 11, 1, 3), FiringOutcome::Missed),
                (utc(2026, 12, 1, 3), FiringOutcome::Started)
            ]
        );
        assert_eq!(d[0].reason.as_deref(), Some("a later firing ran instead"));
        // A minute-by-minute schedule after 40 days: one run, the rest missed, bounded.
        let s = schedule("* * * * *", Overlap::Skip, DEFAULT_CATCHUP);
        let c = Cadence::of(&s).unwrap();
        let d = decide(
            &c,
            &situation(&s, utc(2026, 10, 1, 3), utc(2026, 11, 10, 3)),
        );
        assert_eq!(d.len(), KEEP);
        assert_eq!(
            d.iter()
                .filter(|d| d.outcome == FiringOutcome::Started)
                .count(),
            1
        );
        assert_eq!(d.last().unwrap().outcome, FiringOutcome::Started);
        assert!(
            d[0].reason
                .as_deref()
                .unwrap()
                .contains("57500 earlier firings were missed too"),
            "{:?}",
            d[0]
        );
    }

    #[test]
    fn each_overlap_policy() {
        let run: RunId = "run_01JD3N2Y9V6X4W8Q5R7T0ZKM2B".parse().unwrap();
        let (last, now) = (utc(2026, 11, 1, 3), utc(2026, 12, 1, 3));
        let policy = |overlap, buffered| {
            let s = schedule("0 3 1 * *", overlap, DEFAULT_CATCHUP);
            let c = Cadence::of(&s).unwrap();
            let d = decide(
                &c,
                &Situation {
                    running: Some(&run),
                    buffered,
                    ..situation(&s, last, now)
                },
            );
            (d[0].outcome, d[0].reason.clone())
        };
        let (skip, why) = policy(Overlap::Skip, false);
        assert_eq!(skip, FiringOutcome::Skipped);
        assert!(why.unwrap().contains("still going"));
        assert_eq!(policy(Overlap::BufferOne, false).0, FiringOutcome::Buffered);
        assert_eq!(policy(Overlap::BufferOne, true).0, FiringOutcome::Skipped);
        assert_eq!(
            policy(Overlap::Allow, false),
            (FiringOutcome::Started, None)
        );
        // Nothing running: every policy starts it.
        for overlap in [Overlap::Skip, Overlap::BufferOne, Overlap::Allow] {
            let s = schedule("0 3 1 * *", overlap, DEFAULT_CATCHUP);
            let d = decide(&Cadence::of(&s).unwrap(), &situation(&s, last, now));
            assert_eq!(d[0].outcome, FiringOutcome::Started);
        }
    }

    #[test]
    fn a_paused_schedule_misses_with_the_pause_reason_and_jitter_delays() {
        let s = schedule("0 3 1 * *", Overlap::Skip, DEFAULT_CATCHUP);
        let c = Cadence::of(&s).unwrap();
        let pause = Pause {
            by: Actor::from_stored("alice"),
            at: utc(2026, 11, 20, 0),
            reason: "DC move".into(),
        };
        let d = decide(
            &c,
            &Situation {
                paused: Some(&pause),
                ..situation(&s, utc(2026, 11, 1, 3), utc(2026, 12, 1, 4))
            },
        );
        assert_eq!(d[0].outcome, FiringOutcome::Missed);
        assert_eq!(
            d[0].reason.as_deref(),
            Some("the schedule is paused by alice: DC move")
        );
        let jittered = Schedule {
            jitter: Some(Duration::from_secs(3600)),
            ..s.clone()
        };
        let nominal = utc(2026, 12, 1, 3);
        let delay = jitter_of("dr-drill", "monthly", nominal, jittered.jitter);
        let before = nominal.plus(delay).plus(Duration::ZERO);
        let early = decide(
            &c,
            &situation(
                &jittered,
                utc(2026, 11, 1, 3),
                Timestamp::from_millis(before.as_millis() - 1),
            ),
        );
        assert!(early.is_empty(), "{early:?}");
        assert_eq!(
            decide(&c, &situation(&jittered, utc(2026, 11, 1, 3), before)).len(),
            1
        );
    }
}
