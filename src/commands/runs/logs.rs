//! `drctl logs RUN [STEP] [-f]`: the run's events as lines, with what each attempt was
//! given and returned.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use drctl_core::RunId;
use drctl_engine::decode_events;
use drctl_engine::liveness::interrupted;
use drctl_run::Event;
use drctl_run::event::{AttemptResult, EventKind};
use drctl_store::RunReader;

use super::eventfmt::line;
use super::{open, resolve, runtime};
use crate::commands::print;

pub(crate) fn run(
    db: Option<&Path>,
    run: &str,
    step: Option<&str>,
    follow: bool,
) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let store = open(db).await?;
        let id = resolve(&store, run).await?;
        if let Some(step) = step {
            let steps = store.steps(&id).await?;
            has_step(&id, steps.iter().map(|s| s.step.as_str()), step)?;
        }
        let clock = drctl_engine::clock::SystemClock::new();
        let mut seen = 0;
        loop {
            // Whether the run had ended, read before its events: a run that ends between
            // the two reads gets one more round, so its last events are printed. A run
            // nobody drives ends the following too: nothing would ever come.
            let row = store.run(&id).await?;
            let finished = row.as_ref().is_none_or(|r| r.is_finished());
            let stalled = row
                .as_ref()
                .and_then(|r| interrupted(r, drctl_core::Clock::now(&clock)));
            let stored = store.events(&id, seen).await?;
            seen += stored.len() as u64;
            let mut out = String::new();
            for event in decode_events(&stored)? {
                out.push_str(&render(&event, step));
            }
            print(&out);
            if !follow || finished {
                return Ok(ExitCode::SUCCESS);
            }
            if let Some(why) = stalled {
                return Ok(interrupted_end(&id, &why));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
}

/// An error unless `step` is one of `names`, with the closest name as a hint.
pub(crate) fn has_step<'a>(
    id: &RunId,
    names: impl Iterator<Item = &'a str> + Clone,
    step: &str,
) -> anyhow::Result<()> {
    if names.clone().any(|n| n == step) {
        return Ok(());
    }
    let hint = drctl_core::did_you_mean(step, names)
        .map(|s| format!(" (did you mean `{s}`?)"))
        .unwrap_or_default();
    anyhow::bail!("run {id} has no step `{step}`{hint}")
}

/// `logs -f` of a run nobody drives: nothing more would come.
pub(crate) fn interrupted_end(id: &RunId, why: &str) -> ExitCode {
    print(&format!(
        "Run {id} is interrupted: {why}. Continue it with `drctl resume {id}`.\n"
    ));
    ExitCode::from(3)
}

/// An event's lines in `drctl logs` (none for an event of another step than `step`, or
/// one not worth a line), locally and with `--server`.
pub(crate) fn render(event: &Event, step: Option<&str>) -> String {
    if step.is_some_and(|s| step_of(event) != Some(s)) {
        return String::new();
    }
    match line(event) {
        Some(l) => format!("{}  {l}\n{}", event.at, details(event)),
        None => String::new(),
    }
}

fn step_of(event: &Event) -> Option<&str> {
    match &event.kind {
        EventKind::AttemptStarted(a) => Some(a.step.as_str()),
        EventKind::AttemptFinished { step, .. }
        | EventKind::AttemptInterrupted { step, .. }
        | EventKind::Reconciled { step, .. }
        | EventKind::StepSkipped { step, .. }
        | EventKind::StepFailed { step, .. }
        | EventKind::ItemsExpanded { step, .. }
        | EventKind::ChildStarted { step, .. }
        | EventKind::OperatorDecision { step, .. } => Some(step.as_str()),
        _ => None,
    }
}

/// What an attempt was given and what came back, indented under its line.
fn details(event: &Event) -> String {
    let value = match &event.kind {
        EventKind::AttemptStarted(a) if a.wait_until.is_none() => Some(("with", &a.input)),
        EventKind::AttemptFinished {
            result: AttemptResult::Succeeded { output },
            ..
        } => Some(("output", output)),
        _ => None,
    };
    let Some((label, value)) = value else {
        return String::new();
    };
    if let (Some(stdout), Some(stderr)) = (
        value.get("stdout").and_then(|v| v.as_str()),
        value.get("stderr").and_then(|v| v.as_str()),
    ) {
        let mut out = String::new();
        for (name, text) in [("stdout", stdout), ("stderr", stderr)] {
            for l in text.lines() {
                out.push_str(&format!("    {name} | {l}\n"));
            }
        }
        return out;
    }
    format!("    {label} {value}\n")
}
