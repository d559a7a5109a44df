//! `drctl step retry|skip|fail RUN STEP`: records an operator's decision about a step. It
//! is checked against the run now, and applied by whoever drives the run next.

use std::path::Path;
use std::process::ExitCode;

use drctl_connectors::Registry;
use drctl_core::StepId;
use drctl_engine::OperatorCommand;
use drctl_run::Event;
use drctl_run::event::{Decision, EventKind};

use super::{actor, engine, open, resolve, runtime};
use crate::cli::StepDecision;
use crate::commands::{eprint, print};

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
    let decision = match req.decision {
        StepDecision::Retry => Decision::Retry,
        StepDecision::Skip => Decision::Skip,
        StepDecision::Fail => Decision::Fail,
    };
    let output = match req.output {
        None => None,
        Some(_) if decision != Decision::Skip => {
            eprint("error: --output goes with `skip` only\n");
            return Ok(ExitCode::from(2));
        }
        Some(text) => match serde_json::from_str(text) {
            Ok(value) => Some(value),
            Err(e) => {
                eprint(&format!("error: --output is not JSON: {e}\n"));
                return Ok(ExitCode::from(2));
            }
        },
    };
    runtime()?.block_on(async {
        let store = open(db).await?;
        let id = resolve(&store, req.run).await?;
        let engine = engine(store, registry, None, false);
        let state = engine.state(&id).await?;
        let step = StepId::new(req.step)?;
        let item = req.item;
        // Checked on a copy of the state now, so a decision that does not apply (a retry
        // of a step that is not interrupted) is refused here rather than ignored later.
        let kind = EventKind::OperatorDecision {
            step: step.clone(),
            item,
            decision,
            output: output.clone(),
        };
        let probe = Event {
            at: state.created_at,
            actor: actor(),
            kind,
        };
        if let Err(e) = state.clone().apply(&probe) {
            eprint(&format!("error: {e}\n"));
            return Ok(ExitCode::from(2));
        }
        let command = OperatorCommand::Step {
            step,
            item,
            decision,
            output,
        };
        engine.send(&id, &actor(), &command).await?;
        print(&format!(
            "Recorded: {} step `{}` of run {id}.\nContinue the run with `drctl resume {id}`.\n",
            decision.as_str(),
            req.step
        ));
        Ok(ExitCode::SUCCESS)
    })
}
