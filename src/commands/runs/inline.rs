//! Inline approval: a foreground `drctl run` on a terminal offers a waiting gate to the
//! operator at the keyboard when they are entitled to decide it. The answer goes through
//! the same checks and the same inbox as `drctl approve`.
//!
//! Deciding is an explicit act: only `approve: <comment>` approves and only
//! `reject: <reason>` rejects; Enter leaves the gate to others, and anything else is
//! answered with how to decide and asked again (a stray `no` must never approve a
//! failover). While the prompt is open, progress lines are held and printed after it
//! closes, so nothing is written over what the operator is typing. The prompt is
//! withdrawn when someone else settles the gate.

use std::io::{BufRead as _, IsTerminal as _};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use drctl_core::{RunId, StepId};
use drctl_engine::{Engine, OperatorCommand};
use drctl_run::RunState;
use drctl_run::approval::entries_for;
use drctl_run::event::Verdict;
use tokio::sync::mpsc;

use super::actor;
use crate::commands::print;
use drctl_server::ops::approvals::{approvers_of, may_decide};
use drctl_server::ops::deliver::{Delivered, WAIT, deliver};

/// Gates the progress printer has seen requested, for the prompt task.
static OFFERS: OnceLock<mpsc::UnboundedSender<(RunId, StepId)>> = OnceLock::new();

/// A prompt is open: progress lines wait in `HELD`.
static PROMPTING: AtomicBool = AtomicBool::new(false);
static HELD: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// How often an open prompt checks whether the gate is still waiting.
const RECHECK: Duration = Duration::from_millis(500);

/// Called by the progress printer when a gate starts waiting.
pub(super) fn offer(run: &RunId, step: &StepId) {
    if let Some(tx) = OFFERS.get() {
        let _ = tx.send((run.clone(), step.clone()));
    }
}

/// Prints a progress line, or holds it while a prompt is open.
pub(super) fn emit(text: &str) {
    if PROMPTING.load(Ordering::SeqCst)
        && let Ok(mut held) = HELD.lock()
    {
        held.push(text.to_owned());
        return;
    }
    print(text);
}

/// Closes the prompt and prints what was held meanwhile (also when the run ends while a
/// prompt is open, so that no progress line is lost).
pub(super) fn release() {
    let held = HELD
        .lock()
        .map(|mut h| std::mem::take(&mut *h))
        .unwrap_or_default();
    PROMPTING.store(false, Ordering::SeqCst);
    for line in held {
        print(&line);
    }
}

/// What the operator typed.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    Leave,
    Decide(Verdict, String),
    Unclear,
}

fn parse(line: &str) -> Answer {
    let line = line.trim();
    if line.is_empty() {
        return Answer::Leave;
    }
    let Some((word, rest)) = line.split_once(':') else {
        return Answer::Unclear;
    };
    let verdict = match word.trim().to_ascii_lowercase().as_str() {
        "approve" => Verdict::Approve,
        "reject" => Verdict::Reject,
        _ => return Answer::Unclear,
    };
    Answer::Decide(verdict, rest.trim().to_owned())
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
    // One reader of the terminal for the whole process, on a plain thread: a blocked
    // read cannot be cancelled, and a prompt withdrawn must not leave a reader behind
    // that swallows the answer to the next one. (Not `spawn_blocking`: the runtime waits
    // for those at shutdown, and nobody may ever type again.)
    let (line_tx, mut lines) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        loop {
            let mut line = String::new();
            match stdin.lock().read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    if line_tx.send(line).is_err() {
                        return;
                    }
                }
            }
        }
    });
    let engine = engine.clone();
    tokio::spawn(async move {
        while let Some((run, step)) = rx.recv().await {
            PROMPTING.store(true, Ordering::SeqCst);
            prompt(&engine, &run, &step, &mut lines).await;
            release();
        }
    });
}

/// Lines typed into the terminal.
type Lines = mpsc::UnboundedReceiver<String>;

/// Whether `me` could approve the gate in this state.
fn may_approve(state: &RunState, step: &StepId, me: &drctl_core::Actor) -> bool {
    let groups = crate::config::get().groups_of(me);
    may_decide(state, step, (me, &groups), Verdict::Approve, "-", now()).is_ok()
}

