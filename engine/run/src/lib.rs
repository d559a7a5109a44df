//! The run model: what a run is, as a pure function of its events.
//!
//! - [`event`]: the facts, appended and never changed: the log is the truth and the audit
//!   trail.
//! - [`state`]: `RunState`, derived from the events: run status, the stage (main block,
//!   compensations, `on_failure`, `finally`), each step and each `for_each` item.
//! - `apply`: `RunState::apply(event) -> effects`, the only place state changes.
//! - `decide`: `RunState::decide(now) -> events`, what should happen next (start attempts,
//!   skip steps, pin `for_each` items, end sleeps, start compensations, finish the run).
//! - `recover`: what a restart does with attempts that were in flight (retry, reconcile,
//!   pause), as docs/runbook-language.md (When drctl crashes during a step) says.
//! - [`measure`]: RTO and RPO as the run measured them, recorded in `run_finished`.
//! - [`notice`]: `notify:` subscriptions: which notices to queue, their delivery retries.
//! - `index`: the sets `apply` keeps (ready, active, busy steps, unsettled needs) so that
//!   each event costs the same whatever the run's size.
//! - `context`: the values templates see during a run.
//! - `backoff`: retry delays.
//! - [`pinned`]: compiling a run's pinned sources (the runbook and its callees).
//!
//! Nothing here performs IO or reads a clock: time is in the events (and passed to
//! `decide`), so replaying a log always gives the same state, and every rule of the engine
//! can be tested by feeding events, without a database or a timer.

mod apply;
pub mod approval;
pub mod backoff;
mod context;
mod decide;
pub mod event;
mod index;
pub mod measure;
pub mod notice;
pub mod pinned;
mod recover;
pub mod state;

pub use apply::TransitionError;
pub use context::Scope;
pub use decide::{DecideCtx, SLEEP};
pub use event::{Event, EventKind, Outcome, Phase};
pub use recover::recovery;
pub use state::{Effect, RunState, RunStatus, Stage};
