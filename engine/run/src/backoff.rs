//! How long to wait before the next attempt.

use std::time::Duration;

use drctl_runbook::model::{Backoff, ErrorClass, RetryPolicy};

use crate::event::FailureClass;

/// The delay after failed attempt number `attempt` (1-based): `initial` each time, or
/// doubling from `initial`, never above `max`. No jitter: the delay is recomputed from the
/// event log on replay, so it must be a pure function of the policy and the attempt.
pub fn retry_delay(policy: &RetryPolicy, attempt: u32) -> Duration {
    let delay = match policy.backoff {
        Backoff::Constant => policy.initial,
        Backoff::Exponential => {
            let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(30));
            policy.initial.saturating_mul(factor)
        }
    };
    policy.max.map_or(delay, |max| delay.min(max))
}

/// Whether failed attempt number `attempt` of this class gets another under `policy`.
pub fn retries(policy: &RetryPolicy, attempt: u32, class: FailureClass) -> bool {
    attempt < policy.attempts.get()
        && policy.on.iter().any(|c| {
            matches!(
                (c, class),
                (ErrorClass::Retryable, FailureClass::Retryable)
                    | (ErrorClass::Timeout, FailureClass::Timeout)
                    | (ErrorClass::Permanent, FailureClass::Permanent)
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use drctl_runbook::model::ErrorClass;
    use std::num::NonZeroU32;

    #[test]
    fn exponential_doubles_up_to_the_cap() {
        let p = RetryPolicy {
            attempts: NonZeroU32::new(10).unwrap(),
            backoff: Backoff::Exponential,
            initial: Duration::from_secs(1),
            max: Some(Duration::from_secs(5)),
            on: vec![ErrorClass::Retryable],
        };
        let delays: Vec<u64> = (1..=5).map(|a| retry_delay(&p, a).as_secs()).collect();
        assert_eq!(delays, vec![1, 2, 4, 5, 5]);
        let c = RetryPolicy {
            backoff: Backoff::Constant,
            ..p
        };
        assert_eq!(retry_delay(&c, 7), Duration::from_secs(1));
    }
}
