//! Delivering notices: every notice the state says is due, and that is not already being
//! delivered, is sent by its subscription's action in a task; the result comes back as a
//! `Done::Notice` and is recorded as `notice_attempted`. Secrets are revealed only into
//! the action's inputs and scrubbed from what comes back, as for steps.

use drctl_core::{ActionCtx, StepId};
use drctl_run::RunStatus;
use drctl_run::event::{AttemptResult, FailureClass, NoticeResult};
use drctl_runbook::template::render::Secrets;
use tokio_util::sync::CancellationToken;

use crate::attempts::attempt_result;
use crate::driver::{Done, Driver};

impl Driver {
    /// Starts the deliveries that are due.
    pub(crate) fn deliver_notices(&mut self) {
        if self.pausing.is_some() || self.state.status != RunStatus::Running {
            return;
        }
        let now = self.e.clock.now();
        let due: Vec<(u32, u32)> = self
            .state
            .notices_waiting()
            .filter(|(n, _, at)| *at <= now && !self.notices.contains_key(n))
            .map(|(n, attempt, _)| (n, attempt))
            .collect();
        for (notice, attempt) in due {
            let tx = self.done_tx.clone();
            let prepared = self.prepare(notice, attempt);
            let secrets = self.scrubber.clone();
            let handle = tokio::spawn(async move {
                let result = match prepared {
                    Err(message) => NoticeResult::Failed {
                        class: FailureClass::Permanent,
                        message,
                    },
                    Ok((action, ctx, input)) => {
                        match attempt_result(action.run(&ctx, input).await, &secrets) {
                            AttemptResult::Succeeded { output } => {
                                NoticeResult::Delivered { output }
                            }
                            AttemptResult::Failed { class, message } => {
                                NoticeResult::Failed { class, message }
                            }
                            AttemptResult::Cancelled => NoticeResult::Failed {
                                class: FailureClass::Retryable,
                                message: "cancelled".into(),
                            },
                        }
                    }
                };
                let _ = tx.send(Done::Notice {
                    notice,
                    attempt,
                    result,
                });
            });
            self.notices.insert(notice, handle);
        }
    }

    /// The action and inputs (secrets revealed) of one delivery.
    #[allow(clippy::type_complexity)]
    fn prepare(
        &mut self,
        notice: u32,
        attempt: u32,
    ) -> Result<
        (
            std::sync::Arc<dyn drctl_core::Action>,
            ActionCtx,
            serde_json::Value,
        ),
        String,
    > {
        let runbook = self.state.runbook.clone();
        let n = self
            .state
            .notices
            .get(notice as usize)
            .ok_or_else(|| format!("no notice {notice}"))?
            .clone();
        let sub = runbook
            .notify
            .get(n.subscription as usize)
            .ok_or_else(|| format!("no subscription {}", n.subscription))?;
        let action = self
            .e
            .actions
            .action(sub.call.action.as_str())
            .ok_or_else(|| {
                format!(
                    "action `{}` is not implemented in this build",
                    sub.call.action
                )
            })?;
        let secrets = self.read_secrets(&sub.call)?;
        let now = self.e.clock.now();
        let mut input = self
            .state
            .render_notice(sub, &n.about, now, Secrets::Revealed(&secrets), &self.e.env)
            .map_err(|e| self.scrubber.text(&e))?;
        if let Some(spec) = self.e.actions.spec(sub.call.action.as_str()) {
            drctl_core::schema::coerce_to_schema(&spec.params, &mut input);
        }
        let ctx = ActionCtx {
            run: self.state.id.clone(),
            // Not a step of the runbook: actions only use it to label what they do.
            step: StepId::new(format!("notify_{notice}")).map_err(|e| e.to_string())?,
            item: None,
            attempt,
            cancel: CancellationToken::new(),
            live: None,
        };
        Ok((action, ctx, input))
    }
}
