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
use drctl_core::{Clock, StepId};
use drctl_engine::clock::SystemClock;
use drctl_run::RunState;
use drctl_run::approval::{check_decision, entries_for};
use drctl_run::event::Verdict;
use drctl_server::ops::approvals::{approvers_of, decision, may_decide, waiting};
use drctl_server::ops::deliver::{Delivered, WAIT, deliver};
use drctl_store::{RunFilter, RunReader};

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
        let rows = store
            .list_runs(&RunFilter {
                status: None,
                runbook: None,
                top_level: false,
                limit: 10_000,
            })
            .await?;
        let engine = engine(store, registry, None, false);
        let me = actor();
        let groups = config.groups_of(&me);
        let now = SystemClock::new().now();
        let mut out = String::new();
        for row in rows.iter().filter(|r| !r.is_finished()) {
            let state = engine.state(&row.id).await?;
            for w in waiting(&state) {
                let mine = entries_for(&w.approvers, &me, &groups);
                let you =
                    match check_decision(&state, &w.step, &me, Verdict::Approve, "-", &mine, now) {
                        Ok(()) => "you may approve".to_owned(),
                        Err(why) => format!("not you: {why}"),
                    };
                let left = w.deadline.map_or_else(
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
                    row.id,
                    row.runbook,
                    w.step,
                    w.given,
                    w.min,
                    w.approvers.join(", ")
                );
            }
        }
        if out.is_empty() {
            out.push_str("No approval is waiting.\n");
        }
        print(&out);
        Ok(ExitCode::SUCCESS)
    })
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
            may_decide(state, &step_id, (&me, &groups), verdict, comment, SystemClock::new().now())
        };
        let (what, noun) = match verdict {
            Verdict::Approve => ("approved", "approval"),
            Verdict::Reject => ("rejected", "rejection"),
        };
        let whom = on_behalf_of.join(", ");
        let pending = format!(
            "Recorded, not applied yet: {me}'s {noun} of `{step}` of run {id} (as {whom})"
        );
        match deliver(&engine, &id, &me, &command, &check, WAIT).await? {
            Delivered::Applied => print(&format!(
                "{me} {what} `{step}` of run {id} (as {whom}): recorded by the run.\n"
            )),
            Delivered::Refused(why) => {
                eprint(&format!("error: {why}\n"));
                return Ok(ExitCode::from(2));
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
        Ok(ExitCode::SUCCESS)
    })
}
