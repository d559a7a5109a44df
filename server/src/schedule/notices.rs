//! Service-level notices, `[[serve.notify]]` in `drctl.toml`: a drill that became
//! overdue or failed, a firing that was missed, a readiness lost or restored, a run a
//! webhook proposed (`confirm: true`) that waits for a person. Sent through the notify actions runbooks
//! use (`notify.slack`, `notify.pagerduty`, `notify.webhook`).
//!
//! Each notice has a key (`drill_failed:dr-drill/monthly:run_…`); a server claims the key
//! in the store before sending, so that two servers on one database, or every tick of
//! one, send each notice once. A send that fails gives the key back, and the next tick
//! tries again.
//!
//! ```toml
//! [[serve.notify]]
//! on = ["drill_overdue", "drill_failed", "schedule_missed", "run_proposed"]
//! via = "slack"                     # slack | pagerduty | webhook
//! secret_env = "SLACK_WEBHOOK_URL"  # the webhook URL, routing key, or HMAC secret
//! # url = "https://…"               # webhook only
//! ```

use std::sync::Arc;

use drctl_core::{Action, ActionCtx, RunId, StepId, Timestamp};
use drctl_store::{FiringOutcome, Store, StoreError};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::obligation::Obligation;
use super::scheduler::Fired;
use super::view::ScheduleView;

/// What a service notice is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceEvent {
    DrillOverdue,
    DrillFailed,
    ScheduleMissed,
    ReadinessLost,
    ReadinessRestored,
    RunProposed,
}

impl ServiceEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceEvent::DrillOverdue => "drill_overdue",
            ServiceEvent::DrillFailed => "drill_failed",
            ServiceEvent::ScheduleMissed => "schedule_missed",
            ServiceEvent::ReadinessLost => "readiness_lost",
            ServiceEvent::ReadinessRestored => "readiness_restored",
            ServiceEvent::RunProposed => "run_proposed",
        }
    }
}

/// Which notify action carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    Slack,
    Pagerduty,
    Webhook,
}

/// One `[[serve.notify]]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    pub on: Vec<ServiceEvent>,
    pub via: Via,
    /// The environment variable holding the credential: Slack's webhook URL,
    /// PagerDuty's routing key, or the webhook's HMAC secret (optional for a webhook).
    pub secret_env: Option<String>,
    /// The webhook's URL (`via = "webhook"` only).
    pub url: Option<String>,
}

/// A notice to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub event: ServiceEvent,
    /// Sent once per key.
    pub key: String,
    pub runbook: String,
    /// What it is about: a schedule (`RUNBOOK` or `RUNBOOK/NAME`), or a webhook
    /// (`webhook:NAME`).
    pub schedule: String,
    pub message: String,
    /// The run it is about, if any.
    pub run: Option<RunId>,
    /// The incident key a pager groups it under, when not `key` (a readiness loss and
    /// its restoration share one).
    pub dedup: Option<String>,
}

/// Where notices go, with their credentials read once at start.
struct Target {
    on: Vec<ServiceEvent>,
    via: Via,
    action: Arc<dyn Action>,
    secret: Option<String>,
    url: Option<String>,
}

/// See the module doc.
pub struct Notifier {
    targets: Vec<Target>,
    store: Arc<dyn Store>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never a credential.
        f.debug_struct("Notifier")
            .field("targets", &self.targets.len())
            .finish_non_exhaustive()
    }
}

impl Notifier {
    /// The targets of `config`, each with its action and credential; an error names the
    /// entry and what is missing (never a value).
    pub fn new(
        config: &[NotifyConfig],
        registry: &drctl_connectors::Registry,
        store: Arc<dyn Store>,
    ) -> Result<Self, String> {
        let mut targets = Vec::new();
        for (i, c) in config.iter().enumerate() {
            let what = format!("[[serve.notify]] #{}", i + 1);
            let name = match c.via {
                Via::Slack => "notify.slack",
                Via::Pagerduty => "notify.pagerduty",
                Via::Webhook => "notify.webhook",
            };
            let action = drctl_core::ActionRegistry::action(registry, name)
                .ok_or_else(|| format!("{what}: this build has no {name}"))?;
            let secret = match &c.secret_env {
                Some(var) => Some(
                    std::env::var(var)
                        .ok()
                        .filter(|v| !v.is_empty())
                        .ok_or_else(|| {
                            format!("{what}: secret_env names {var}, which is not set")
                        })?,
                ),
                None if c.via == Via::Webhook => None,
                None => {
                    return Err(format!(
                        "{what}: via = \"{}\" needs secret_env",
                        name.trim_start_matches("notify.")
                    ));
                }
            };
            if (c.via == Via::Webhook) != c.url.is_some() {
                return Err(format!(
                    "{what}: `url` is for via = \"webhook\", and it needs one"
                ));
            }
            if c.on.is_empty() {
                return Err(format!("{what}: `on` names no event"));
            }
            targets.push(Target {
                on: c.on.clone(),
                via: c.via,
                action,
                secret,
                url: c.url.clone(),
            });
        }
        Ok(Self { targets, store })
    }

    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// Sends each notice not sent before to every target that wants it; the errors,
    /// each naming the notice (a notice that failed is tried again next time).
    pub async fn send(
        &self,
        notices: &[Notice],
        now: Timestamp,
    ) -> Result<Vec<String>, StoreError> {
        let mut errors = Vec::new();
        for n in notices {
            let wanted: Vec<&Target> = self
                .targets
                .iter()
                .filter(|t| t.on.contains(&n.event))
                .collect();
            if wanted.is_empty() || !self.store.claim_notice(&n.key, now).await? {
                continue;
            }
            let mut failed = false;
            for t in wanted {
                if let Err(e) = deliver(t, n, now).await {
                    failed = true;
                    errors.push(format!("{} ({}): {e}", n.event.as_str(), n.schedule));
                }
            }
            if failed {
                self.store.release_notice(&n.key).await?;
            }
        }
        Ok(errors)
    }
}

