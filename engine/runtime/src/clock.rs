//! The wall clock of a running engine. The one place in the engine that reads system time.
//!
//! It reads the system time once, then advances with tokio's monotonic `Instant`: so a
//! clock adjustment cannot make a deadline fire twice or never, and tests that pause
//! tokio's time move this clock with it.

use drctl_core::{Clock, Timestamp};

/// See the module doc.
#[derive(Debug, Clone)]
pub struct SystemClock {
    base: Timestamp,
    start: tokio::time::Instant,
}

impl SystemClock {
    pub fn new() -> Self {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Self {
            base: Timestamp::from_millis(ms),
            start: tokio::time::Instant::now(),
        }
    }

    /// A clock that starts at `base`, for tests on paused time.
    pub fn starting_at(base: Timestamp) -> Self {
        Self {
            base,
            start: tokio::time::Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        self.base.plus(self.start.elapsed())
    }
}
