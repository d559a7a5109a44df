//! `drctl serve`: the long-running host of runs.
//!
//! - [`supervisor`]: finds every run that needs a driver (submitted and not yet claimed,
//!   or left by a driver that died) and drives it, within a limit on runs driven at once;
//!   hands every run back undecided when the host stops.
//! - [`api`]: the HTTP API (`/api/v1`), its tokens, roles and problem JSON.
//! - [`client`]: the API's client, for `drctl --server` and the console.
//! - [`config`]: the `[serve]` section of `drctl.toml`.
//! - [`tls`]: the API over TLS (rustls).
//! - [`metrics`]: what `/metrics` exports, and the engine observer that counts it.
//! - [`views`]: runs, steps and gates as the API answers and every front end renders.
//! - [`signer`]: signs the ledger's heads with the server's key, for audits that hold
//!   against whoever can write the database.
//! - [`ops`]: what an operator can do (decide a gate, send a command to a run), shared by
//!   the CLI, the API and the console.
//!
//! The supervisor keeps no state that lives only in this process: which runs need a
//! driver is read from the store on every scan, and a run is driven only under its lease,
//! so a second host on the same database, or a restart, finds the same work and never
//! drives a run twice.

pub mod api;
pub mod client;
pub mod config;
pub mod hooks;
pub mod metrics;
pub mod ops;
pub mod schedule;
pub mod signer;
pub mod supervisor;
pub mod tls;
pub mod views;

pub use config::ServeConfig;
pub use supervisor::{Activity, Handle, Supervisor};
