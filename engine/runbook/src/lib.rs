//! The drctl runbook language: YAML in, a checked [`model::Runbook`] out, plus the things
//! people do with a runbook before running it (`validate`, `graph`, `plan`).
//!
//! The pipeline, in the spirit of a small compiler:
//!
//! ```text
//! text ──yaml──▶ Node tree ──raw::decode──▶ RawRunbook ──compile──▶ Runbook
//!         (spans)            (unknown fields,     (names, graph, templates,
//!                             YAML types)          schemas, lints)
//! ```
//!
//! Every stage adds to one [`diagnostic::Diagnostics`] list and keeps going, so one run of
//! `validate` reports every problem of a file, each with file:line:col.
//!
//! # Layout
//! - [`source`]: source text, spans, line/column lookup, digest.
//! - [`yaml`]: the spanned YAML tree (serde-saphyr underneath).
//! - [`raw`]: types that mirror the YAML one-to-one; unknown fields rejected.
//! - [`compile`]: raw → model, in passes (header, graph, steps, triggers, lint).
//! - [`model`]: the compiled runbook, the only form the engine accepts.
//! - [`template`]: Jinja templates and expressions (minijinja), rendering, masking.
//! - [`params`]: param values from `-p key=value` or JSON, checked and defaulted.
//! - [`plan`]: a dry run: rendered inputs, layers, decided conditions.
//! - [`diagram`]: dot, Mermaid and text renderings of the DAG.
//! - [`fs`]: reading runbook files and resolving `call:` targets (the only IO here).
//! - [`diagnostic`]: problems with a code, a span and a hint.
//!
//! The compiler never reads a clock, the environment or the network; it sees actions only
//! through [`drctl_core::ActionCatalog`].

pub mod compile;
pub mod diagnostic;
pub mod diagram;
pub mod fs;
pub mod model;
pub mod params;
pub mod plan;
pub mod raw;
pub mod source;
pub mod template;
pub mod yaml;

pub use compile::{CallResolver, Compiled, Compiler, NoCalls, compile};
pub use diagnostic::{Code, Diagnostic, Severity};
pub use model::Runbook;
pub use source::{Source, Span};