/// Asks until the operator decides, leaves the gate, or it is settled by someone else.
async fn prompt(engine: &Engine, run: &RunId, step: &StepId, lines: &mut Lines) {
    let me = actor();
    let mut text = format!(
        "\nYou ({me}) may decide `{step}`. Type `approve: <comment>` to approve, `reject: <reason>` to reject, or Enter to leave it to others:\n> "
    );
    loop {
        if lines.is_closed() && lines.is_empty() {
            return;
        }
        // Only someone who could approve is asked; anyone else waits for others.
        match engine.state(run).await {
            Ok(state) if may_approve(&state, step, &me) => {}
            _ => return,
        }
        // What was typed while no prompt was open answers nothing.
        while lines.try_recv().is_ok() {}
        print(&text);
        let line = match read_line_while_waiting(engine, run, step, &me, lines).await {
            Typed::Line(line) => line,
            Typed::Settled => {
                print("\n(the gate was settled meanwhile; prompt withdrawn)\n");
                return;
            }
            Typed::Closed => {
                print("\n(no more input from the terminal; the gate is left to others)\n");
                return;
            }
        };
        let (verdict, comment) = match parse(&line) {
            Answer::Leave => return,
            Answer::Decide(verdict, comment) => (verdict, comment),
            Answer::Unclear => {
                text = "Not understood. Type `approve: <comment>`, `reject: <reason>`, or Enter to leave it to others:\n> ".to_owned();
                continue;
            }
        };
        if let Some(text_after) = send(engine, run, step, &me, verdict, &comment).await {
            text = text_after;
            continue;
        }
        return;
    }
}

/// Sends a decision; returns the prompt to show again when it was not recorded.
async fn send(
    engine: &Engine,
    run: &RunId,
    step: &StepId,
    me: &drctl_core::Actor,
    verdict: Verdict,
    comment: &str,
) -> Option<String> {
    let groups = crate::config::get().groups_of(me);
    let Ok(state) = engine.state(run).await else {
        return None;
    };
    let command = OperatorCommand::Approval {
        step: step.clone(),
        verdict,
        comment: comment.to_owned(),
        on_behalf_of: entries_for(&approvers_of(&state, step), me, &groups),
    };
    let check = |state: &RunState| may_decide(state, step, (me, &groups), verdict, comment, now());
    match deliver(engine, run, me, &command, &check, WAIT).await {
        Ok(Delivered::Refused(why)) => Some(format!(
            "Not recorded: {why}.\nType `approve: <comment>`, `reject: <reason>`, or Enter to leave it to others:\n> "
        )),
        Err(e) => Some(format!(
            "Not recorded: {e:#}.\nType `approve: <comment>`, `reject: <reason>`, or Enter to leave it to others:\n> "
        )),
        Ok(_) => None,
    }
}

/// What came of waiting for the operator.
enum Typed {
    Line(String),
    /// The gate no longer waits for them (someone decided, the run moved on).
    Settled,
    /// The terminal closed (Ctrl-D): nothing more will be typed.
    Closed,
}

/// A line from the terminal, unless the gate stops waiting for `me` or input ends.
async fn read_line_while_waiting(
    engine: &Engine,
    run: &RunId,
    step: &StepId,
    me: &drctl_core::Actor,
    lines: &mut Lines,
) -> Typed {
    loop {
        tokio::select! {
            line = lines.recv() => return line.map_or(Typed::Closed, Typed::Line),
            () = tokio::time::sleep(RECHECK) => {
                match engine.state(run).await {
                    Ok(state) if may_approve(&state, step, me) => {}
                    _ => return Typed::Settled,
                }
            }
        }
    }
}

fn now() -> drctl_core::Timestamp {
    use drctl_core::Clock as _;
    drctl_engine::clock::SystemClock::new().now()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_explicit_answer_decides() {
        assert_eq!(
            parse("approve: lag is 0"),
            Answer::Decide(Verdict::Approve, "lag is 0".into())
        );
        assert_eq!(
            parse(" Reject:replica behind "),
            Answer::Decide(Verdict::Reject, "replica behind".into())
        );
        assert_eq!(parse(""), Answer::Leave);
        for unclear in ["no", "yes", "ok", "y", "nope: x", "approved", "lgtm"] {
            assert_eq!(parse(unclear), Answer::Unclear, "{unclear}");
        }
    }
}
