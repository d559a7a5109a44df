//! What an action declares about itself, and the catalog the compiler looks actions up in.
//!
//! An [`ActionSpec`] is pure data: the compiler checks `with:` against its schema, the linter
//! reads its idempotency, and crash recovery (a later layer) reads whether it can
//! reconcile. The runnable implementation of an action lives in `drctl-connectors` and is
//! registered under the same name.

use crate::ids::ActionName;
use crate::schema::ObjectSchema;

/// Whether an action can tell, after a crash, if an interrupted call took effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reconcile {
    /// It can look at the world and answer done / not done / unknown.
    Supported,
    /// It cannot; an interrupted non-idempotent call pauses the run for an operator.
    Unsupported,
    /// Only when the step supplies a check (`exec` with a `reconcile` command).
    WithCheck,
}

/// The static description of an action.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionSpec {
    pub name: ActionName,
    /// One line for `drctl actions` and the plan.
    pub summary: String,
    /// Calling it twice has the same effect as calling it once: safe to retry after a crash.
    pub idempotent: bool,
    pub reconcile: Reconcile,
    /// What `with:` accepts.
    pub params: ObjectSchema,
}

/// Read access to the actions a build of drctl knows. The compiler only needs this.
pub trait ActionCatalog {
    /// The spec registered under `name`.
    fn spec(&self, name: &str) -> Option<&ActionSpec>;
    /// Every registered name, for "did you mean" hints.
    fn names(&self) -> Vec<&str>;
}
