//! "Only if it is still at N": the guard that makes a counter-bumping call (a key
//! rotation) safe to repeat and possible to reconcile after a crash. The step says what
//! the counter (a key version, a count of rotations) was before; the world says what it
//! is now.

/// Where a guarded resource stands against the value the step expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guarded {
    /// At the expected value, or no guard given: the call should happen.
    Ready,
    /// Past it: the call already happened (before a crash, or by someone else).
    Done,
    /// Below it: the step expects a state the resource never reached.
    Behind,
}

/// `now` against `expected` (`None`: no guard, always ready).
pub fn against(now: u64, expected: Option<u64>) -> Guarded {
    match expected {
        Some(e) if now > e => Guarded::Done,
        Some(e) if now < e => Guarded::Behind,
        _ => Guarded::Ready,
    }
}
