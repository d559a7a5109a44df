//! drctl's terminal operator console (ratatui): the runs, a run's DAG live with its RTO
//! clock, a step's attempts and output, the gates waiting across runs and the schedules,
//! with decisions and steering behind confirmations; against `drctl serve` or a local
//! database, the same screens either way.
//!
//! - [`source`]: the data and the actions: [`source::Local`] (the library functions the
//!   CLI uses) and [`source::Remote`] (the API and its server-sent events).
//! - [`runmodel`]: a run replayed from its events: layers, progress, RTO, attempts.
//! - [`state`]: the one state the screens render.
//! - [`keys`]: the key map and what each key does to the state.
//! - [`view`]: rendering, a module per screen.
//! - [`theme`]: symbols and colours (`NO_COLOR`, `--ascii`).
//! - [`app`]: the loop: messages in, state changed, frames drawn.

pub mod app;
pub mod keys;
pub mod runmodel;
pub mod source;
pub mod state;
pub mod theme;
pub mod view;

pub use app::{Options, run};
