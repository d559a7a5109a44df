//! Runbooks on disk: finding files, reading them, and resolving `call:` targets.
//!
//! The only module of this crate that touches the filesystem; the compiler itself
//! receives sources and a [`CallResolver`].

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use drctl_core::{ActionCatalog, ParamName};
use indexmap::IndexMap;

use crate::compile::{CallResolver, compile};
use crate::model::ParamSpec;
use crate::source::Source;

/// A file or folder that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}: no runbooks (*.yaml, *.yml) found")]
    Empty(String),
}

/// Expands folders into the runbook files below them (sorted, `*.yaml` and `*.yml`);
/// files are kept as given, whatever their extension.
pub fn collect(paths: &[PathBuf]) -> Result<Vec<PathBuf>, FsError> {
    let mut out = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|e| io(path, e))?;
        if meta.is_dir() {
            let before = out.len();
            walk(path, &mut out)?;
            if out.len() == before {
                return Err(FsError::Empty(path.display().to_string()));
            }
        } else {
            out.push(path.clone());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), FsError> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| io(dir, e))?
        .map(|e| e.map(|e| e.path()).map_err(|err| io(dir, err)))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
    Ok(())
}

fn io(path: &Path, source: std::io::Error) -> FsError {
    FsError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Reads a runbook file. Its name in diagnostics is the path as given.
pub fn read_source(path: &Path) -> Result<Source, FsError> {
    let text = std::fs::read_to_string(path).map_err(|e| io(path, e))?;
    Ok(Source::new(path.display().to_string(), text))
}

/// What resolving a callee gives: its params, or why it cannot be called.
type Callee = Result<IndexMap<ParamName, ParamSpec>, String>;

/// Resolves `call: { runbook: ... }` relative to the calling file, compiling the callee
/// (and its own callees) to learn its parameters. A call cycle is an error.
pub struct FsCalls<'a> {
    catalog: &'a dyn ActionCatalog,
    stack: RefCell<Vec<PathBuf>>,
    cache: RefCell<HashMap<PathBuf, Callee>>,
}

impl std::fmt::Debug for FsCalls<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FsCalls")
            .field("stack", &self.stack)
            .finish_non_exhaustive()
    }
}

impl<'a> FsCalls<'a> {
    pub fn new(catalog: &'a dyn ActionCatalog) -> Self {
        Self {
            catalog,
            stack: RefCell::new(Vec::new()),
            cache: RefCell::new(HashMap::new()),
        }
    }

    /// The file a `call:` names, relative to the calling runbook's folder.
    pub fn target_path(caller: &str, target: &str) -> PathBuf {
        let base = Path::new(caller).parent().unwrap_or(Path::new(""));
        normalize(&base.join(target))
    }
}

impl CallResolver for FsCalls<'_> {
    fn resolve(
        &self,
        caller: &str,
        target: &str,
    ) -> Result<IndexMap<ParamName, ParamSpec>, String> {
        let path = Self::target_path(caller, target);
        // The files being compiled right now, outermost first. The outermost runbook is
        // compiled by our caller, not through here, so it starts the chain.
        let chain: Vec<PathBuf> = match self.stack.borrow().as_slice() {
            [] => vec![normalize(Path::new(caller))],
            open => open.to_vec(),
        };
        if chain.contains(&path) {
            let names: Vec<String> = chain
                .iter()
                .chain([&path])
                .map(|p| p.display().to_string())
                .collect();
            return Err(format!("call cycle: {}", names.join(" -> ")));
        }
        if let Some(done) = self.cache.borrow().get(&path) {
            return done.clone();
        }
        let source =
            read_source(&path).map_err(|e| format!("cannot read the called runbook: {e}"))?;
        let mut inner = chain.clone();
        inner.push(path.clone());
        let outer = self.stack.replace(inner);
        let compiled = compile(&source, self.catalog, self);
        self.stack.replace(outer);
        let result = match compiled.runbook {
            Some(rb) => Ok(rb.params),
            None => {
                let errors = compiled
                    .diagnostics
                    .iter()
                    .filter(|d| d.severity == crate::diagnostic::Severity::Error)
                    .count();
                Err(format!(
                    "`{target}` has {errors} error(s); run `drctl validate {}`",
                    path.display()
                ))
            }
        };
        self.cache.borrow_mut().insert(path, result.clone());
        result
    }
}

/// `a/./b/../c` → `a/c`, without touching the filesystem.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir if out.file_name().is_some() => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The sources of every runbook reachable from `runbook` (compiled from `name`) through
/// `call:`, keyed as `FsCalls::target_path` keys them: what a run pins at creation.
pub fn callee_sources(
    runbook: &crate::model::Runbook,
    name: &str,
    catalog: &dyn ActionCatalog,
) -> Result<Vec<(String, Source)>, FsError> {
    let mut out: Vec<(String, Source)> = Vec::new();
    let mut todo = vec![(name.to_owned(), calls_of(runbook))];
    while let Some((caller, targets)) = todo.pop() {
        for target in targets {
            let path = FsCalls::target_path(&caller, &target);
            let key = path.display().to_string();
            if out.iter().any(|(k, _)| *k == key) {
                continue;
            }
            let source = read_source(&path)?;
            let calls = FsCalls::new(catalog);
            if let Some(rb) = compile(&source, catalog, &calls).runbook {
                todo.push((key.clone(), calls_of(&rb)));
            }
            out.push((key, source));
        }
    }
    Ok(out)
}

fn calls_of(runbook: &crate::model::Runbook) -> Vec<String> {
    runbook
        .blocks()
        .iter()
        .flat_map(|b| &b.steps)
        .filter_map(|s| match &s.kind {
            crate::model::StepKind::Call(sub) => Some(sub.runbook.clone()),
            _ => None,
        })
        .collect()
}
