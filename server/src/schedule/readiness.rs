//! Readiness: would a failover work right now? For each runbook with `readiness: { every,
//! params }`, `drctl serve` runs the live plan (`plan --live`: every action asked what
//! it would do, read-only) on that schedule and records the result: ready, or the steps
//! that would fail and why (a replica lagging, the Sentinels' quorum lost, a socket
//! missing, credentials refused).
//!
//! A check changes nothing: actions only read when asked for a plan. It reveals no
//! secret: the live plan scrubs every secret value from what the actions answer, and
//! what is recorded is those scrubbed answers. A change of state (ready → not ready, or
//! back) is a service notice (`readiness_lost`, `readiness_restored`).

use std::time::Duration;

use drctl_connectors::Registry;
use drctl_core::Timestamp;
use drctl_engine::EnvAndFiles;
use drctl_runbook::Runbook;
use drctl_runbook::model::Readiness;
use drctl_runbook::plan::{Live, PlanStep, plan};
use drctl_runbook::template::TemplateEnv;
use drctl_store::{Finding, ReadinessRow};

/// How long each action has to answer its live plan.
pub const ASK_TIMEOUT: Duration = Duration::from_secs(10);

/// What would not work if `runbook` ran now with `r`'s params: nothing when it is ready.
pub async fn check(runbook: &Runbook, r: &Readiness, registry: &Registry) -> Vec<Finding> {
    let mut out = Vec::new();
    let finding = |step: &str, why: String| Finding {
        step: step.to_owned(),
        why,
    };
    for m in crate::ops::start::unimplemented(runbook, registry) {
        out.push(finding(
            &m.step,
            format!("calls `{}`, which this build cannot run", m.action),
        ));
    }
    if let Err(why) = drctl_engine::secrets::read_all(&EnvAndFiles, &runbook.secrets) {
        out.push(finding("(secrets)", why));
    }
    let given: serde_json::Map<String, serde_json::Value> = r
        .params
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let resolved = match drctl_runbook::params::resolve_json(&runbook.params, &given) {
        Ok(p) => p,
        Err(errors) => {
            out.extend(errors.iter().map(|e| finding("(params)", e.to_string())));
            return out;
        }
    };
    let env = TemplateEnv::new();
    let mut shown = plan(runbook, &resolved, registry, &env);
    if !shown.problems.is_empty() {
        out.extend(shown.problems.iter().map(|p| finding("(plan)", p.clone())));
        return out;
    }
    drctl_engine::preview::attach(
        &mut shown,
        runbook,
        &resolved,
        (registry, registry),
        &env,
        ASK_TIMEOUT,
    )
    .await;
    for step in shown.blocks.iter().flat_map(|b| b.layers.iter().flatten()) {
        out.extend(step_findings(step));
    }
    out
}

fn step_findings(step: &PlanStep) -> Vec<Finding> {
    let lives = step
        .live
        .iter()
        .chain(step.items.iter().flatten().filter_map(|i| i.live.as_ref()));
    lives
        .filter_map(|live| match live {
            Live::Error { error, .. } => Some(error.clone()),
            Live::Preview(p) if p.outlook == drctl_core::Outlook::WouldFail => {
                Some(p.summary.clone())
            }
            _ => None,
        })
        .map(|why| Finding {
            step: step.id.clone(),
            why,
        })
        .collect()
}

/// Whether a check of `runbook` is due at `now` after `last`.
pub fn due(r: &Readiness, last: Option<&ReadinessRow>, now: Timestamp) -> bool {
    last.is_none_or(|l| now.since(l.at) >= r.every)
}