async fn deliver(t: &Target, n: &Notice, now: Timestamp) -> Result<(), String> {
    let text = format!(
        "drctl: {} — {}",
        n.event.as_str().replace('_', " "),
        n.message
    );
    let input = match t.via {
        Via::Slack => json!({ "webhook": t.secret, "text": text }),
        Via::Pagerduty => json!({
            "routing_key": t.secret,
            // A readiness restored resolves the incident its loss opened.
            "event_action": if n.event == ServiceEvent::ReadinessRestored { "resolve" } else { "trigger" },
            "dedup_key": n.dedup.as_deref().unwrap_or(&n.key),
            "summary": text,
            "source": "drctl",
            "severity": match n.event {
                ServiceEvent::ScheduleMissed | ServiceEvent::ReadinessRestored => "warning",
                _ => "error",
            },
            "custom_details": { "runbook": n.runbook, "schedule": n.schedule },
        }),
        Via::Webhook => {
            let mut input = json!({
                "url": t.url,
                "body": {
                    "event": n.event.as_str(),
                    "runbook": n.runbook,
                    "schedule": n.schedule,
                    "message": n.message,
                    "run": n.run,
                    "at": now.to_rfc3339(),
                },
            });
            if let Some(secret) = &t.secret {
                input["hmac_secret"] = Value::String(secret.clone());
            }
            input
        }
    };
    let ctx = ActionCtx {
        // A notice about no run names a fresh id (never stored).
        run: n.run.clone().unwrap_or_else(|| RunId::from_parts(now, 0)),
        step: StepId::new("service_notice").map_err(|e| e.to_string())?,
        item: None,
        attempt: 1,
        cancel: CancellationToken::new(),
        live: None,
    };
    t.action
        .run(&ctx, input)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// The notice a readiness check owes: a change from the check before it.
pub fn readiness_change(
    before: Option<&drctl_store::ReadinessRow>,
    now: &drctl_store::ReadinessRow,
) -> Option<Notice> {
    let was_ready = before.is_none_or(|b| b.ready);
    let (event, message) = match (was_ready, now.ready) {
        (true, false) => (
            ServiceEvent::ReadinessLost,
            format!(
                "{} could not fail over now: {}",
                now.runbook,
                now.findings
                    .iter()
                    .map(|f| format!("{}: {}", f.step, f.why))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        ),
        (false, true) => (
            ServiceEvent::ReadinessRestored,
            format!("{} is ready again", now.runbook),
        ),
        _ => return None,
    };
    Some(Notice {
        event,
        key: format!("{}:{}:{}", event.as_str(), now.runbook, now.at.as_millis()),
        runbook: now.runbook.clone(),
        schedule: now.runbook.clone(),
        message,
        run: None,
        // One incident per runbook: the loss opens it, the restoration resolves it.
        dedup: Some(format!("drctl-readiness:{}", now.runbook)),
    })
}

/// The notices a tick owes: each missed firing it recorded, and each drill that is
/// overdue or whose last drill failed.
/// The notice each waiting proposal owes (sent once per proposed run).
pub fn proposed(proposals: &[crate::hooks::propose::ProposalView]) -> Vec<Notice> {
    proposals
        .iter()
        .map(|p| Notice {
            event: ServiceEvent::RunProposed,
            key: format!("run_proposed:{}", p.run),
            runbook: p.runbook.clone(),
            schedule: format!("webhook:{}", p.hook),
            message: format!(
                "webhook {} proposed run {} of {}{}; it starts only when confirmed, by {}: drctl hooks confirm {} --reason TEXT",
                p.hook,
                p.run,
                p.runbook,
                if p.drill { " (a drill)" } else { "" },
                p.expires,
                p.run
            ),
            run: Some(p.run.clone()),
            dedup: None,
        })
        .collect()
}

pub fn owed(fired: &[Fired], schedules: &[ScheduleView]) -> Vec<Notice> {
    let mut out = Vec::new();
    for f in fired.iter().filter(|f| f.outcome == FiringOutcome::Missed) {
        let schedule = super::schedule_id(&f.runbook, &f.trigger);
        out.push(Notice {
            event: ServiceEvent::ScheduleMissed,
            key: format!("schedule_missed:{schedule}:{}", f.nominal.as_millis()),
            runbook: f.runbook.clone(),
            message: format!(
                "{schedule}'s firing due {} was missed: {}",
                f.nominal.to_rfc3339(),
                f.reason.as_deref().unwrap_or("no reason recorded")
            ),
            schedule,
            run: None,
            dedup: None,
        });
    }
    for s in schedules {
        let Some(o) = &s.obligation else { continue };
        let schedule = s.id();
        let (event, episode, run) = match o.status {
            Obligation::Overdue => (
                ServiceEvent::DrillOverdue,
                // One notice per overdue stretch: until a new success ends it.
                o.last_success_run
                    .as_ref()
                    .map_or_else(|| "never".to_owned(), ToString::to_string),
                None,
            ),
            Obligation::Failed => {
                let run = s.last.as_ref().and_then(|f| f.run.clone());
                (ServiceEvent::DrillFailed, o.why.clone(), run)
            }
            _ => continue,
        };
        out.push(Notice {
            event,
            key: format!("{}:{schedule}:{episode}", event.as_str()),
            runbook: s.runbook.clone(),
            message: format!("{schedule}: {}", o.why),
            schedule,
            run,
            dedup: None,
        });
    }
    out
}
