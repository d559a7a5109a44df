//! What an operator can do, for every front end (the CLI, the HTTP API, the console):
//! the same checks and the same path into a run, so that a decision made through one is
//! judged exactly as through another.
//!
//! - [`approvals`]: the gates waiting for a decision, who may decide them, and the
//!   decision as a command.
//! - [`deliver`]: sending a command to a run and saying what became of it.
//! - [`folder`]: the runbooks folder a server starts and fires runs from.
//! - [`runs`]: runs listed and shown the same way everywhere.
//! - [`start`]: what must hold before a run exists.

pub mod approvals;
pub mod deliver;
pub mod folder;
pub mod runs;
pub mod start;
