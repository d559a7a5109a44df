//! Starting a run: what must hold before a run exists, whoever asks (the CLI, the API).
//! A problem found here leaves nothing behind: no run, no event.

use std::path::Path;

use drctl_connectors::Registry;
use drctl_engine::EnvAndFiles;
use drctl_engine::secrets::read_all;
use drctl_runbook::Source;
use drctl_runbook::compile;
use drctl_runbook::fs::FsCalls;
use drctl_runbook::model::Runbook;
use drctl_runbook::source::Span;

/// A step that calls an action this build cannot run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unimplemented {
    pub step: String,
    pub action: String,
    pub span: Span,
}

impl Unimplemented {
    /// `file:line:col: error: ...`, as every runbook problem is reported.
    pub fn message(&self, file: &str) -> String {
        format!(
            "{file}:{}:{}: error: step `{}` calls `{}`, which this build of drctl cannot run{}",
            self.span.line,
            self.span.col,
            self.step,
            self.action,
            if self.action.starts_with("aws.") {
                " (it was built without the `aws` feature)"
            } else {
                ""
            }
        )
    }
}

/// The calls this build cannot make (AWS in a build without the `aws` feature): refused
/// before a run exists, not discovered when the step starts.
pub fn unimplemented(runbook: &Runbook, registry: &Registry) -> Vec<Unimplemented> {
    runbook
        .action_calls()
        .filter(|(_, call)| !registry.is_implemented(call.action.as_str()))
        .map(|(step, call)| Unimplemented {
            step: step.id.to_string(),
            action: call.action.to_string(),
            span: call.span,
        })
        .collect()
}

/// Every secret this runbook and the ones it calls declare must be readable and long
/// enough to mask before a run exists (each driver reads its own again when it starts).
/// The error names the file and why, never a value.
pub fn check_secrets(
    name: &str,
    runbook: &Runbook,
    callees: &[(String, Source)],
    registry: &Registry,
) -> Result<(), String> {
    read_all(&EnvAndFiles, &runbook.secrets).map_err(|why| format!("{name}: error: {why}"))?;
    for (path, callee) in callees {
        let compiled = compile(callee, registry, &FsCalls::new(registry)).runbook;
        if let Some(Err(why)) = compiled.map(|rb| read_all(&EnvAndFiles, &rb.secrets)) {
            return Err(format!(
                "{path}: error: {why} (a runbook that {name} calls)"
            ));
        }
    }
    Ok(())
}

/// Why a runbook of the folder cannot start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Folder(#[from] super::folder::FolderError),
    #[error("the runbook calls actions this build cannot run")]
    Unimplemented(Vec<String>),
    #[error("the params do not fit the runbook")]
    Params(Vec<String>),
    #[error("{0}")]
    Calls(String),
    /// What a server runs is what its trusted folder holds: not a file a symlink or a
    /// `call:` reaches outside it, which anyone who can write there would decide.
    #[error("runbook `{name}` reaches files outside the server's runbooks folder: {}", files.join(", "))]
    Outside { name: String, files: Vec<String> },
    #[error("{0}")]
    Secrets(String),
}

/// A run a server may start, as its folder holds it.
#[derive(Debug)]
pub struct Ready {
    pub source: Source,
    pub runbook: Runbook,
    pub callees: Vec<(String, Source)>,
    /// Checked against the runbook's params, defaults applied.
    pub params: serde_json::Map<String, serde_json::Value>,
}

/// The runbook `name` of the folder `dir`, ready to start with `params`: it compiles,
/// this build runs its actions, the params fit, every file it reaches is in the folder
/// and its secrets are readable. What the API and the scheduler both start from.
pub fn from_folder(
    dir: &Path,
    name: &str,
    params: &serde_json::Map<String, serde_json::Value>,
    registry: &Registry,
) -> Result<Ready, StartError> {
    let (source, runbook) = super::folder::find(dir, name, registry)?;
    let missing = unimplemented(&runbook, registry);
    if !missing.is_empty() {
        return Err(StartError::Unimplemented(
            missing.iter().map(|m| m.message(&source.name)).collect(),
        ));
    }
    let resolved = drctl_runbook::params::resolve_json(&runbook.params, params)
        .map_err(|errors| StartError::Params(errors.iter().map(ToString::to_string).collect()))?;
    let callees = drctl_runbook::fs::callee_sources(&runbook, &source.name, registry)
        .map_err(|e| StartError::Calls(e.to_string()))?;
    let files: Vec<String> = std::iter::once(source.name.as_str())
        .chain(callees.iter().map(|(path, _)| path.as_str()))
        .filter(|path| !super::folder::inside(dir, Path::new(path)))
        .map(str::to_owned)
        .collect();
    if !files.is_empty() {
        return Err(StartError::Outside {
            name: name.to_owned(),
            files,
        });
    }
    check_secrets(&source.name, &runbook, &callees, registry).map_err(StartError::Secrets)?;
    Ok(Ready {
        params: resolved.to_map(),
        source,
        runbook,
        callees,
    })
}
