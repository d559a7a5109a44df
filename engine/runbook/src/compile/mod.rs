//! Raw runbook → compiled [`Runbook`], collecting every problem on the way.
//!
//! The passes run in a fixed order because later ones need earlier results:
//! 1. `header`: name, params, secrets, objectives, timeout, lock;
//! 2. `graph`: step ids, `needs`, cycles, layers, upstream sets;
//! 3. `steps`: each step's kind, action call and schema check, templates with their
//!    scope, retry, approval, for_each, verify, compensate;
//! 4. `triggers`: cron, time zones, trigger params; `notify`: subscriptions;
//! 5. `lint`: the warnings.
//!
//! A runbook is returned only when no pass found an error; warnings do not block.

mod calls;
mod graph;
mod groups;
mod header;
mod lint;
mod notify;
mod schema_input;
mod steps;
mod templates;
mod triggers;

use std::collections::HashSet;

use drctl_core::{ActionCatalog, ParamName};
use indexmap::IndexMap;

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::model::{Block, BlockKind, ParamSpec, Runbook, SourceInfo};
use crate::raw;
use crate::source::Source;
use crate::template::TemplateEnv;
use crate::yaml;

pub use calls::{CallResolver, NoCalls};
pub use groups::unknown_groups;
pub(crate) use steps::{credential_name, credential_value, url_password};
pub use triggers::parse_cron;

/// The result of compiling one source.
#[derive(Debug)]
pub struct Compiled {
    /// Present when there were no errors.
    pub runbook: Option<Runbook>,
    /// Errors and warnings, ordered by position.
    pub diagnostics: Vec<Diagnostic>,
}

/// Compiles runbooks against a catalog of actions. Holds the template environment, so
/// reuse one compiler for many files.
pub struct Compiler<'a> {
    catalog: &'a dyn ActionCatalog,
    calls: &'a dyn CallResolver,
    env: TemplateEnv,
}

impl std::fmt::Debug for Compiler<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compiler").finish_non_exhaustive()
    }
}

impl<'a> Compiler<'a> {
    pub fn new(catalog: &'a dyn ActionCatalog, calls: &'a dyn CallResolver) -> Self {
        Self {
            catalog,
            calls,
            env: TemplateEnv::new(),
        }
    }

    /// The template environment, for rendering what this compiler compiled.
    pub fn env(&self) -> &TemplateEnv {
        &self.env
    }

    /// Parses and compiles one source.
    pub fn compile(&self, source: &Source) -> Compiled {
        let mut cx = Cx {
            source,
            catalog: self.catalog,
            calls: self.calls,
            env: &self.env,
            d: Diagnostics::new(),
            params: IndexMap::new(),
            secret_names: Vec::new(),
            used_secrets: HashSet::new(),
            graph: None,
        };
        let runbook = yaml::parse(source, &mut cx.d).and_then(|root| {
            let raw = raw::decode(root, &mut cx.d);
            cx.compile(raw)
        });
        let failed = cx.d.has_errors();
        Compiled {
            runbook: if failed { None } else { runbook },
            diagnostics: cx.d.sorted(),
        }
    }
}

/// Compiles one source with a throwaway [`Compiler`].
pub fn compile(source: &Source, catalog: &dyn ActionCatalog, calls: &dyn CallResolver) -> Compiled {
    Compiler::new(catalog, calls).compile(source)
}

/// State shared by the passes.
pub(crate) struct Cx<'a> {
    pub source: &'a Source,
    pub catalog: &'a dyn ActionCatalog,
    pub calls: &'a dyn CallResolver,
    pub env: &'a TemplateEnv,
    pub d: Diagnostics,
    pub params: IndexMap<ParamName, ParamSpec>,
    pub secret_names: Vec<String>,
    pub used_secrets: HashSet<String>,
    pub graph: Option<graph::Graph>,
}

impl Cx<'_> {
    /// Checks a step, param or secret name, with the corrected spelling as a hint when
    /// there is an obvious one (`promote-db` → `promote_db`).
    pub(crate) fn identifier<T>(
        &mut self,
        raw: &raw::Spanned<String>,
        make: impl FnOnce(String) -> Result<T, drctl_core::IdError>,
    ) -> Option<T> {
        match make(raw.value.clone()) {
            Ok(name) => Some(name),
            Err(e) => {
                let hint =
                    drctl_core::ids::suggest_identifier(&raw.value).map(|x| format!("write `{x}`"));
                self.d
                    .error(
                        crate::diagnostic::Code::InvalidName,
                        raw.span,
                        e.to_string(),
                    )
                    .maybe_hint(hint);
                None
            }
        }
    }

    fn compile(&mut self, raw: raw::RawRunbook) -> Option<Runbook> {
        let header = header::compile(self, &raw);
        let graph = graph::build(
            self,
            [
                (BlockKind::Main, &raw.steps),
                (BlockKind::OnFailure, &raw.on_failure),
                (BlockKind::Finally, &raw.finally),
            ],
        );
        self.graph = Some(graph);
        let main = self.block(BlockKind::Main, raw.steps);
        let on_failure = self.block(BlockKind::OnFailure, raw.on_failure);
        let finally = self.block(BlockKind::Finally, raw.finally);
        let triggers = triggers::compile(self, raw.triggers);
        let readiness = raw.readiness.and_then(|r| triggers::readiness(self, &r));
        let objectives = header.as_ref().map(|h| h.objectives).unwrap_or_default();
        let notify = notify::compile(self, raw.notify, &objectives);
        let header = header?;
        let runbook = Runbook {
            name: header.name,
            description: header.description,
            params: std::mem::take(&mut self.params),
            secrets: header.secrets,
            objectives: header.objectives,
            lock: header.lock,
            timeout: header.timeout,
            triggers,
            readiness,
            notify,
            steps: main,
            on_failure,
            finally,
            source: SourceInfo {
                name: self.source.name.clone(),
                digest: self.source.digest(),
            },
        };
        lint::run(self, &runbook, &header.spans);
        Some(runbook)
    }

    fn block(&mut self, kind: BlockKind, raw: Vec<raw::RawStep>) -> Block {
        let steps = raw
            .into_iter()
            .enumerate()
            .filter_map(|(index, step)| steps::compile(self, kind, index, step))
            .collect();
        let layers = self
            .graph
            .as_ref()
            .map(|g| g.block(kind).layers.clone())
            .unwrap_or_default();
        Block::new(kind, steps, layers)
    }
}
