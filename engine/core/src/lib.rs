//! The shared vocabulary of drctl: the types that the runbook compiler, the engine, the
//! connectors, the API and the console all speak. Nothing here performs IO or reads a clock.
//!
//! # Layout
//!
//! - [`ids`]: typed names (`StepId`, `ParamName`, `SecretName`, `ActionName`, `RunbookName`);
//!   each is validated once when it is made, so the rest of the code never re-checks a string.
//! - [`duration`]: the `30s` / `5m` / `1h30m` duration syntax of runbooks, parsed and printed.
//! - [`schema`]: the parameter schema of an action (types, ranges, enums, required keys) and
//!   its checker, used twice: statically by the compiler on literal values, and at run time
//!   on the rendered values.
//! - [`suggest`]: "did you mean ...?" for mistyped names.
//! - [`json`]: how deeply a value given by a person may nest.
//! - [`scrub`]: secret values masked, in every form they take, from what comes back.
//! - [`time`]: `Timestamp` and the `Clock` trait (with a `ManualClock` for tests).
//! - [`trigger`]: what started a run.
//! - [`rto`]: a run's RTO clock (start, stop, objective), as every view shows it.
//! - [`actor`]: who did something (a person, a policy, the engine) and who may approve a
//!   gate (a person or a group), each stored as the text logs always held.
//! - [`action`]: `ActionSpec`, what an action declares about itself (name, schema,
//!   idempotency, whether it can reconcile after a crash), the `ActionCatalog` through
//!   which the compiler looks actions up, and the async `Action` trait (`run`,
//!   `reconcile`) with its `ActionError` kinds, which connectors implement.
//!
//! Connectors register their specs in a catalog; the compiler only ever sees the catalog
//! trait. That keeps the dependency arrow pointing one way: connectors → core ← compiler.

pub mod action;
pub mod actor;
pub mod duration;
pub mod ids;
pub mod json;
pub mod rto;
pub mod schema;
pub mod scrub;
pub mod time;
pub mod trigger;

pub use action::{
    Action, ActionCatalog, ActionCtx, ActionError, ActionRegistry, ActionSpec, INHERITED_ENV,
    LiveOutput, Observed, Outlook, Preview, Reconcile, inherited_by_programs,
};
pub use actor::{Actor, Approver, NameError};
pub use duration::{DurationError, format_duration, parse_duration};
pub use ids::{ActionName, IdError, ParamName, RunId, RunbookName, SecretName, StepId};
pub use rto::RtoSpan;
pub use schema::{Field, ObjectSchema, SchemaError, SchemaErrorKind, SchemaInput, Shape, Ty};
pub use suggest::did_you_mean;
pub use time::{Clock, ManualClock, Timestamp};
pub use trigger::Trigger;
pub mod suggest;
