//! `drctl schedules`: what is scheduled, what fired, and whether each drill obligation
//! holds; pause, resume, waive and fire now. Locally on the database and a runbooks
//! folder, or with `--server` through the API (the same output).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use drctl_connectors::Registry;
use drctl_core::{Clock as _, Timestamp};
use drctl_engine::clock::SystemClock;
use drctl_server::schedule::manage;
use drctl_server::schedule::view::{self, ScheduleList};
use drctl_store::Change;

use super::print;
use super::runs::{actor, engine, open_creating, runtime};
use crate::cli::SchedulesCommand;

/// The folder the schedules come from: `--runbooks`, else `[serve] runbooks`.
fn folder(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    given
        .map(Path::to_path_buf)
        .or_else(|| crate::config::get().serve.runbooks.clone())
        .context("which runbooks? Give --runbooks DIR, or set `runbooks` in drctl.toml's [serve]")
}

/// A change as the command line gives it.
pub(crate) fn change(command: &SchedulesCommand) -> anyhow::Result<Option<(&str, Change)>> {
    Ok(match command {
        SchedulesCommand::Pause { schedule, reason } => Some((
            schedule,
            Change::Pause {
                reason: reason.clone(),
            },
        )),
        SchedulesCommand::Resume { schedule, reason } => Some((
            schedule,
            Change::Resume {
                reason: reason.clone(),
            },
        )),
        SchedulesCommand::Waive {
            schedule,
            until,
            reason,
        } => Some((
            schedule,
            Change::Waive {
                until: Timestamp::parse(until).with_context(|| {
                    format!("--until `{until}`: give an RFC 3339 time or a date (YYYY-MM-DD)")
                })?,
                reason: reason.clone(),
            },
        )),
        SchedulesCommand::Fire { .. } => None,
    })
}

pub(crate) fn run(
    registry: &Registry,
    db: Option<&Path>,
    runbooks: Option<&Path>,
    (command, json): (Option<&SchedulesCommand>, bool),
) -> anyhow::Result<ExitCode> {
    let dir = folder(runbooks)?;
    let fired = runtime()?.block_on(async {
        let store = open_creating(db).await?;
        let now = SystemClock::new().now();
        match command {
            None => {
                let list = view::list(&dir, registry, store.as_ref(), now).await?;
                print(&render(&list, now, json)?);
            }
            Some(SchedulesCommand::Fire { schedule }) => {
                let engine = engine(store.clone(), registry, None, false);
                let run = manage::fire_now(&engine, (&dir, registry), schedule, &actor()).await?;
                print(&format!("Fired {schedule}: run {run}.\n"));
                return Ok::<_, anyhow::Error>(Some(run));
            }
            Some(other) => {
                if let Some((id, change)) = self::change(other)? {
                    let done = manage::change(
                        store.as_ref(),
                        (&dir, registry),
                        id,
                        &actor(),
                        (change, now),
                    )
                    .await?;
                    print(&format!(
                        "{}\n",
                        describe_change(id, &done.change, &done.by.to_string())
                    ));
                }
            }
        }
        Ok(None)
    })?;
    super::runs::resume::foreground(registry, db, fired)
}

/// What a change did, on one line.
pub(crate) fn describe_change(id: &str, change: &Change, by: &str) -> String {
    match change {
        Change::Pause { reason } => format!("Paused {id} ({by}: {reason})."),
        Change::Resume { reason } => format!("Resumed {id} ({by}: {reason})."),
        Change::Waive { until, reason } => {
            format!(
                "Waived the drill obligation of {id} until {} ({by}: {reason}).",
                until.to_rfc3339()
            )
        }
    }
}

/// The list, as `drctl schedules` prints it locally and with `--server`.
pub(crate) fn render(list: &ScheduleList, now: Timestamp, json: bool) -> anyhow::Result<String> {
    if json {
        return Ok(serde_json::to_string_pretty(list)? + "\n");
    }
    let mut out = String::new();
    if list.schedules.is_empty() {
        out.push_str("(no schedules in the runbooks folder)\n");
    }
    for s in &list.schedules {
        let _ = writeln!(
            out,
            "{}{}  cron `{}` {}  overlap {}",
            s.id(),
            if s.drill { "  drill" } else { "" },
            s.cron,
            s.timezone,
            s.overlap
        );
        if let Some(p) = &s.paused {
            let _ = writeln!(
                out,
                "  PAUSED by {} at {}: {}",
                p.by,
                p.at.to_rfc3339(),
                p.reason
            );
        }
        match (s.next, &s.next_local) {
            (Some(next), Some(local)) => {
                let _ = writeln!(
                    out,
                    "  next:       {} ({local}, in {})",
                    next.to_rfc3339(),
                    ago(next.since(now))
                );
            }
            _ => out.push_str("  next:       none\n"),
        }
        match &s.last {
            Some(f) => {
                let run = f
                    .run
                    .as_ref()
                    .map_or_else(String::new, |r| format!(" run {r}"));
                let result = f.result.map_or_else(String::new, |r| format!(" ({r})"));
                let why = f
                    .reason
                    .as_ref()
                    .map_or_else(String::new, |r| format!(": {r}"));
                let _ = writeln!(
                    out,
                    "  last:       {} {}{run}{result}{why}",
                    f.nominal.to_rfc3339(),
                    f.outcome
                );
            }
            None => out.push_str("  last:       never fired on its schedule\n"),
        }
        if let Some(o) = &s.obligation {
            let _ = writeln!(out, "  obligation: {} ({})", o.status.as_str(), o.why);
        }
    }
    for p in &list.problems {
        let _ = writeln!(out, "NOT LOADED (its schedules do not fire): {p}");
    }
    for r in &list.readiness {
        let state = match (r.ready, r.checked_at) {
            (Some(true), Some(at)) => format!("ready (checked {} ago)", ago(now.since(at))),
            (Some(false), Some(at)) => format!("NOT READY (checked {} ago)", ago(now.since(at))),
            _ => "not checked yet".to_owned(),
        };
        let _ = writeln!(out, "{} readiness, every {}: {state}", r.runbook, r.every);
        for f in &r.findings {
            let _ = writeln!(out, "  {}: {}", f.step, f.why);
        }
    }
    Ok(out)
}

/// A duration for people: `3d 4h`, `25m`.
fn ago(d: std::time::Duration) -> String {
    let secs = d.as_secs();
    let (days, hours, minutes) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    match (days, hours) {
        (0, 0) if minutes == 0 => format!("{}s", secs % 60),
        (0, 0) => format!("{minutes}m"),
        (0, h) => format!("{h}h {minutes}m"),
        (d, h) => format!("{d}d {h}h"),
    }
}
