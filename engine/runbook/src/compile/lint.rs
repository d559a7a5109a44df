//! Warnings about whole-runbook properties. Per-step warnings (constant `when`,
//! non-idempotent `on_interrupt: retry`, literal credentials) are raised where the step is
//! compiled, because that is where their spans are.

use super::Cx;
use super::header::HeaderSpans;
use crate::diagnostic::Code;
use crate::model::{Mark, Runbook};

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
