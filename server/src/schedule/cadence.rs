//! When a schedule fires: its cron in its IANA time zone, as instants.
//!
//! Daylight-saving days follow croner's rules for a fixed-time pattern (`30 2 * * *`): a
//! local time that does not exist on the spring-forward day fires once, at the first
//! instant after the gap (03:00 local); a local time that occurs twice on the fall-back
//! day fires once, at the first of the two. An interval pattern (`*/15 * * * *`) fires
//! at every real instant it names, through both of those hours.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use drctl_core::Timestamp;
use drctl_runbook::model::Schedule;

/// How many nominal times one search walks at most: a minute-by-minute schedule after
/// 40 days of downtime is 57,600 of them.
const MAX_WALK: usize = 200_000;

/// A schedule's cron and time zone.
#[derive(Debug, Clone)]
pub struct Cadence {
    cron: croner::Cron,
    tz: Tz,
}

impl Cadence {
    /// The cadence of a compiled schedule (its cron was checked when it compiled).
    pub fn of(s: &Schedule) -> Result<Self, String> {
        Ok(Self {
            cron: drctl_runbook::compile::parse_cron(&s.cron)?,
            tz: s.timezone,
        })
    }

    fn local(&self, t: Timestamp) -> Option<DateTime<Tz>> {
        DateTime::<Utc>::from_timestamp_millis(t.as_millis()).map(|u| u.with_timezone(&self.tz))
    }

    /// The first nominal time strictly after `t`.
    pub fn next_after(&self, t: Timestamp) -> Option<Timestamp> {
        let from = self.local(t)?;
        let next = self.cron.find_next_occurrence(&from, false).ok()?;
        Some(Timestamp::from_millis(next.timestamp_millis()))
    }

    /// The last nominal time at or before `t`.
    pub fn last_at_or_before(&self, t: Timestamp) -> Option<Timestamp> {
        let from = self.local(t)?;
        let prev = self.cron.find_previous_occurrence(&from, true).ok()?;
        Some(Timestamp::from_millis(prev.timestamp_millis()))
    }

    /// The nominal times in `(after, upto]`, oldest first, and how many older ones were
    /// left out to keep at most `keep`.
    pub fn between(
        &self,
        after: Timestamp,
        upto: Timestamp,
        keep: usize,
    ) -> (Vec<Timestamp>, usize) {
        let mut out = std::collections::VecDeque::new();
        let mut dropped = 0;
        let mut cursor = after;
        for _ in 0..MAX_WALK {
            match self.next_after(cursor) {
                Some(t) if t <= upto => {
                    out.push_back(t);
                    if out.len() > keep {
                        out.pop_front();
                        dropped += 1;
                    }
                    cursor = t;
                }
                _ => break,
            }
        }
        (out.into(), dropped)
    }

    /// The time between the nominal times around `t`: a drill's period.
    pub fn period_at(&self, t: Timestamp) -> Option<std::time::Duration> {
        let prev = self.last_at_or_before(t)?;
        let next = self.next_after(prev)?;
        Some(next.since(prev))
    }

    /// `t` as a local time of the schedule's zone, for people (`2026-03-29 03:00 CEST`).
    pub fn show_local(&self, t: Timestamp) -> String {
        self.local(t).map_or_else(
            || t.to_rfc3339(),
            |l| l.format("%Y-%m-%d %H:%M %Z").to_string(),
        )
    }

    pub fn timezone(&self) -> Tz {
        self.tz
    }
}

/// A firing's jitter: a delay in `[0, jitter)` fixed by the runbook, the trigger and the
/// nominal time, so every node (and every restart) waits the same.
pub fn jitter_of(
    runbook: &str,
    trigger: &str,
    nominal: Timestamp,
    jitter: Option<std::time::Duration>,
) -> std::time::Duration {
    use sha2::{Digest as _, Sha256};
    let Some(span) = jitter.filter(|j| !j.is_zero()) else {
        return std::time::Duration::ZERO;
    };
    let digest = Sha256::digest(format!("{runbook}\n{trigger}\n{}", nominal.as_millis()));
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    let span_ms = u64::try_from(span.as_millis()).unwrap_or(u64::MAX).max(1);
    std::time::Duration::from_millis(u64::from_le_bytes(bytes) % span_ms)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use chrono::TimeZone as _;

    fn cadence(cron: &str, tz: &str) -> Cadence {
        Cadence {
            cron: drctl_runbook::compile::parse_cron(cron).unwrap(),
            tz: tz.parse().unwrap(),
        }
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> Timestamp {
        Timestamp::from_millis(
            Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
                .unwrap()
                .timestamp_millis(),
        )
    }

    #[test]
    fn berlin_fires_once_on_each_dst_day() {
        let c = cadence("30 2 * * *", "Europe/Berlin");
        // 2026-03-29: 02:00 CET jumps to 03:00 CEST, so 02:30 does not exist. It fires
        // once, at 03:00 CEST = 01:00 UTC.
        let (spring, _) = c.between(utc(2026, 3, 28, 12, 0), utc(2026, 3, 29, 12, 0), 10);
        assert_eq!(spring, [utc(2026, 3, 29, 1, 0)]);
        assert_eq!(c.show_local(spring[0]), "2026-03-29 03:00 CEST");
        // 2026-10-25: 03:00 CEST falls back to 02:00 CET, so 02:30 occurs twice. It fires
        // once, at the first: 02:30 CEST = 00:30 UTC.
        let (fall, _) = c.between(utc(2026, 10, 24, 12, 0), utc(2026, 10, 25, 12, 0), 10);
        assert_eq!(fall, [utc(2026, 10, 25, 0, 30)]);
        // And on the days around them, every day once at 02:30 local.
        let (week, _) = c.between(utc(2026, 10, 21, 12, 0), utc(2026, 10, 28, 12, 0), 10);
        assert_eq!(week.len(), 7);
    }

    #[test]
    fn between_keeps_the_latest_and_counts_the_rest() {
        let c = cadence("0 3 1 * *", "UTC");
        let (kept, dropped) = c.between(utc(2026, 1, 1, 12, 0), utc(2026, 12, 2, 0, 0), 3);
        assert_eq!(
            kept,
            [
                utc(2026, 10, 1, 3, 0),
                utc(2026, 11, 1, 3, 0),
                utc(2026, 12, 1, 3, 0)
            ]
        );
        assert_eq!(dropped, 8);
        assert_eq!(
            c.period_at(utc(2026, 12, 2, 0, 0)),
            Some(std::time::Duration::from_secs(31 * 86_400))
        );
        assert_eq!(
            c.next_after(utc(2026, 12, 1, 3, 0)),
            Some(utc(2027, 1, 1, 3, 0))
        );
    }

    #[test]
    fn jitter_is_fixed_per_nominal_time_and_within_its_span() {
        let span = Some(std::time::Duration::from_secs(300));
        let t = utc(2026, 12, 1, 3, 0);
        let a = jitter_of("dr-drill", "monthly", t, span);
        assert_eq!(a, jitter_of("dr-drill", "monthly", t, span));
        assert!(a < std::time::Duration::from_secs(300));
        let others: std::collections::HashSet<_> = (0..20)
            .map(|d| {
                jitter_of(
                    "dr-drill",
                    "monthly",
                    t.plus(std::time::Duration::from_secs(86_400 * d)),
                    span,
                )
            })
            .collect();
        assert!(others.len() > 10, "spread: {others:?}");
        assert_eq!(
            jitter_of("dr-drill", "monthly", t, None),
            std::time::Duration::ZERO
        );
    }
}
