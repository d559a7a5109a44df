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

pub(crate) fn run(
    registry: &Registry,
    db: Option<&Path>,
    decision: StepDecision,
    run: &str,
    step: &str,
    item: Option<u32>,
) -> anyhow::Result<ExitCode> {
    let decision = match decision {
        StepDecision::Retry => Decision::Retry,
        StepDecision::Skip => Decision::Skip,
        StepDecision::Fail => Decision::Fail,
    };
    runtime()?.block_on(async {
        let store = open(db).await?;
        let id = resolve(&store, run).await?;
        let engine = engine(store, registry, None, false);
        let state = engine.state(&id).await?;
        let step_id = StepId::new(step)?;
        let kind = EventKind::OperatorDecision { step: step_id.clone(), item, decision };
        let probe = Event { at: state.created_at, actor: actor(), kind };
        if let Err(e) = state.clone().apply(&probe) {
            eprint(&format!("error: {e}\n"));
            return Ok(ExitCode::from(2));
        }
        engine.send(&id, &actor(), &OperatorCommand::Step { step: step_id, item, decision }).await?;
        let verb = format!("{decision:?}").to_lowercase();
        print(&format!("Recorded: {verb} step `{step}` of run {id}.\nContinue the run with `drctl resume {id}`.\n"));
        Ok(ExitCode::SUCCESS)
    })
}
