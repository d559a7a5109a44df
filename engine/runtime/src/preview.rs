//! A live plan (`drctl plan --live`, and the server's readiness checks): each action step
//! whose inputs are known before the run is asked what it would do now
//! ([`drctl_core::Action::plan`]), and the answer is attached to the step. Actions only
//! read when asked; nothing here changes a system.
//!
//! Secrets are read (from the environment or files, as a run reads them) only to build
//! the inputs of these calls. The plan that holds their values is dropped after the calls,
//! and every answer is scrubbed of them before it is shown.
//!
//! The steps are asked one at a time, in plan order, each within `timeout`. Every answer
//! describes the world as it is now: a later step's preview does not account for the
//! steps before it (a weight shift 40% -> 60% previews from today's weights).

use std::time::Duration;

use drctl_core::{ActionCatalog, ActionCtx, ActionError, ActionRegistry, RunId, StepId, Timestamp};

use crate::secrets::{MIN_SECRET, Scrubber};
use crate::{EnvAndFiles, SecretReader};
use drctl_runbook::Runbook;
use drctl_runbook::params::ResolvedParams;
use drctl_runbook::plan::{Condition, Live, Plan, PlanStep, PlanValue, plan_with};
use drctl_runbook::template::render::{SecretValues, Secrets};
use drctl_runbook::template::{Root, TemplateEnv};
use indexmap::IndexMap;
use tokio_util::sync::CancellationToken;

/// Secrets as read for this plan: the values, and why the others could not be read.
struct Read {
    values: SecretValues,
    failed: IndexMap<String, String>,
    /// Masks the values in every form.
    scrub: Scrubber,
}

/// Reads the secrets that the steps' own calls refer to (the calls `--live` makes), and no
/// other: a secret only a `verify`, `compensate` or `notify` reads stays unread.
fn read_secrets(runbook: &Runbook) -> Read {
    let used: Vec<&str> = runbook
        .blocks()
        .into_iter()
        .flat_map(|b| &b.steps)
        .filter_map(|step| step.action())
        .flat_map(|call| call.with.refs())
        .filter(|r| r.root == Root::Secrets)
        .filter_map(|r| r.name())
        .collect();
    let mut values = IndexMap::new();
    let mut failed = IndexMap::new();
    for (name, source) in runbook
        .secrets
        .iter()
        .filter(|(name, _)| used.contains(&name.as_str()))
    {
        match EnvAndFiles.read(name.as_str(), source) {
            Ok(v) if v.chars().count() < MIN_SECRET => {
                let why = format!(
                    "secret `{name}` is shorter than {MIN_SECRET} characters: too short to mask"
                );
                failed.insert(name.to_string(), why);
            }
            Ok(v) => {
                values.insert(name.to_string(), v);
            }
            Err(why) => {
                failed.insert(name.to_string(), why);
            }
        }
    }
    let scrub = Scrubber::new(values.values().map(String::as_str));
    Read {
        values: SecretValues::new(values),
        failed,
        scrub,
    }
}

/// Fills in `live` on the action steps of `shown` (the masked plan), asking the actions
/// of `registry` (whose specs `catalog` holds) one step at a time, each within `timeout`.
pub async fn attach(
    shown: &mut Plan,
    runbook: &Runbook,
    params: &ResolvedParams,
    (catalog, registry): (&dyn ActionCatalog, &dyn ActionRegistry),
    env: &TemplateEnv,
    timeout: Duration,
) {
    let secrets = read_secrets(runbook);
    let revealed = plan_with(
        runbook,
        params,
        catalog,
        env,
        Secrets::Revealed(&secrets.values),
    );
    let asker = Asker {
        registry,
        runbook,
        secrets: &secrets,
        timeout,
    };
    for (block, with_values) in shown.blocks.iter_mut().zip(&revealed.blocks) {
        let steps = block.layers.iter_mut().flatten();
        for (step, real) in steps.zip(with_values.layers.iter().flatten()) {
            asker.step(step, real).await;
        }
    }
}

struct Asker<'a> {
    registry: &'a dyn ActionRegistry,
    runbook: &'a Runbook,
    secrets: &'a Read,
    timeout: Duration,
}

impl Asker<'_> {
    async fn step(&self, step: &mut PlanStep, real: &PlanStep) {
        let Some(action) = self.registry.action(&step.does) else {
            return; // an approval or a sub-run: nothing to ask
        };
        if let Condition::Skipped { .. } = step.condition {
            step.live = Some(not_asked("the step is skipped"));
            return;
        }
        if let Some(why) = self.unreadable_secret(&step.id) {
            step.live = Some(not_asked(&why));
            return;
        }
        if let (Some(items), Some(real_items)) = (&mut step.items, &real.items) {
            for (item, real_item) in items.iter_mut().zip(real_items) {
                let index = u32::try_from(item.index).ok();
                item.live = Some(match &real_item.with {
                    Some(with) => self.ask(&*action, &step.id, index, with).await,
                    None => not_asked("the item is known only at run time"),
                });
            }
            return;
        }
        if let Some(with) = &real.with {
            step.live = Some(self.ask(&*action, &step.id, None, with).await);
        }
    }

    /// Why a secret the step reads could not be read, if one could not.
    fn unreadable_secret(&self, id: &str) -> Option<String> {
        let call = self.runbook.step(id)?.action()?;
        call.with
            .refs()
            .into_iter()
            .filter(|r| r.root == Root::Secrets)
            .find_map(|r| self.secrets.failed.get(r.name()?).cloned())
    }

    async fn ask(
        &self,
        action: &dyn drctl_core::Action,
        step: &str,
        item: Option<u32>,
        with: &PlanValue,
    ) -> Live {
        let Some(input) = with.known_json() else {
            return not_asked("its inputs are known only at run time");
        };
        let Ok(step) = StepId::new(step) else {
            return not_asked("the step id is not valid");
        };
        let cancel = CancellationToken::new();
        let ctx = ActionCtx {
            // A plan has no run: the id is the zero id, never stored.
            run: RunId::from_parts(Timestamp::from_millis(0), 0),
            step,
            item,
            attempt: 0,
            cancel: cancel.clone(),
            live: None,
        };
        let answer = tokio::time::timeout(self.timeout, action.plan(&ctx, input)).await;
        cancel.cancel();
        let scrubbed = |e: String| self.secrets.scrub.text(&e);
        match answer {
            Ok(Ok(Some(mut preview))) => {
                preview.summary = scrubbed(preview.summary);
                self.secrets.scrub.value(&mut preview.observed);
                Live::Preview(preview)
            }
            Ok(Ok(None)) => not_asked("this action has no live plan"),
            Ok(Err(ActionError::Permanent(e))) => Live::Error {
                error: scrubbed(e),
                permanent: true,
            },
            Ok(Err(ActionError::Retryable(e))) => Live::Error {
                error: scrubbed(e),
                permanent: false,
            },
            Ok(Err(ActionError::Cancelled)) | Err(_) => Live::Error {
                error: format!("no answer within {} ms", self.timeout.as_millis()),
                permanent: false,
            },
        }
    }
}

fn not_asked(why: &str) -> Live {
    Live::NotAsked {
        why: why.to_owned(),
    }
}
