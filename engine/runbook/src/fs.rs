//! Runbooks on disk: finding files, reading them, and resolving `call:` targets.
//!
//! The only module of this crate that touches the filesystem; the compiler itself
//! receives sources and a [`CallResolver`].

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use drctl_core::{ActionCatalog, ParamName};
use indexmap::IndexMap;

use crate::compile::{CallResolver, compile};
use crate::model::ParamSpec;
use crate::source::Source;

/// The largest runbook file read: a runbook of thousands of steps is a few hundred KiB.
pub const MAX_RUNBOOK_BYTES: u64 = 4 * 1024 * 1024;

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
    #[error("{0}: not a regular file (a FIFO, device or socket is never read as a runbook)")]
    NotAFile(String),
    #[error("{path}: {size} bytes, over the {MAX_RUNBOOK_BYTES} bytes a runbook may have")]
    TooLarge { path: String, size: u64 },
}

/// Expands folders into the runbook files below them (sorted, `*.yaml` and `*.yml`);
/// files are kept as given, whatever their extension. Symbolic links are followed, each
/// folder is walked once (a link back to a parent is a loop, not more runbooks), and only
/// regular files are taken.
pub fn collect(paths: &[PathBuf]) -> Result<Vec<PathBuf>, FsError> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|e| io(path, e))?;
        if meta.is_dir() {
            let before = out.len();
            walk(path, &mut out, &mut seen)?;
            if out.len() == before {
                return Err(FsError::Empty(path.display().to_string()));
            }
        } else if meta.is_file() {
            out.push(path.clone());
        } else {
            return Err(FsError::NotAFile(path.display().to_string()));
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>, seen: &mut HashSet<PathBuf>) -> Result<(), FsError> {
    let canonical = std::fs::canonicalize(dir).map_err(|e| io(dir, e))?;
    // A folder walked already, or one that holds a folder being walked (a link to `..`
    // leads out of what was asked for, and back into it).
    if seen.iter().any(|s| s.starts_with(&canonical)) {
        return Ok(());
    }
    seen.insert(canonical);
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| io(dir, e))?
        .map(|e| e.map(|e| e.path()).map_err(|err| io(dir, err)))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for path in entries {
        // A dangling link is not a runbook; anything else that cannot be read is an error.
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        let runbook = path.extension().is_some_and(|e| e == "yaml" || e == "yml");
        if meta.is_dir() {
            walk(&path, out, seen)?;
        } else if runbook {
            // A FIFO or device named like a runbook is listed: reading it says what it is
            // (never blocking), and the other files are still checked.
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

/// Reads a runbook file: a regular file of at most [`MAX_RUNBOOK_BYTES`]. Its name in
/// diagnostics is the path as given.
pub fn read_source(path: &Path) -> Result<Source, FsError> {
    use std::io::Read;
    let name = || path.display().to_string();
    // Checked before opening: opening a FIFO waits for a writer, for ever.
    if !std::fs::metadata(path).map_err(|e| io(path, e))?.is_file() {
        return Err(FsError::NotAFile(name()));
    }
    let file = std::fs::File::open(path).map_err(|e| io(path, e))?;
    let meta = file.metadata().map_err(|e| io(path, e))?;
    if !meta.is_file() {
        return Err(FsError::NotAFile(name()));
    }
    if meta.len() > MAX_RUNBOOK_BYTES {
        return Err(FsError::TooLarge {
            path: name(),
            size: meta.len(),
        });
    }
    // Read at most one byte more than the cap: the file may grow while it is read.
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(MAX_RUNBOOK_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io(path, e))?;
    if bytes.len() as u64 > MAX_RUNBOOK_BYTES {
        return Err(FsError::TooLarge {
            path: name(),
            size: bytes.len() as u64,
        });
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        io(
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidData, e.utf8_error()),
        )
    })?;
    Ok(Source::new(name(), text))
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
