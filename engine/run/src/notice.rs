//! Notices: what `notify:` subscriptions are told, and when.
//!
//! `decide` queues a notice (`notice_queued`) the first time a subscribed event holds in
//! the state: an approval waiting at a level, a step failed, the run about to finish, the
//! RTO objective passed. The queued event carries `about` (what templates see as
//! `notice`) and the inputs rendered with secrets masked, so the log says what was sent.
//! The driver delivers each due notice and records `notice_attempted`; a failure is
//! retried by the subscription's policy (the next try is a stored deadline, like a step's
//! backoff). Delivery is at least once: a notice whose delivery a crash interrupted is
//! delivered again on restart.
//!
//! A run finishes only once every notice is settled, so `run_finished` is told before the
//! run ends. A delivery that fails for good fails the run only when its subscription is
//! `required`.

use drctl_core::{Timestamp, format_duration};
use drctl_runbook::model::{Mark, NoticeOn, Subscription};
use drctl_runbook::template::render::{Context, Secrets, render_value};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::backoff::{retries, retry_delay};
use crate::decide::DecideCtx;
use crate::event::{EventKind, FailureClass};
use crate::state::{ItemStatus, RunState, Stage, StepStatus};

/// One queued notice.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub subscription: u32,
    pub on: NoticeOn,
    pub about: Value,
    pub status: NoticeStatus,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NoticeStatus {
    /// Attempt `attempt` is due at `at`.
    Due {
        attempt: u32,
        at: Timestamp,
    },
    Delivered,
    Failed {
        message: String,
    },
}

/// How one delivery attempt went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum NoticeResult {
    Delivered {
        #[serde(default, skip_serializing_if = "Value::is_null")]
        output: Value,
    },
    Failed {
        class: FailureClass,
        message: String,
    },
}

/// Identifies what a notice is about, so each fires once per subscription: an approval
/// per step and level, a failure per step, the run's end once, an RTO breach once.
fn key(on: NoticeOn, about: &Value) -> String {
    format!("{}/{}/{}", on.as_str(), about["step"], about["level"])
}

impl RunState {
    /// Notices that should be queued now and are not yet.
    pub(crate) fn notices_to_queue(&self, now: Timestamp, cx: &DecideCtx<'_>) -> Vec<EventKind> {
        let runbook = self.runbook.clone();
        let mut out = Vec::new();
        let mut next = u32::try_from(self.notices.len()).unwrap_or(u32::MAX);
        for (index, sub) in runbook.notify.iter().enumerate() {
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            for &on in &sub.on {
                for about in self.happened(on, now) {
                    let k = key(on, &about);
                    let queued = self
                        .notices
                        .iter()
                        .any(|n| n.subscription == index && n.on == on && key(n.on, &n.about) == k);
                    if queued {
                        continue;
                    }
                    let rendered = self.render_notice(
                        sub,
                        &about,
                        now,
                        Secrets::Masked(&runbook.secret_names()),
                        cx.env,
                    );
                    let (input, error) = match rendered {
                        Ok(input) => (input, None),
                        Err(message) => (Value::Null, Some(message)),
                    };
                    out.push(EventKind::NoticeQueued {
                        notice: next,
                        subscription: index,
                        on,
                        action: sub.call.action.to_string(),
                        about,
                        input,
                    });
                    if let Some(message) = error {
                        out.push(EventKind::NoticeAttempted {
                            notice: next,
                            attempt: 1,
                            result: NoticeResult::Failed {
                                class: FailureClass::Permanent,
                                message,
                            },
                        });
                    }
                    next += 1;
                }
            }
        }
        out
    }

    /// The `notice` values of every occurrence of `on` in the state now.
    fn happened(&self, on: NoticeOn, now: Timestamp) -> Vec<Value> {
        match on {
            NoticeOn::ApprovalRequested => self
                .steps
                .iter()
                .flat_map(|(id, st)| st.items.iter().map(move |it| (id, it)))
                .filter_map(|(id, it)| match &it.status {
                    ItemStatus::Awaiting {
                        level,
                        approvers,
                        message,
                        deadline,
                        ..
                    } => Some(json!({
                        "kind": on.as_str(),
                        "step": id.as_str(),
                        "level": level,
                        "approvers": approvers,
                        "message": message,
                        "deadline": deadline.map(Timestamp::to_rfc3339),
                        "summary": format!(
                            "Run {} ({}) waits for approval at `{id}`{}: drctl approve {} {id} -m \"...\"",
                            self.id,
                            self.created.runbook,
                            message.as_ref().map(|m| format!(": {m}")).unwrap_or_default(),
                            self.id,
                        ),
                    })),
                    _ => None,
                })
                .collect(),
            NoticeOn::StepFailed => self
                .steps
                .iter()
                .filter_map(|(id, st)| match &st.status {
                    StepStatus::Failed { reason } => Some(json!({
                        "kind": on.as_str(),
                        "step": id.as_str(),
                        "error": reason,
                        "summary": format!("Run {} ({}): step `{id}` failed: {reason}", self.id, self.created.runbook),
                    })),
                    _ => None,
                })
                .collect(),
            NoticeOn::RunFinished if self.stage == Stage::Done => {
                let outcome = self.outcome();
                let elapsed = self.started_at.map(|s| format_duration(now.since(s)));
                let error = match &outcome {
                    crate::Outcome::Failed { reason } => Some(reason.clone()),
                    _ => None,
                };
                vec![json!({
                    "kind": on.as_str(),
                    "outcome": outcome.as_str(),
                    "error": error,
                    "elapsed": elapsed,
                    "summary": format!(
                        "Run {} ({}) {} after {}{}",
                        self.id,
                        self.created.runbook,
                        outcome.as_str(),
                        elapsed.as_deref().unwrap_or("0s"),
                        error.as_ref().map(|e| format!(": {e}")).unwrap_or_default(),
                    ),
                })]
            }
            NoticeOn::RtoBreached => match (self.rto_deadline(), self.rto_started()) {
                (Some(deadline), Some(started)) if now >= deadline => {
                    let rto = self.runbook.objectives.rto.map(format_duration);
                    let elapsed = format_duration(now.since(started));
                    vec![json!({
                        "kind": on.as_str(),
                        "rto": rto,
                        "elapsed": elapsed,
                        "summary": format!(
                            "Run {} ({}) breached its RTO objective of {}: {} since recovery started",
                            self.id,
                            self.created.runbook,
                            rto.as_deref().unwrap_or("?"),
                            elapsed,
                        ),
                    })]
                }
                _ => Vec::new(),
            },
            NoticeOn::RunFinished => Vec::new(),
        }
    }

