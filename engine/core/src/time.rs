//! Time as the engine sees it: a [`Timestamp`] and a [`Clock`] that gives the current one.
//!
//! Nothing in the pure layers reads the system clock: time comes in as an argument or
//! through a `Clock`, so tests of timeouts, backoffs and leases run on a clock they move by
//! hand ([`ManualClock`]) or on tokio's paused time.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch, UTC. Stored in events and deadlines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const fn from_millis(ms: i64) -> Self {
        Self(ms)
    }

    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// `self + d`, saturating.
    pub fn plus(self, d: Duration) -> Self {
        Self(
            self.0
                .saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        )
    }

    /// How long after `earlier` this is; zero if it is not after.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(u64::try_from(self.0.saturating_sub(earlier.0)).unwrap_or(0))
    }

    /// An RFC 3339 time (`2026-11-22T10:00:00Z`, any offset) or a date (`2026-11-22`,
    /// midnight UTC), as people type them on a command line.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
            return Some(Self(t.timestamp_millis()));
        }
        let day = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
        Some(Self(day.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis()))
    }

    /// RFC 3339 in UTC with milliseconds, e.g. `2026-11-22T10:00:00.000Z`.
    pub fn to_rfc3339(self) -> String {
        chrono::DateTime::from_timestamp_millis(self.0).map_or_else(
            || self.0.to_string(),
            |t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        )
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

/// Where the current time comes from.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

/// A clock that moves only when told to. For tests.
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        Self(Arc::new(AtomicI64::new(start.as_millis())))
    }

    pub fn advance(&self, d: Duration) {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        self.0.fetch_add(ms, Ordering::SeqCst);
    }

    pub fn set(&self, t: Timestamp) {
        self.0.store(t.as_millis(), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_add_and_print() {
        let t = Timestamp::from_millis(1_795_780_800_000);
        assert_eq!(t.to_rfc3339(), "2026-11-27T12:00:00.000Z");
        let later = t.plus(Duration::from_millis(1500));
        assert_eq!(later.since(t), Duration::from_millis(1500));
        assert_eq!(t.since(later), Duration::ZERO);
        let c = ManualClock::new(t);
        c.advance(Duration::from_secs(2));
        assert_eq!(c.now().since(t), Duration::from_secs(2));
    }
}
