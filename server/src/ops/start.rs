//! Starting a run: what must hold before a run exists, whoever asks (the CLI, the API).
//! A problem found here leaves nothing behind: no run, no event.

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
