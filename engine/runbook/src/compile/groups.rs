//! Approver groups checked against the configuration's `[groups]`: the compiler does not
//! read the configuration, so the CLI asks for this check after compiling. A gate whose
//! only approvers are a mistyped group waits for ever; a warning says so before a run.

use crate::diagnostic::{Code, Diagnostic, Severity};
use crate::model::{Approver, Runbook, StepKind};
use crate::source::Source;

/// A warning for every `group:<name>` of an approval (or its escalation) that `known`
/// does not define.
pub fn unknown_groups(
    source: &Source,
    runbook: &Runbook,
    known: &dyn Fn(&str) -> bool,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for step in runbook.blocks().into_iter().flat_map(|b| b.steps.iter()) {
        let StepKind::Approval(a) = &step.kind else {
            continue;
        };
        let groups = a
            .approvers
            .iter()
            .chain(a.escalate.iter().flatten())
            .filter_map(|ap| match ap {
                Approver::Group(g) => Some(g.as_str()),
                Approver::User(_) => None,
            });
        let mut seen = Vec::new();
        for group in groups {
            if seen.contains(&group) || known(group) {
                continue;
            }
            seen.push(group);
            let written = format!("group:{group}");
            let span = source.text[step.span.offset..]
                .find(&written)
                .map_or(step.span, |at| {
                    source.span_at(step.span.offset + at, written.len())
                });
            let message = format!("no group `{group}` is defined in drctl.toml `[groups]`");
            let hint =
                "add it to `[groups]`, or fix the name: nobody can approve as an unknown group";
            out.push(Diagnostic {
                severity: Severity::Warning,
                code: Code::UnknownGroup,
                message,
                span,
                hint: Some(hint.to_owned()),
            });
        }
    }
    out
}
