//! `drctl step retry|skip|fail RUN STEP`: an operator's decision about a step that is
//! interrupted (or, for skip, has not started). It is checked against the run now and
//! applied by the run's driver to that same state; see `deliver`.

use std::path::Path;
use std::process::ExitCode;

use drctl_connectors::Registry;
use drctl_core::{RunId, StepId};
use drctl_engine::OperatorCommand;
use drctl_run::event::Decision;

use super::{actor, engine, open, resolve, runtime};
use crate::cli::StepDecision;
use crate::commands::{eprint, print};
use drctl_server::ops::deliver::{Delivered, WAIT, deliver};

/// One decision, as typed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Request<'a> {
    pub decision: StepDecision,
    pub run: &'a str,
    pub step: &'a str,
    pub item: Option<u32>,
    /// JSON text, with `skip` only.
    pub output: Option<&'a str>,
}

pub(crate) fn run(
    registry: &Registry,
    db: Option<&Path>,
    req: Request<'_>,
) -> anyhow::Result<ExitCode> {
    let (decision, output) = match parse(req.decision, req.output) {
        Ok(parsed) => parsed,
        Err(why) => {
            eprint(&format!("error: {why}\n"));
            return Ok(ExitCode::from(2));
        }
    };
    runtime()?.block_on(async {
        let store = open(db).await?;
        let id = resolve(&store, req.run).await?;
        let engine = engine(store, registry, None, false);
        let command = OperatorCommand::Step {
            step: StepId::new(req.step)?,
            item: req.item,
            decision,
            output,
        };
        // Checked against the run as it is; the run applies it to that very state (a
        // skip of a step that has not started holds however soon the step is ready).
        let delivered = deliver(&engine, &id, &actor(), &command, &|_| Ok(()), WAIT).await?;
        Ok(render(decision, req.step, &id, delivered))
    })
}

/// What `drctl step` prints and exits with, locally and with `--server`.
pub(crate) fn render(decision: Decision, step: &str, id: &RunId, delivered: Delivered) -> ExitCode {
    let what = format!("{} step `{step}` of run {id}", decision.as_str());
    match delivered {
        Delivered::Applied => print(&format!(
            "Applied: {what}.\nIf the run is paused, continue it with `drctl resume {id}`.\n"
        )),
        Delivered::Refused(why) => {
            eprint(&format!("error: {why}\n"));
            return ExitCode::from(2);
        }
        Delivered::Stored {
            driver: Some(owner),
        } => print(&format!(
            "Recorded: {what}; {owner} drives the run and applies it before anything else.\n"
        )),
        Delivered::Stored { driver: None } => print(&format!(
            "Recorded: {what}; it is applied when the run is driven next: `drctl resume {id}`.\n"
        )),
    }
    ExitCode::SUCCESS
}

/// The decision and its `--output`, as typed: the same checks locally and with
/// `--server`.
pub(crate) fn parse(
    decision: StepDecision,
    output: Option<&str>,
) -> Result<(Decision, Option<serde_json::Value>), String> {
    let decision = match decision {
        StepDecision::Retry => Decision::Retry,
        StepDecision::Skip => Decision::Skip,
        StepDecision::Fail => Decision::Fail,
    };
    let output = match output {
        None => None,
        Some(_) if decision != Decision::Skip => {
            return Err("--output goes with `skip` only".into());
        }
        Some(text) => {
            Some(serde_json::from_str(text).map_err(|e| format!("--output is not JSON: {e}"))?)
        }
    };
    Ok((decision, output))
}
