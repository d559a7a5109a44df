//! `notify:` subscriptions: which events, which action (its inputs checked against its
//! schema, its templates against the subscription's scope), whether a failed delivery
//! fails the run, and how deliveries are retried.

use std::num::NonZeroU32;
use std::time::Duration;

use super::Cx;
use super::steps::{action_call, choose, retry};
use super::templates::Scope;
use crate::diagnostic::Code;
use crate::model::{Backoff, ErrorClass, NoticeOn, Objectives, RetryPolicy, Subscription};
use crate::raw::RawNotify;

/// Deliveries are retried unless the subscription says otherwise: five attempts over
/// about half a minute outlast a provider's brief hiccup without holding a run's end.
pub(crate) fn default_retry() -> RetryPolicy {
    RetryPolicy {
        attempts: NonZeroU32::new(5).unwrap_or(NonZeroU32::MIN),
        backoff: Backoff::Exponential,
        initial: Duration::from_secs(2),
        max: Some(Duration::from_secs(60)),
        on: vec![ErrorClass::Retryable, ErrorClass::Timeout],
    }
}

pub(crate) fn compile(
    cx: &mut Cx<'_>,
    raw: Vec<RawNotify>,
    objectives: &Objectives,
) -> Vec<Subscription> {
    let mut out = Vec::new();
    for n in raw {
        let given = n.on.is_some();
        let raw_on = n.on.unwrap_or_default();
        if raw_on.is_empty() && given {
            cx.d.error(Code::MissingField, n.span, "`on` names no event")
                .hint("subscribe to approval_requested, step_failed, run_finished or rto_breached");
        }
        let mut on = Vec::new();
        for o in &raw_on {
            let Some(event) = choose(cx, o, "on", &NoticeOn::ALL) else {
                continue;
            };
            if event == NoticeOn::RtoBreached && objectives.rto.is_none() {
                cx.d.error(
                    Code::InvalidValue,
                    o.span,
                    "`rto_breached` never fires: the runbook has no `objectives.rto`",
                )
                .hint("add `objectives: { rto: 5m }` and mark steps `rto_start` and `rto_end`");
            }
            if !on.contains(&event) {
                on.push(event);
            }
        }
        let retry = n
            .retry
            .as_ref()
            .map_or_else(|| Some(default_retry()), |r| retry(cx, r));
        let Some(action) = &n.action else { continue };
        let call = action_call(cx, action, n.with.as_ref(), Scope::notice("notify"));
        if let (Some(call), Some(retry)) = (call, retry)
            && !on.is_empty()
        {
            out.push(Subscription {
                on,
                call,
                required: n.required.as_ref().is_some_and(|r| r.value),
                retry,
            });
        }
    }
    out
}
