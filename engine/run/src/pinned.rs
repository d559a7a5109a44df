//! Compiling a run's pinned sources: the runbook, and every runbook it calls, exactly as
//! they were when the run was created. `call:` targets resolve against the pinned copies,
//! never the filesystem, so editing a file never changes a run in progress.

use std::collections::BTreeMap;
use std::sync::Arc;

use drctl_core::{ActionCatalog, ParamName};
use drctl_runbook::fs::FsCalls;
use drctl_runbook::model::ParamSpec;
use drctl_runbook::{CallResolver, Runbook, Severity, Source, compile};
use indexmap::IndexMap;

use crate::event::{PinnedSource, RunCreated};

/// Resolves `call:` targets among pinned sources.
pub struct PinnedCalls<'a> {
    pub callees: &'a BTreeMap<String, PinnedSource>,
    pub catalog: &'a dyn ActionCatalog,
}

impl std::fmt::Debug for PinnedCalls<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PinnedCalls")
            .field("callees", &self.callees.keys())
            .finish_non_exhaustive()
    }
}

impl PinnedCalls<'_> {
    /// The pinned source a `call:` in `caller` names.
    pub fn source(&self, caller: &str, target: &str) -> Option<&PinnedSource> {
        let key = FsCalls::target_path(caller, target).display().to_string();
        self.callees.get(&key)
    }

    /// Compiles the runbook a `call:` names.
    pub fn compile(&self, caller: &str, target: &str) -> Result<Runbook, String> {
        let pinned = self
            .source(caller, target)
            .ok_or_else(|| format!("`{target}` was not pinned when the run was created"))?;
        compile_source(pinned, self)
    }
}

impl CallResolver for PinnedCalls<'_> {
    fn resolve(
        &self,
        caller: &str,
        target: &str,
    ) -> Result<IndexMap<ParamName, ParamSpec>, String> {
        self.compile(caller, target).map(|rb| rb.params)
    }
}

fn compile_source(pinned: &PinnedSource, calls: &PinnedCalls<'_>) -> Result<Runbook, String> {
    let source = Source::new(pinned.name.clone(), pinned.text.clone());
    let compiled = compile(&source, calls.catalog, calls);
    compiled.runbook.ok_or_else(|| {
        let first = compiled
            .diagnostics
            .iter()
            .find(|d| d.severity == Severity::Error);
        match first {
            Some(d) => format!(
                "{}:{}:{}: {}",
                pinned.name, d.span.line, d.span.col, d.message
            ),
            None => format!("{} does not compile", pinned.name),
        }
    })
}

/// The runbook of a run, from its pinned source.
pub fn compile_pinned(
    created: &RunCreated,
    catalog: &dyn ActionCatalog,
) -> Result<Arc<Runbook>, String> {
    let calls = PinnedCalls {
        callees: &created.callees,
        catalog,
    };
    compile_source(&created.source, &calls).map(Arc::new)
}
