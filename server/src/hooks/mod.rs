//! Incident webhooks: `POST /hooks/{name}` starts the runbook whose `triggers:` declare
//! the webhook `name`.
//!
//! - [`verify`]: each scheme's signature (or bearer token), over the raw body, in
//!   constant time, against every secret the hook accepts.
//! - [`receive`]: the handler: rate, size, type, signature, replay, format, filter, dedup
//!   (attach to the key's run), cooldown, then the run; every delivery recorded with its
//!   verdict, never its body or signature.
//! - [`propose`]: the runs a hook with `confirm: true` proposes, confirmed or rejected
//!   by a person.
//! - [`Gate`]: per hook, the rate limit of this process. (No lock: the store checks a
//!   delivery's key in the transaction that starts its run, which makes one key start
//!   one run at one server or several; `bench/hooks` answered slower with a per-hook
//!   lock on top.)

pub mod propose;
pub mod receive;
pub mod verify;

use std::collections::HashMap;
use std::sync::Mutex;

use drctl_core::Timestamp;

/// Per-hook state of this process.
#[derive(Debug, Default)]
pub struct Gate {
    /// Tokens left and when they were last counted, per hook.
    buckets: Mutex<HashMap<String, (f64, Timestamp)>>,
}

impl Gate {
    /// Takes one delivery of `rate` a minute for `hook` at `now`: `false` when the hook
    /// is over its rate (a burst of `rate` is allowed, then `rate` a minute).
    pub fn admit(&self, hook: &str, rate: u32, now: Timestamp) -> bool {
        let Ok(mut buckets) = self.buckets.lock() else {
            return false;
        };
        let capacity = f64::from(rate.max(1));
        let (tokens, last) = buckets.entry(hook.to_owned()).or_insert((capacity, now));
        let elapsed = now.since(*last).as_secs_f64();
        *tokens = (*tokens + elapsed * capacity / 60.0).min(capacity);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Takes one record of a refusal before the sender proved itself, at `rate` a
    /// minute for `hook` (a bucket of its own: strangers do not spend the hook's rate).
    pub fn admit_refusal(&self, hook: &str, rate: u32, now: Timestamp) -> bool {
        // A hook name never holds a newline: this key is no hook's.
        self.admit(&format!("{hook}\n(refusals)"), rate, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_allows_a_burst_then_refills() {
        let gate = Gate::default();
        let t0 = Timestamp::from_millis(0);
        assert!((0..3).all(|_| gate.admit("h", 3, t0)));
        assert!(!gate.admit("h", 3, t0));
        // Another hook has its own bucket.
        assert!(gate.admit("other", 3, t0));
        // 3 a minute: one more after 20 s.
        let later = t0.plus(std::time::Duration::from_secs(20));
        assert!(gate.admit("h", 3, later));
        assert!(!gate.admit("h", 3, later));
    }
}
