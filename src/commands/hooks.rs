//! `drctl hooks`: the runs that webhooks with `confirm: true` proposed; confirm one (it
//! starts, created by you) or reject it. Locally on the database, or with `--server`
//! through the API (the same output).

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use drctl_connectors::Registry;
use drctl_core::{Clock as _, RunId};
use drctl_engine::clock::SystemClock;
use drctl_runbook::params::shown_within;
use drctl_server::hooks::propose::{self, Decision, ProposalView};

use super::print;
use super::runs::{actor, engine, open, runtime};
use crate::cli::HooksCommand;

/// The decision a command asks for, with its run and reason.
pub(crate) fn decision(command: &HooksCommand) -> Option<(Decision, &str, &str)> {
    match command {
        HooksCommand::Proposals { .. } => None,
        HooksCommand::Confirm { run, reason } => Some((Decision::Confirm, run, reason)),
        HooksCommand::Reject { run, reason } => Some((Decision::Reject, run, reason)),
    }
}

pub(crate) fn run(
    registry: &Registry,
    db: Option<&Path>,
    command: &HooksCommand,
) -> anyhow::Result<ExitCode> {
    let confirmed = runtime()?.block_on(async {
        // Proposals come from a server's database: none here is an error, not a new one.
        let store = open(db).await?;
        let now = SystemClock::new().now();
        let Some((decision, run, reason)) = decision(command) else {
            let json = matches!(command, HooksCommand::Proposals { json: true });
            let list = propose::list(store.as_ref(), now).await?;
            print(&render(&list, json)?);
            return Ok::<_, anyhow::Error>(None);
        };
        let id: RunId = run.parse().map_err(|_| {
            anyhow::anyhow!(
                "`{run}` is not a run id: give the whole id the delivery was answered with"
            )
        })?;
        let engine = engine(store.clone(), registry, None, false);
        let view =
            propose::decide((&engine, registry), &id, (decision, &actor(), reason), now).await?;
        print(&decided(&view));
        Ok((decision == Decision::Confirm).then_some(id))
    })?;
    super::runs::resume::foreground(registry, db, confirmed)
}

/// What a decision did, on one line.
pub(crate) fn decided(view: &ProposalView) -> String {
    let what = match view.status.as_str() {
        "started" => "Confirmed: run started",
        "rejected" => "Rejected: nothing runs for",
        other => other,
    };
    format!(
        "{what} {} ({}).\n",
        view.run,
        shown_within(view.detail.as_deref().unwrap_or_default(), 4096)
    )
}

/// The proposals, as `drctl hooks proposals` prints them locally and with `--server`.
pub(crate) fn render(list: &[ProposalView], json: bool) -> anyhow::Result<String> {
    if json {
        return Ok(serde_json::to_string_pretty(list)? + "\n");
    }
    if list.is_empty() {
        return Ok("No proposed runs wait.\n".into());
    }
    let mut out = String::new();
    for p in list {
        let _ = writeln!(
            out,
            "{}  {}{}  proposed by webhook {} (delivery {} from {})",
            p.run,
            p.runbook,
            if p.drill { " (drill)" } else { "" },
            p.hook,
            p.delivery,
            p.peer
        );
        let _ = writeln!(out, "  at:      {}, confirm by {}", p.at, p.expires);
        // The key comes from the payload: escaped, so that it cannot forge or hide the
        // lines a person reads before confirming.
        if let Some(key) = &p.key {
            let _ = writeln!(out, "  key:     {}", shown_within(key, 200));
        }
        let params = serde_json::to_string(&p.params)?;
        let _ = writeln!(out, "  params:  {}", shown_within(&params, 2000));
    }
    out.push_str("Confirm with `drctl hooks confirm RUN --reason TEXT`, or reject with `drctl hooks reject RUN --reason TEXT`.\n");
    Ok(out)
}
