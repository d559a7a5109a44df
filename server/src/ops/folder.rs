//! The runbooks folder of a server (`[serve] runbooks`): every `*.yaml` / `*.yml` file,
//! compiled when asked, so that what the API lists, what it starts and what the scheduler
//! fires are the folder as it is now.

use std::path::{Path, PathBuf};

use drctl_connectors::Registry;
use drctl_runbook::fs::{FsCalls, read_source};
use drctl_runbook::{Runbook, Severity, Source, compile};

/// Why the folder does not give a runbook.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FolderError {
    #[error("cannot read the runbooks folder {0}")]
    Unreadable(String),
    #[error("no runbook named `{0}` in the server's runbooks folder")]
    NotFound(String),
    /// Never one picked by file name.
    #[error("more than one file in the runbooks folder is runbook `{name}`: {}", files.join(", "))]
    Ambiguous { name: String, files: Vec<String> },
    #[error("runbook `{name}` does not compile")]
    Invalid {
        name: String,
        /// Each as `file:line:col: message`.
        errors: Vec<String>,
    },
}

/// One file of the runbooks folder.
#[derive(Debug, Clone)]
pub struct Entry {
    pub source: Source,
    pub runbook: Option<Runbook>,
    /// Its errors, each as `file:line:col: message`.
    pub errors: Vec<String>,
}

impl Entry {
    /// The name the file gives itself: its runbook's, or its `runbook:` line's.
    pub fn name(&self) -> Option<String> {
        self.runbook
            .as_ref()
            .map(|rb| rb.name.to_string())
            .or_else(|| {
                self.source.text.lines().find_map(|l| {
                    let v = l.strip_prefix("runbook:")?.trim().trim_matches(['"', '\'']);
                    (!v.is_empty()).then(|| v.to_owned())
                })
            })
    }
}

/// Whether `path` (symlinks followed) is in the folder `dir` or below it.
pub fn inside(dir: &Path, path: &Path) -> bool {
    match (std::fs::canonicalize(dir), std::fs::canonicalize(path)) {
        (Ok(dir), Ok(path)) => path.starts_with(dir),
        _ => false,
    }
}

/// What the folder's files are now: each one's path, device, inode, length, and
/// modification and change times. The change time cannot be set back by a user, so an
/// edit that keeps a file's length and restores its modification time is still seen.
/// Every file below the folder counts: a runbook it calls may have any name.
type Stamp = Vec<(PathBuf, [i64; 7])>;

/// How deep and how many files a stamp looks at; a folder beyond them is compiled at
/// every request, as if it always changed.
const STAMP_DEPTH: usize = 8;
const STAMP_FILES: usize = 10_000;

fn stamp(dir: &Path) -> Result<Stamp, FolderError> {
    use std::os::unix::fs::MetadataExt as _;
    let big = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let mut out = Vec::new();
    let mut todo = vec![(dir.to_path_buf(), 0)];
    while let Some((d, depth)) = todo.pop() {
        let Ok(read) = std::fs::read_dir(&d) else {
            if depth == 0 {
                return Err(FolderError::Unreadable(format!(
                    "{}: cannot be read",
                    dir.display()
                )));
            }
            continue;
        };
        for e in read.filter_map(Result::ok) {
            let path = e.path();
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                if depth >= STAMP_DEPTH {
                    return Ok(Vec::new());
                }
                todo.push((path, depth + 1));
            } else if meta.is_file() {
                let at = [
                    big(meta.dev()),
                    big(meta.ino()),
                    big(meta.len()),
                    meta.mtime(),
                    meta.mtime_nsec(),
                    meta.ctime(),
                    meta.ctime_nsec(),
                ];
                out.push((path, at));
                if out.len() > STAMP_FILES {
                    return Ok(Vec::new());
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The last compile of each folder, kept while its stamp holds: a server compiles its
/// folder when it changes, not at each request (a webhook delivery, a scheduler tick).
static COMPILED: std::sync::Mutex<Vec<(PathBuf, Stamp, Vec<Entry>)>> =
    std::sync::Mutex::new(Vec::new());

/// Every `*.yaml` and `*.yml` file of the folder, compiled, in file-name order; compiled
/// again only when a runbook file of the folder (or below it) changed.
pub fn scan(dir: &Path, registry: &Registry) -> Result<Vec<Entry>, FolderError> {
    let now = stamp(dir)?;
    if !now.is_empty()
        && let Ok(cache) = COMPILED.lock()
        && let Some((_, _, entries)) = cache.iter().find(|(d, s, _)| d == dir && *s == now)
    {
        return Ok(entries.clone());
    }
    let entries = compile_folder(dir, registry)?;
    if !now.is_empty()
        && let Ok(mut cache) = COMPILED.lock()
    {
        cache.retain(|(d, _, _)| d != dir);
        cache.push((dir.to_path_buf(), now, entries.clone()));
    }
    Ok(entries)
}

/// [`scan`], off the async threads (reading and compiling files blocks).
pub async fn scan_async(dir: &Path, registry: &Registry) -> Result<Vec<Entry>, FolderError> {
    let (dir, registry) = (dir.to_owned(), registry.clone());
    tokio::task::spawn_blocking(move || scan(&dir, &registry))
        .await
        .map_err(|e| FolderError::Unreadable(e.to_string()))?
}

fn compiled(source: Source, registry: &Registry) -> Entry {
    let compiled = compile(&source, registry, &FsCalls::new(registry));
    let errors = compiled
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| {
            format!(
                "{}:{}:{}: {}",
                source.name, d.span.line, d.span.col, d.message
            )
        })
        .collect();
    Entry {
        runbook: compiled.runbook,
        errors,
        source,
    }
}

fn compile_folder(dir: &Path, registry: &Registry) -> Result<Vec<Entry>, FolderError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| FolderError::Unreadable(format!("{}: {e}", dir.display())))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
        .collect();
    paths.sort();
    Ok(paths
        .iter()
        .map(|path| match read_source(path) {
            Ok(source) => compiled(source, registry),
            // A file that cannot be read (not UTF-8, too large) is shown, not dropped:
            // its schedules and hooks would otherwise vanish unseen.
            Err(e) => Entry {
                source: Source::new(path.display().to_string(), ""),
                runbook: None,
                errors: vec![format!("{}: cannot be read: {e}", path.display())],
            },
        })
        .collect())
}

/// The runbook named `name` in `dir`, compiled; 404 when no file is, 422 when it does
/// not compile (each error with its `file:line:col`), 409 when two files say they are it
/// (never one picked by file name).
pub fn find(dir: &Path, name: &str, registry: &Registry) -> Result<(Source, Runbook), FolderError> {
    let mut found: Vec<Entry> = scan(dir, registry)?
        .into_iter()
        .filter(|e| e.name().as_deref() == Some(name))
        .collect();
    if found.len() > 1 {
        return Err(FolderError::Ambiguous {
            name: name.to_owned(),
            files: found.iter().map(|e| e.source.name.clone()).collect(),
        });
    }
    let Some(entry) = found.pop() else {
        return Err(FolderError::NotFound(name.to_owned()));
    };
    match entry.runbook {
        Some(rb) => Ok((entry.source, rb)),
        None => Err(FolderError::Invalid {
            name: name.to_owned(),
            errors: entry.errors,
        }),
    }
}
