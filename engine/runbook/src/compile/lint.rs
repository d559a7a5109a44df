//! Warnings about whole-runbook properties. Per-step warnings (constant `when`,
//! non-idempotent `on_interrupt: retry`, literal credentials) are raised where the step is
//! compiled, because that is where their spans are.

use super::Cx;
use super::header::HeaderSpans;
use crate::diagnostic::Code;
use crate::model::{Mark, Runbook, StepKind, Trigger};

pub(crate) fn run(cx: &mut Cx<'_>, runbook: &Runbook, spans: &HeaderSpans) {
    if let (Some(_), Some(span)) = (runbook.objectives.rto, spans.rto) {
        let marked = |mark: Mark| {
            runbook
                .blocks()
                .iter()
                .any(|b| b.steps.iter().any(|s| s.marks.contains(&mark)))
        };
        match (marked(Mark::RtoStart), marked(Mark::RtoEnd)) {
            (true, true) => {}
            (false, false) => {
                cx.d.warning(Code::RtoUnmarked, span, "`objectives.rto` is set but no step is marked `rto_start` / `rto_end`")
                    .hint("add `marks: [rto_start]` to the step where the outage is acted on and `marks: [rto_end]` where service is back");
            }
            (start, _) => {
                let missing = if start { "rto_end" } else { "rto_start" };
                cx.d.warning(
                    Code::RtoUnmarked,
                    span,
                    format!("`objectives.rto` is set but no step is marked `{missing}`"),
                );
            }
        }
    }
    // An alert alone should not run a failover unseen: a gate stands before the actions
    // (an approval policy naming the webhook may still pass it, as a recorded decision),
    // or the hook only proposes the run (`confirm: true`).
    let gated = runbook
        .steps
        .steps
        .iter()
        .any(|s| matches!(s.kind, StepKind::Approval(_)));
    if !gated {
        for t in &runbook.triggers {
            if let Trigger::Webhook(w) = t
                && w.confirm.is_none()
            {
                cx.d.warning(
                    Code::UngatedWebhook,
                    w.span,
                    format!("webhook `{}` starts this runbook, and no approval step gates it: an alert alone would run every step", w.name),
                )
                .hint("add an approval step before the first change, or `confirm: true` on the webhook (a person confirms each run it proposes); an [[approval_policy]] with `triggers = [\"webhook:NAME\"]` can pass it automatically, on the record");
            }
        }
    }
    for (name, span) in &spans.secrets {
        if !cx.used_secrets.contains(name) {
            cx.d.warning(
                Code::UnusedSecret,
                *span,
                format!("secret `{name}` is never used"),
            );
        }
    }
}
