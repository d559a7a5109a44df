//! Node tree → [`RawStep`] and the maps a step holds.

use super::decode::spanned_strings;
use super::reader::{MapReader, boolean, count, duration_text, list_of, string, strings};
use super::{RawActionCall, RawApproval, RawCall, RawRetry, RawStep};
use crate::diagnostic::Diagnostics;
use crate::raw::reader::entries;
use crate::yaml::Node;

/// Decodes a list of steps (`steps`, `on_failure`, `finally`).
pub(super) fn steps(node: Node, what: &str, d: &mut Diagnostics) -> Vec<RawStep> {
    list_of(node, what, d, step)
}

fn step(node: Node, d: &mut Diagnostics) -> Option<RawStep> {
    let mut m = MapReader::open(node, "step", d)?;
    let s = RawStep {
        span: m.span(),
        id: m.required("id", d).and_then(|(_, n)| string(n, "id", d)),
        name: m.take("name").and_then(|(_, n)| string(n, "name", d)),
        needs: m
            .take("needs")
            .map(|(_, n)| strings(n, "needs", d))
            .unwrap_or_default(),
        when: m.take("when").map(|(_, n)| n),
        action: m.take("action").and_then(|(_, n)| string(n, "action", d)),
        with: m.take("with").map(|(_, n)| n),
        approval: m.take("approval").and_then(|(_, n)| approval(n, d)),
        call: m.take("call").and_then(|(_, n)| call(n, d)),
        for_each: m.take("for_each").map(|(_, n)| n),
        max_parallel: m
            .take("max_parallel")
            .and_then(|(_, n)| count(&n, "max_parallel", d)),
        retry: m.take("retry").and_then(|(_, n)| retry(n, d)),
        timeout: m
            .take("timeout")
            .and_then(|(_, n)| duration_text(n, "timeout", d)),
        verify: m
            .take("verify")
            .and_then(|(_, n)| action_call(n, "verify", true, d)),
        compensate: m
            .take("compensate")
            .and_then(|(_, n)| action_call(n, "compensate", false, d)),
        on_interrupt: m
            .take("on_interrupt")
            .and_then(|(_, n)| string(n, "on_interrupt", d)),
        continue_on_failure: m
            .take("continue_on_failure")
            .and_then(|(_, n)| boolean(&n, "continue_on_failure", d)),
        marks: m
            .take("marks")
            .map(|(_, n)| strings(n, "marks", d))
            .unwrap_or_default(),
    };
    m.finish(d);
    Some(s)
}

fn action_call(
    node: Node,
    what: &'static str,
    with_soak: bool,
    d: &mut Diagnostics,
) -> Option<RawActionCall> {
    let mut m = MapReader::open(node, what, d)?;
    let c = RawActionCall {
        span: m.span(),
        action: m
            .required("action", d)
            .and_then(|(_, n)| string(n, "action", d)),
        with: m.take("with").map(|(_, n)| n),
        soak: if with_soak {
            m.take("for").and_then(|(_, n)| duration_text(n, "for", d))
        } else {
            None
        },
        every: if with_soak {
            m.take("every")
                .and_then(|(_, n)| duration_text(n, "every", d))
        } else {
            None
        },
    };
    m.finish(d);
    Some(c)
}

pub(super) fn retry(node: Node, d: &mut Diagnostics) -> Option<RawRetry> {
    let mut m = MapReader::open(node, "retry", d)?;
    let r = RawRetry {
        span: m.span(),
        attempts: m
            .required("attempts", d)
            .and_then(|(_, n)| count(&n, "attempts", d)),
        backoff: m.take("backoff").and_then(|(_, n)| string(n, "backoff", d)),
        initial: m
            .take("initial")
            .and_then(|(_, n)| duration_text(n, "initial", d)),
        max: m.take("max").and_then(|(_, n)| duration_text(n, "max", d)),
        on: m
            .take("on")
            .map(|(_, n)| strings(n, "on", d))
            .unwrap_or_default(),
    };
    m.finish(d);
    Some(r)
}

fn approval(node: Node, d: &mut Diagnostics) -> Option<RawApproval> {
    let mut m = MapReader::open(node, "approval", d)?;
    let a = RawApproval {
        span: m.span(),
        message: m.take("message").and_then(|(_, n)| string(n, "message", d)),
        approvers: m
            .take("approvers")
            .map(|(_, n)| spanned_strings(n, "approvers", d)),
        min: m.take("min").and_then(|(_, n)| count(&n, "min", d)),
        distinct_groups: m
            .take("distinct_groups")
            .and_then(|(_, n)| boolean(&n, "distinct_groups", d)),
        allow_self_approval: m
            .take("allow_self_approval")
            .and_then(|(_, n)| boolean(&n, "allow_self_approval", d)),
        require_comment: m
            .take("require_comment")
            .and_then(|(_, n)| boolean(&n, "require_comment", d)),
        timeout: m
            .take("timeout")
            .and_then(|(_, n)| duration_text(n, "timeout", d)),
        on_timeout: m
            .take("on_timeout")
            .and_then(|(_, n)| string(n, "on_timeout", d)),
        escalate: m
            .take("escalate")
            .map(|(_, n)| {
                list_of(n, "escalate", d, |n, d| {
                    Some(spanned_strings(n, "escalate", d))
                })
            })
            .unwrap_or_default(),
        expires: m
            .take("expires")
            .and_then(|(_, n)| duration_text(n, "expires", d)),
    };
    m.finish(d);
    Some(a)
}

fn call(node: Node, d: &mut Diagnostics) -> Option<RawCall> {
    let mut m = MapReader::open(node, "call", d)?;
    let c = RawCall {
        span: m.span(),
        runbook: m
            .required("runbook", d)
            .and_then(|(_, n)| string(n, "runbook", d)),
        params: m
            .take("params")
            .map(|(_, n)| entries(n, "params", d))
            .unwrap_or_default(),
    };
    m.finish(d);
    Some(c)
}
