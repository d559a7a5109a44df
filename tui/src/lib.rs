//! drctl's terminal operator console (ratatui): run list, live DAG with step states,
//! step logs, approvals, cancel and retry, against `drctl serve` or a local database.
//!
//! Not started: the console needs the engine and its API, which come first. The crate
//! exists so that the workspace has its final shape and dependency rules from the start:
//! it will talk to the engine only through the HTTP API's data types, never to a store.
