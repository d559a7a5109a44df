//! The values templates see during a run: `params`, `secrets`, `steps.<id>`, `item`,
//! `index`, `run`. Only the steps a template references are included, so rendering costs
//! what the template reads, not the size of the runbook.

use drctl_core::{StepId, Timestamp, format_duration};
use drctl_runbook::template::Reference;
use drctl_runbook::template::Root;
use drctl_runbook::template::render::{Context, Secrets};
use serde_json::{Map, Value, json};

use crate::state::{ItemStatus, RunState};

/// What is being rendered, beyond the run itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct Scope<'a> {
    /// The `for_each` item and its index.
    pub item: Option<(&'a Value, usize)>,
    /// The step's own output, for its `verify` (the action's output awaiting the check)
    /// and its `compensate`.
    pub own: Option<(&'a StepId, &'a Value)>,
}

impl RunState {
    /// The template root for `refs`.
    pub fn context<'r>(
        &self,
        now: Timestamp,
        refs: impl IntoIterator<Item = &'r Reference>,
        secrets: Secrets<'_>,
        scope: Scope<'_>,
    ) -> minijinja::Value {
        let mut steps = Map::new();
        for r in refs {
            if r.root != Root::Steps {
                continue;
            }
            let Some(name) = r.name() else { continue };
            if steps.contains_key(name) {
                continue;
            }
            let view = match scope.own {
                Some((id, output)) if id.as_str() == name => {
                    json!({ "output": output, "status": "running", "duration": null })
                }
                _ => self.step_view(name),
            };
            steps.insert(name.to_owned(), view);
        }
        let mut ctx = Context::new()
            .params(&self.created.params)
            .secrets(secrets)
            .steps(&steps)
            .run(&self.run_view(now));
        if let Some((value, index)) = scope.item {
            ctx = ctx.item(value, index);
        }
        ctx.build()
    }

    /// `steps.<id>`: its output (a list for a `for_each` step), status and duration.
    pub fn step_view(&self, step: &str) -> Value {
        let Some(st) = self.steps.get(step) else {
            return Value::Null;
        };
        let for_each = self
            .runbook
            .step(step)
            .is_some_and(|d| d.for_each.is_some());
        let output = if for_each {
            Value::Array(
                st.items
                    .iter()
                    .map(|i| i.output().cloned().unwrap_or(Value::Null))
                    .collect(),
            )
        } else {
            st.items
                .first()
                .and_then(|i| i.output().cloned())
                .unwrap_or(Value::Null)
        };
        let started = st.items.iter().filter_map(|i| i.started_at).min();
        let finished = st.items.iter().filter_map(|i| i.finished_at).max();
        let duration = match (started, finished, st.status.is_terminal()) {
            (Some(s), Some(f), true) => json!(f.since(s).as_secs_f64()),
            _ => Value::Null,
        };
        json!({ "output": output, "status": st.status.as_str(), "duration": duration })
    }

    /// `run.*`.
    pub fn run_view(&self, now: Timestamp) -> Value {
        let elapsed = self.started_at.map(|s| format_duration(now.since(s)));
        json!({
            "id": self.id.as_str(),
            "runbook": self.created.runbook,
            "started_at": self.started_at.map(Timestamp::to_rfc3339),
            "elapsed": elapsed,
            "drill": self.created.drill,
            "actor": self.created_by,
            "trigger": self.created.trigger,
        })
    }

    /// The item's `for_each` value and index, when it has one.
    pub fn item_value(&self, step: &StepId, item: Option<u32>) -> Option<(&Value, usize)> {
        let i = item? as usize;
        let value = self.steps.get(step)?.items.get(i)?.value.as_ref()?;
        Some((value, i))
    }

    /// What a step's `verify` or `compensate` sees as its own output.
    pub fn own_output(&self, step: &StepId, item: Option<u32>) -> Option<&Value> {
        let it = self
            .steps
            .get(step)?
            .items
            .get(item.unwrap_or(0) as usize)?;
        match &it.status {
            ItemStatus::Succeeded { output } => Some(output),
            _ => it.pending_output.as_ref(),
        }
    }
}