    /// When the RTO objective is breached, if it can still be: the clock started, and no
    /// `rto_end` step has succeeded.
    pub(crate) fn rto_deadline(&self) -> Option<Timestamp> {
        let rto = self.runbook.objectives.rto?;
        let subscribed = self
            .runbook
            .notify
            .iter()
            .any(|s| s.on.contains(&NoticeOn::RtoBreached));
        let ended = self
            .marked(Mark::RtoEnd)
            .filter_map(|id| self.steps.get(id))
            .any(|st| st.status == StepStatus::Succeeded);
        if !subscribed || ended {
            return None;
        }
        let deadline = self.rto_started()?.plus(rto);
        let queued = self.notices.iter().any(|n| n.on == NoticeOn::RtoBreached);
        (!queued).then_some(deadline)
    }

    /// A subscription's inputs for a notice: `params`, `secrets`, `run` and `notice`.
    pub fn render_notice(
        &self,
        sub: &Subscription,
        about: &Value,
        now: Timestamp,
        secrets: Secrets<'_>,
        env: &drctl_runbook::template::TemplateEnv,
    ) -> Result<Value, String> {
        let ctx = Context::new()
            .params(&self.created.params)
            .secrets(secrets)
            .run(&self.run_view(now))
            .notice(about)
            .build();
        render_value(env, &sub.call.with, &ctx)
            .map_err(|e| format!("inputs of `{}`: {}", sub.call.action, e.message))
    }

    /// Each undelivered notice: its number, the attempt due next and when. Not part of
    /// `next_wake`: a notice being delivered stays due until its result is recorded, and
    /// only the driver knows which ones are being delivered.
    pub fn notices_waiting(&self) -> impl Iterator<Item = (u32, u32, Timestamp)> + '_ {
        self.notices
            .iter()
            .enumerate()
            .filter_map(|(i, n)| match n.status {
                NoticeStatus::Due { attempt, at } => {
                    Some((u32::try_from(i).unwrap_or(u32::MAX), attempt, at))
                }
                _ => None,
            })
    }

    /// Whether the state waits for the result of this delivery attempt.
    pub fn awaits_notice(&self, notice: u32, attempt: u32) -> bool {
        matches!(
            self.notices.get(notice as usize).map(|n| &n.status),
            Some(NoticeStatus::Due { attempt: a, .. }) if *a == attempt
        )
    }

    /// Whether some notice is not delivered or given up yet.
    pub fn notices_pending(&self) -> bool {
        self.notices_waiting().next().is_some()
    }

    pub(crate) fn apply_notice_attempt(
        &mut self,
        notice: u32,
        attempt: u32,
        result: &NoticeResult,
        at: Timestamp,
    ) -> Result<(), String> {
        let runbook = self.runbook.clone();
        let n = self
            .notices
            .get_mut(notice as usize)
            .ok_or_else(|| format!("no notice {notice}"))?;
        let sub = runbook
            .notify
            .get(n.subscription as usize)
            .ok_or_else(|| format!("no subscription {}", n.subscription))?;
        match result {
            NoticeResult::Delivered { .. } => n.status = NoticeStatus::Delivered,
            NoticeResult::Failed { class, message } => {
                if retries(&sub.retry, attempt, *class) {
                    n.status = NoticeStatus::Due {
                        attempt: attempt + 1,
                        at: at.plus(retry_delay(&sub.retry, attempt)),
                    };
                } else {
                    n.status = NoticeStatus::Failed {
                        message: message.clone(),
                    };
                    if sub.required {
                        let reason = format!(
                            "the required `{}` notification ({}) failed: {message}",
                            n.on.as_str(),
                            sub.call.action
                        );
                        self.failure.get_or_insert(reason);
                    }
                }
            }
        }
        Ok(())
    }
}
