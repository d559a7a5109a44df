//! Inline approval: a foreground `drctl run` on a terminal offers a waiting gate to the
//! operator at the keyboard when they are entitled to decide it. The answer goes through
//! the same inbox and the same checks as `drctl approve`, so the log cannot tell the two
//! apart except by what the operator typed.

use std::io::{BufRead as _, IsTerminal as _};
use std::sync::OnceLock;

use drctl_core::{Clock as _, RunId, StepId};
use drctl_engine::clock::SystemClock;
use drctl_engine::{Engine, OperatorCommand};
use drctl_run::approval::{check_decision, entries_for};
use drctl_run::event::Verdict;
use tokio::sync::mpsc;

use super::actor;
use crate::commands::{eprint, print};

/// Gates the progress printer has seen requested, for the prompt task.
static OFFERS: OnceLock<mpsc::UnboundedSender<(RunId, StepId, Vec<String>)>> = OnceLock::new();

/// Called by the progress printer when a gate starts waiting.
pub(super) fn offer(run: &RunId, step: &StepId, approvers: &[String]) {
    if let Some(tx) = OFFERS.get() {
        let _ = tx.send((run.clone(), step.clone(), approvers.to_vec()));
    }
}

/// Starts the prompt task when stdin and stdout are terminals.
pub(super) fn start(engine: &Engine) {
    if !(std::io::stdin().is_terminal() && std::io::stdout().is_terminal()) {
        return;
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    if OFFERS.set(tx).is_err() {
        return;
    }
    let engine = engine.clone();
    tokio::spawn(async move {
        while let Some((run, step, approvers)) = rx.recv().await {
            let me = actor();
            let mine = entries_for(&approvers, &me, &crate::config::get().groups_of(&me));
            let Ok(state) = engine.state(&run).await else {
                continue;
            };
            let now = SystemClock::new().now();
            // Only someone who could approve is asked; anyone else waits for others.
            if check_decision(&state, &step, &me, Verdict::Approve, "-", &mine, now).is_err() {
                continue;
            }
            print(&format!(
                "\nYou ({me}) may decide `{step}`. Type a comment to approve, `reject: why` to reject, or Enter to leave it to others:\n> "
            ));
            // A plain thread, not `spawn_blocking`: the runtime waits for its blocking
            // tasks when it shuts down, and a run that ends (someone else decided) must
            // not hang on a prompt nobody answers.
            let (tx, rx) = tokio::sync::oneshot::channel();
            std::thread::spawn(move || {
                let _ = tx.send(read_line());
            });
            let Ok(Ok(line)) = rx.await else {
                continue;
            };
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let (verdict, comment) = match line.strip_prefix("reject:") {
                Some(why) => (Verdict::Reject, why.trim()),
                None => (Verdict::Approve, line),
            };
            let Ok(state) = engine.state(&run).await else {
                continue;
            };
            let now = SystemClock::new().now();
            if let Err(why) = check_decision(&state, &step, &me, verdict, comment, &mine, now) {
                eprint(&format!("not recorded: {why}\n"));
                continue;
            }
            let command = OperatorCommand::Approval {
                step: step.clone(),
                verdict,
                comment: comment.to_owned(),
                on_behalf_of: mine,
            };
            if let Err(e) = engine.send(&run, &me, &command).await {
                eprint(&format!("not recorded: {e}\n"));
            }
        }
    });
}

fn read_line() -> std::io::Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line)
}
