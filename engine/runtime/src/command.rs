//! Operator commands, left in a run's inbox for whoever drives it.

use drctl_core::StepId;
use drctl_run::event::{Decision, EventKind, Verdict};
use serde::{Deserialize, Serialize};

use crate::secrets::Scrubber;

/// What an operator asks of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum OperatorCommand {
    Cancel {
        reason: String,
    },
    Step {
        step: StepId,
        item: Option<u32>,
        decision: Decision,
        /// See `EventKind::OperatorDecision`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        output: Option<serde_json::Value>,
    },
    /// An approver's decision on an approval step (`drctl approve|reject`).
    Approval {
        step: StepId,
        verdict: Verdict,
        comment: String,
        /// See `EventKind::ApprovalDecided`.
        on_behalf_of: Vec<drctl_core::Approver>,
    },
    /// A webhook delivery that joined the run (see `EventKind::DeliveryAttached`): the
    /// server's, not a person's, left in the inbox so that the run's driver records it
    /// wherever the run is driven.
    Delivery {
        hook: String,
        delivery: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        peer: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<String>,
    },
}

/// The longest comment or reason an operator may give.
pub const MAX_TEXT: usize = 4096;

/// Characters that reorder or hide what is shown after them (bidirectional overrides
/// and isolates): `ok \u{202e}gnp.exe` reads as `ok exe.png`.
fn reorders(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Characters that show nothing on their own: spaces, zero-width and format characters,
/// blank-looking fillers, variation selectors, combining marks and tags.
fn invisible(c: char) -> bool {
    c.is_whitespace()
        || reorders(c)
        || matches!(
            c,
            '\u{00ad}'
                | '\u{0300}'..='\u{036f}'
                | '\u{061c}'
                | '\u{115f}'..='\u{1160}'
                | '\u{17b4}'..='\u{17b5}'
                | '\u{180b}'..='\u{180f}'
                | '\u{1cbc}'..='\u{1cbd}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2060}'..='\u{206f}'
                | '\u{2800}'
                | '\u{3164}'
                | '\u{fe00}'..='\u{fe0f}'
                | '\u{feff}'
                | '\u{ffa0}'
                | '\u{fff0}'..='\u{fffc}'
                | '\u{1bca0}'..='\u{1bca3}'
                | '\u{1d173}'..='\u{1d17a}'
                | '\u{e0000}'..='\u{e0fff}'
        )
}

/// As [`check_text`], for a reason that must say something: at least one visible
/// character.
pub fn check_reason(what: &str, text: &str) -> Result<(), String> {
    check_text(what, text)?;
    if text.chars().all(invisible) {
        return Err(format!("{what} is empty: say why, in words"));
    }
    Ok(())
}

/// Whether a person's text (a reason, a comment) may be recorded: at most [`MAX_TEXT`]
/// bytes, one line of plain text (a control character could forge lines or colours in a
/// terminal that shows it, a bidirectional override reorder what follows it).
pub fn check_text(what: &str, text: &str) -> Result<(), String> {
    if text.len() > MAX_TEXT {
        return Err(format!(
            "{what} is {} bytes long; at most {MAX_TEXT} are accepted",
            text.len()
        ));
    }
    if let Some(c) = text.chars().find(|c| c.is_control()) {
        return Err(format!(
            "{what} holds a control character ({}); write it on one line of plain text",
            c.escape_default()
        ));
    }
    if let Some(c) = text.chars().find(|c| matches!(c, '\u{2028}' | '\u{2029}')) {
        return Err(format!(
            "{what} holds a line or paragraph separator ({}); write it on one line",
            c.escape_unicode()
        ));
    }
    if !text.is_empty() && text.chars().all(invisible) {
        return Err(format!(
            "{what} shows nothing: say it in words, or leave it empty"
        ));
    }
    if let Some(c) = text.chars().find(|c| reorders(*c)) {
        return Err(format!(
            "{what} holds a character that reorders the text after it ({}); write it without",
            c.escape_unicode()
        ));
    }
    Ok(())
}

impl OperatorCommand {
    /// Refuses what an operator typed that a log could not show faithfully: control
    /// characters (a `\r` or an escape sequence can forge or hide a line on a terminal),
    /// or more than [`MAX_TEXT`] bytes.
    pub fn check_text(&self) -> Result<(), String> {
        let (what, text) = match self {
            OperatorCommand::Cancel { reason } => ("the reason", reason),
            OperatorCommand::Approval { comment, .. } => ("the comment", comment),
            OperatorCommand::Step { .. } => return Ok(()),
            OperatorCommand::Delivery { id, key, .. } => {
                for (what, text) in [("the delivery id", id), ("the dedup key", key)] {
                    check_text(what, text.as_deref().unwrap_or_default())?;
                }
                return Ok(());
            }
        };
        check_text(what, text)
    }

    /// The command with the secret values in what the operator wrote masked.
    pub fn masked(mut self, scrubber: &Scrubber) -> Self {
        match &mut self {
            OperatorCommand::Cancel { reason: text }
            | OperatorCommand::Approval { comment: text, .. } => {
                *text = scrubber.text(text);
            }
            OperatorCommand::Step { output, .. } => {
                if let Some(o) = output.as_mut() {
                    scrubber.value(o);
                }
            }
            OperatorCommand::Delivery { key, .. } => {
                if let Some(k) = key.as_mut() {
                    *k = scrubber.text(k);
                }
            }
        }
        self
    }

    /// The event that records it in the run's log.
    pub fn event(&self) -> EventKind {
        match self.clone() {
            OperatorCommand::Cancel { reason } => EventKind::CancelRequested { reason },
            OperatorCommand::Step {
                step,
                item,
                decision,
                output,
            } => EventKind::OperatorDecision {
                step,
                item,
                decision,
                output,
            },
            OperatorCommand::Approval {
                step,
                verdict,
                comment,
                on_behalf_of,
            } => EventKind::ApprovalDecided {
                step,
                verdict,
                comment,
                on_behalf_of,
            },
            OperatorCommand::Delivery {
                hook,
                delivery,
                id,
                peer,
                key,
            } => EventKind::DeliveryAttached {
                hook,
                delivery,
                id,
                peer,
                key,
            },
        }
    }

    /// What was asked, as a person would say it: `skip step deploy`, `approve gate`.
    pub fn describe(&self) -> String {
        match self {
            OperatorCommand::Cancel { .. } => "cancel the run".to_owned(),
            OperatorCommand::Step {
                step,
                item,
                decision,
                ..
            } => {
                let item = item.map(|i| format!(" item {i}")).unwrap_or_default();
                format!("{} step {step}{item}", decision.as_str())
            }
            OperatorCommand::Approval { step, verdict, .. } => {
                let verb = match verdict {
                    Verdict::Approve => "approve",
                    Verdict::Reject => "reject",
                };
                format!("{verb} {step}")
            }
            OperatorCommand::Delivery { hook, delivery, .. } => {
                format!("attach delivery {delivery} of webhook {hook}")
            }
        }
    }
}
