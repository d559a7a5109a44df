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
    /// Its inputs are written to the run's log as they are (`log`, `assert`, `sleep`):
    /// they may not read secrets, since a secret passed through a filter (`| upper`) would
    /// be stored in a form no scrubbing recognises.
    pub records_inputs: bool,
    /// What a successful call returns, for `drctl actions NAME` (empty: not documented).
    pub outputs: String,
    /// Which failures are retryable and which permanent, for `drctl actions NAME`.
    pub errors: String,
}

impl ActionSpec {
    /// Documents the output.
    #[must_use]
    pub fn with_outputs(mut self, text: &str) -> Self {
        text.clone_into(&mut self.outputs);
        self
    }

    /// Documents the error classes.
    #[must_use]
    pub fn with_errors(mut self, text: &str) -> Self {
        text.clone_into(&mut self.errors);
        self
    }

    /// Marks the inputs as recorded as they are (see `records_inputs`).
    #[must_use]
    pub fn recording_inputs(mut self) -> Self {
        self.records_inputs = true;
        self
    }
}

/// Read access to the actions a build of drctl knows. The compiler only needs this.
pub trait ActionCatalog {
    /// The spec registered under `name`.
    fn spec(&self, name: &str) -> Option<&ActionSpec>;
    /// Every registered name, for "did you mean" hints.
    fn names(&self) -> Vec<&str>;
}

/// Why a call failed. The step's retry policy reads the kind, so the engine never guesses
/// from message text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    /// Transient: connection refused, HTTP 503, a lock held elsewhere. Worth retrying.
    #[error("{0}")]
    Retryable(String),
    /// Will not succeed by trying again: bad input, 404, permission denied.
    #[error("{0}")]
    Permanent(String),
    /// The engine asked the action to stop (cancel, timeout, pause) and it did.
    #[error("cancelled")]
    Cancelled,
}

/// What an action saw when asked, after a crash, whether an interrupted call took effect.
#[derive(Debug, Clone, PartialEq)]
pub enum Observed {
    /// It did; this is the output the step records.
    Done(serde_json::Value),
    /// It did not; a new attempt is safe.
    NotDone,
    /// Cannot tell; an operator decides.
    Unknown(String),
}

/// What a call would do if it ran now, as the action sees the world: the answer to
/// `drctl plan --live`. Building it only reads; it never changes anything.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Preview {
    pub outlook: Outlook,
    /// One line for the plan, e.g. "web/b weight 0 -> 20".
    pub summary: String,
    /// What was read, for `--format json`.
    pub observed: serde_json::Value,
}

impl Preview {
    pub fn new(outlook: Outlook, summary: impl Into<String>, observed: serde_json::Value) -> Self {
        Self {
            outlook,
            summary: summary.into(),
            observed,
        }
    }
}

/// The gist of a [`Preview`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outlook {
    /// The call would change something.
    Change,
    /// The world is already as the call would leave it.
    NoChange,
    /// The action only reads or waits: this is what it sees now.
    Reads,
    /// The call would fail if it ran now (quorum lost, server unknown): the summary says why.
    WouldFail,
}

impl Outlook {
    /// `Change` when something would change, else `NoChange`.
    pub fn of_change(change: bool) -> Outlook {
        if change {
            Outlook::Change
        } else {
            Outlook::NoChange
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Outlook::Change => "would change",
            Outlook::NoChange => "no change",
            Outlook::Reads => "reads",
            Outlook::WouldFail => "would fail",
        }
    }
}

/// Where an action that prints as it goes (`exec`) reports what it printed, while it
/// runs, for people watching (the console's step screen). Not evidence: what counts is
/// the output the attempt returns.
pub trait LiveOutput: Send + Sync {
    /// Everything printed so far, each stream as the action keeps it. Called at most a
    /// few times a second, and only when something was printed.
    fn printed(&self, stdout: &str, stderr: &str);
}

/// What an action gets besides its inputs.
#[derive(Clone)]
pub struct ActionCtx {
    pub run: crate::ids::RunId,
    pub step: crate::ids::StepId,
    /// The item index in a `for_each` step.
    pub item: Option<u32>,
    pub attempt: u32,
    /// Cancelled when the engine wants the action to stop: it should return
    /// `ActionError::Cancelled` promptly, leaving the world in a state a retry can handle.
    pub cancel: tokio_util::sync::CancellationToken,
    /// Where to report output while running, when someone may watch (see [`LiveOutput`]).
    pub live: Option<std::sync::Arc<dyn LiveOutput>>,
}

impl std::fmt::Debug for ActionCtx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActionCtx")
            .field("run", &self.run)
            .field("step", &self.step)
            .field("item", &self.item)
            .field("attempt", &self.attempt)
            .field("live", &self.live.is_some())
            .finish_non_exhaustive()
    }
}

/// A runnable action. Connectors implement it; the engine knows them only through this
/// trait and an [`ActionRegistry`].
#[async_trait::async_trait]
pub trait Action: Send + Sync {
    fn spec(&self) -> &ActionSpec;

    /// Performs the action with rendered, schema-checked inputs; returns its output.
    async fn run(
        &self,
        ctx: &ActionCtx,
        input: serde_json::Value,
    ) -> Result<serde_json::Value, ActionError>;

    /// What a call with these inputs would do now, read from the live system without
    /// changing it. `None`: this action has no live preview (the plan then shows only its
    /// rendered inputs). An error is a failure to read, e.g. a server that cannot be reached.
    async fn plan(
        &self,
        ctx: &ActionCtx,
        input: serde_json::Value,
    ) -> Result<Option<Preview>, ActionError> {
        let _ = (ctx, input);
        Ok(None)
    }

    /// After a crash interrupted a call of a non-idempotent action: did it take effect?
    /// The default cannot tell, so the run pauses for an operator.
    async fn reconcile(
        &self,
        ctx: &ActionCtx,
        input: serde_json::Value,
    ) -> Result<Observed, ActionError> {
        let _ = (ctx, input);
        Ok(Observed::Unknown(format!(
            "`{}` cannot tell whether an interrupted call took effect",
            self.spec().name
        )))
    }
}

/// The actions a build can run, with their specs.
pub trait ActionRegistry: ActionCatalog + Send + Sync {
    fn action(&self, name: &str) -> Option<std::sync::Arc<dyn Action>>;
}

/// The variables of drctl's environment that every `exec` program inherits (with `LC_*`):
/// what a program needs to run, nothing that holds a secret. A secret read from one of
/// them would reach every program, so the compiler refuses that.
pub const INHERITED_ENV: &[&str] = &[
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TERM", "TMPDIR",
];

/// Whether every `exec` program inherits the variable `name` (see [`INHERITED_ENV`]).
pub fn inherited_by_programs(name: &str) -> bool {
    INHERITED_ENV.contains(&name) || name.starts_with("LC_")
}
