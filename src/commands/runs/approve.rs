//! `drctl approvals`, `drctl approve RUN STEP -m ...`, `drctl reject RUN STEP -m ...`.
//!
//! A decision is checked against the run now (entitled, four-eyes, comment, still
//! waiting) so that a refusal is immediate, then left in the run's inbox at the version
//! it was checked against; the run's driver records it before anything else (see
//! `deliver`), so no timeout or other decision can slip in between.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use drctl_connectors::Registry;
use drctl_core::{Clock, RunId, StepId, Timestamp};
use drctl_engine::clock::SystemClock;
use drctl_run::RunState;
use drctl_run::approval::entries_for;
use drctl_run::event::Verdict;
use drctl_server::ops::approvals::{approvers_of, decision, gates, may_decide};
use drctl_server::ops::deliver::{Delivered, WAIT, deliver};
use drctl_server::views::Gate;

use super::{actor, engine, open, resolve_row, runtime};

use crate::commands::{eprint, print};
use crate::config::Config;

pub(crate) fn list(
    registry: &Registry,
    db: Option<&Path>,
    config: &Config,
) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let store = open(db).await?;
        let engine = engine(store.clone(), registry, None, false);
        let me = actor();
        let groups = config.groups_of(&me);
        let now = SystemClock::new().now();
        let gates = gates(&engine, store.as_ref(), (&me, &groups), now).await?;
        print(&render_gates(&gates, now));
        Ok(ExitCode::SUCCESS)
    })
}

/// What `drctl approvals` prints, locally and with `--server`.
pub(crate) fn render_gates(gates: &[Gate], now: Timestamp) -> String {
    let mut out = String::new();
    for g in gates {
        let you = if g.may_decide {
            "you may approve".to_owned()
        } else {
            format!("not you: {}", g.why_not.as_deref().unwrap_or("?"))
        };
        let left = g.deadline.map_or_else(
            || "no timeout".to_owned(),
            |d| {
                if d > now {
                    let secs = d.since(now).as_secs();
                    let left = std::time::Duration::from_secs(secs.max(1));
                    format!("{} left", drctl_core::format_duration(left))
                } else {
                    "timing out".to_owned()
                }
            },
        );
        let _ = writeln!(
            out,
            "{}  {}  {}: {} of {} approvals, from {}; {left}; {you}",
            g.run,
            g.runbook,
            g.step,
            g.given,
            g.min,
            drctl_run::approval::join(&g.approvers)
        );
    }
    if out.is_empty() {
        out.push_str("No approval is waiting.\n");
    }
    out
}

pub(crate) fn decide(
    registry: &Registry,
    db: Option<&Path>,
    config: &Config,
    (run, step): (&str, &str),
    verdict: Verdict,
    comment: &str,
) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let store = open(db).await?;
        let (id, _) = resolve_row(&store, run).await?;
        let engine = engine(store, registry, None, false);
        let state = engine.state(&id).await?;
        let step_id = StepId::new(step)?;
        let me = actor();
        let groups = config.groups_of(&me);
        let command = decision(&state, &step_id, (&me, &groups), verdict, comment);
        let on_behalf_of = entries_for(&approvers_of(&state, &step_id), &me, &groups);
        // Entitled, four-eyes, comment, still waiting: checked on the run as it is, and
        // again on any newer state until the command is stored against it.
        let check = |state: &RunState| {
            may_decide(
                state,
                &step_id,
                (&me, &groups),
                verdict,
                comment,
                SystemClock::new().now(),
            )
        };
        let delivered = deliver(&engine, &id, &me, &command, &check, WAIT).await?;
        Ok(render_decision(
            &Decided {
                me: &me.to_string(),
                verdict,
                step,
                run: &id,
                counts_as: &on_behalf_of,
            },
            delivered,
        ))
    })
}

/// A gate's decision, for [`render_decision`].
pub(crate) struct Decided<'a> {
    pub me: &'a str,
    pub verdict: Verdict,
    pub step: &'a str,
    pub run: &'a RunId,
    /// The approver entries it counts as.
    pub counts_as: &'a [drctl_core::Approver],
}

/// What `drctl approve` and `reject` print and exit with, locally and with `--server`.
pub(crate) fn render_decision(d: &Decided<'_>, delivered: Delivered) -> ExitCode {
    let Decided {
        me, step, run: id, ..
    } = d;
    let (what, noun) = match d.verdict {
        Verdict::Approve => ("approved", "approval"),
        Verdict::Reject => ("rejected", "rejection"),
    };
    let whom = drctl_run::approval::join(d.counts_as);
    let pending =
        format!("Recorded, not applied yet: {me}'s {noun} of `{step}` of run {id} (as {whom})");
    match delivered {
        Delivered::Applied => print(&format!(
            "{me} {what} `{step}` of run {id} (as {whom}): recorded by the run.\n"
        )),
        Delivered::Refused(why) => {
            eprint(&format!("error: {why}\n"));
            return ExitCode::from(2);
        }
        Delivered::Stored {
            driver: Some(owner),
        } => print(&format!(
            "{pending}.\n{owner} drives the run and applies it before anything else.\n"
        )),
        Delivered::Stored { driver: None } => print(&format!(
            "{pending}.\nNobody drives the run now: it is applied, before anything else, when the run is driven next (`drctl resume {id}`).\n"
        )),
    }
    ExitCode::SUCCESS
}
