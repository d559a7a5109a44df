//! Keys: the key map (what `?` shows is generated from it) and what each key does to the
//! state. A key that needs the outside world (a load, an action) returns a [`Task`]; the
//! loop runs it, so the screen never waits on IO.

use drctl_core::StepId;
use drctl_run::event::{Decision, Verdict};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::source::Act;
use crate::state::{App, Popup, Screen};

/// What the loop does for a key.
#[derive(Debug, Clone, PartialEq)]
pub enum Task {
    /// Load everything the screens show again.
    Reload,
    Send(Act),
}

/// One row of the help: where a key works, the key, what it does.
pub const KEYS: &[(&str, &str, &str)] = &[
    ("anywhere", "?", "this help"),
    (
        "anywhere",
        ":",
        "command line: :runs :approvals :schedules :run ID :quit",
    ),
    ("anywhere", "1 2 3", "runs, approvals, schedules"),
    ("anywhere", "Esc", "back (closes a popup first)"),
    ("anywhere", "q", "quit"),
    ("anywhere", "↑ ↓ j k", "move"),
    (
        "runs",
        "/",
        "filter: words that must all appear (runbook, status, drill, ...)",
    ),
    ("runs", "Enter", "open the run"),
    ("run", "Enter", "open the selected step"),
    (
        "run, step",
        "a / x",
        "approve / reject the gate waiting (with a comment)",
    ),
    ("run, step", "c", "cancel the run"),
    ("run, step", "R", "resume the run (through a server)"),
    ("run, step", "t", "retry the step"),
    (
        "run, step",
        "S / F",
        "skip / fail the step (type its id to confirm)",
    ),
    (
        "run, step",
        "O",
        "skip the step, giving its output as JSON (it took effect)",
    ),
    ("approvals", "a / x", "approve / reject the selected gate"),
    ("popup", "Enter / y", "send"),
];

/// Applies a key; the tasks it asks for.
pub fn key(app: &mut App, k: KeyEvent) -> Vec<Task> {
    if k.modifiers.contains(KeyModifiers::CONTROL) {
        // Ctrl-C quits; no other Ctrl key means anything here.
        app.quit |= k.code == KeyCode::Char('c');
        return Vec::new();
    }
    if k.modifiers.contains(KeyModifiers::ALT) {
        // An Esc typed just before a key arrives as Alt+key: it is that Esc, then the key.
        let mut tasks = key(app, KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
        tasks.extend(key(
            app,
            KeyEvent::new(k.code, k.modifiers - KeyModifiers::ALT),
        ));
        return tasks;
    }
    if app.popup.is_some() {
        return popup_key(app, k);
    }
    if let Some(line) = app.command.as_mut() {
        match k.code {
            KeyCode::Esc => app.command = None,
            KeyCode::Enter => {
                let line = app.command.take().unwrap_or_default();
                app.status.clear();
                return command(app, &line);
            }
            code => type_into(line, code),
        }
        return Vec::new();
    }
    if app.filtering {
        match k.code {
            KeyCode::Esc => {
                app.filtering = false;
                app.filter.clear();
            }
            KeyCode::Enter => app.filtering = false,
            code => type_into(&mut app.filter, code),
        }
        app.run_sel = 0;
        return Vec::new();
    }
    match k.code {
        KeyCode::Char('q') => app.quit = true,
        KeyCode::Char('?') => go(app, Screen::Help),
        KeyCode::Char(':') => app.command = Some(String::new()),
        KeyCode::Char('1') => top(app, Screen::Runs),
        KeyCode::Char('2') => top(app, Screen::Approvals),
        KeyCode::Char('3') => top(app, Screen::Schedules),
        KeyCode::Esc => back(app),
        KeyCode::Up | KeyCode::Char('k') => step_selection(app, -1),
        KeyCode::Down | KeyCode::Char('j') => step_selection(app, 1),
        KeyCode::PageUp => step_selection(app, -10),
        KeyCode::PageDown => step_selection(app, 10),
        _ => return screen_key(app, k),
    }
    Vec::new()
}

/// The longest line a person types here (a comment, a filter, a command).
const MAX_TYPED: usize = 4096;

/// A key typed into a line of text: a character added, Backspace takes one back.
fn type_into(text: &mut String, code: KeyCode) {
    match code {
        KeyCode::Backspace => {
            text.pop();
        }
        KeyCode::Char(c) if text.len() < MAX_TYPED => text.push(c),
        _ => {}
    }
}

fn go(app: &mut App, s: Screen) {
    if app.screen() != &s {
        app.stack.push(s);
    }
}

fn top(app: &mut App, s: Screen) {
    app.stack = vec![Screen::Runs];
    go(app, s);
}

fn back(app: &mut App) {
    if app.stack.len() > 1 {
        app.stack.pop();
    }
}

fn step_selection(app: &mut App, by: isize) {
    let (runs, steps, gates) = (app.shown_runs().len(), app.step_count(), app.gates.len());
    let (sel, len) = match app.screen() {
        Screen::Runs => (&mut app.run_sel, runs),
        Screen::Run(_) => (&mut app.step_sel, steps),
        Screen::Approvals => (&mut app.gate_sel, gates),
        // The step screen scrolls its text.
        Screen::Step(..) => (&mut app.scroll, usize::MAX),
        _ => return,
    };
    let max = len.saturating_sub(1);
    *sel = sel.saturating_add_signed(by).min(max);
}

fn command(app: &mut App, line: &str) -> Vec<Task> {
    let mut words = line.split_whitespace();
    match (words.next(), words.next()) {
        (Some("runs"), _) => top(app, Screen::Runs),
        (Some("approvals"), _) => top(app, Screen::Approvals),
        (Some("schedules"), _) => top(app, Screen::Schedules),
        (Some("q" | "quit"), _) => app.quit = true,
        (Some("run"), None) => app.status = "`:run ID`: which run?".into(),
        (Some("run"), Some(id)) => {
            // A unique prefix of a listed run, as the CLI takes it.
            let found: Vec<_> = app
                .runs
                .iter()
                .filter(|r| r.id.as_str().starts_with(id))
                .map(|r| r.id.clone())
                .collect();
            match found.as_slice() {
                [one] => {
                    app.step_sel = 0;
                    app.run = None;
                    go(app, Screen::Run(one.clone()));
                    return vec![Task::Reload];
                }
                [] => app.status = format!("no listed run starts with `{id}`"),
                _ => app.status = format!("`{id}` names {} runs: type more of it", found.len()),
            }
        }
        _ => app.status = format!("unknown command `:{line}`; `?` lists what there is"),
    }
    Vec::new()
}

fn screen_key(app: &mut App, k: KeyEvent) -> Vec<Task> {
    match (app.screen().clone(), k.code) {
        (Screen::Runs, KeyCode::Char('/')) => app.filtering = true,
        (Screen::Runs, KeyCode::Enter) => {
            if let Some(r) = app.shown_runs().get(app.run_sel) {
                let id = r.id.clone();
                app.step_sel = 0;
                app.run = None;
                go(app, Screen::Run(id));
                return vec![Task::Reload];
            }
        }
        (Screen::Run(run), KeyCode::Enter) => {
            if let Some(step) = app.selected_step() {
                app.scroll = 0;
                go(app, Screen::Step(run, step));
            }
        }
        (Screen::Approvals, KeyCode::Char(c @ ('a' | 'x'))) => {
            if let Some(g) = app.gates.get(app.gate_sel) {
                let (run, step) = (g.run.clone(), g.step.clone());
                decide(app, run, step, c);
            }
        }
        (Screen::Run(run) | Screen::Step(run, _), KeyCode::Char(c)) => steer(app, run, c),
        _ => {}
    }
    Vec::new()
}

/// Opens the popup to approve (`a`) or reject (`x`) a gate, with the refusal the
/// entitlement and four-eyes checks give for this identity, before anything is sent.
fn decide(app: &mut App, run: drctl_core::RunId, step: StepId, key: char) {
    if app.read_only {
        app.status = "read-only: nothing can be decided from this console".into();
        return;
    }
    let refused = app
        .gates
        .iter()
        .find(|g| g.run == run && g.step == step)
        .map_or_else(
            || Some(format!("{step} is not waiting for a decision")),
            |g| g.why_not.clone().filter(|_| !g.may_decide),
        );
    app.popup = Some(Popup::Decide {
        run,
        step,
        verdict: if key == 'a' {
            Verdict::Approve
        } else {
            Verdict::Reject
        },
        comment: String::new(),
        refused,
    });
}

/// The steering keys of the run and step screens, each behind a confirmation.
fn steer(app: &mut App, run: drctl_core::RunId, key: char) {
    if !matches!(key, 'a' | 'x' | 'c' | 'R' | 't' | 'S' | 'F' | 'O') {
        return;
    }
    if app.read_only {
        app.status = "read-only: nothing can be changed from this console".into();
        return;
    }
    let step = app.selected_step();
    if matches!(key, 'a' | 'x') {
        match step {
            Some(step) => decide(app, run, step, key),
            None => app.status = "no step selected".into(),
        }
        return;
    }
    let popup = match (key, step) {
        ('c', _) => Popup::Confirm {
            says: format!(
                "Cancel run {run}? Its running steps are stopped and its `finally` steps run."
            ),
            act: Act::Cancel {
                run,
                reason: "cancelled from the console".into(),
            },
            typed: None,
        },
        ('R', _) => Popup::Confirm {
            says: format!("Resume run {run}? The server drives it from where it stopped."),
            act: Act::Resume { run },
            typed: None,
        },
        ('O', Some(step)) => Popup::Output {
            run,
            step,
            json: String::new(),
            invalid: None,
        },
        ('t', Some(step)) => Popup::Confirm {
            says: format!("Retry step {step}? Its action is called again."),
            act: step_act(run, step, Decision::Retry),
            typed: None,
        },
        (k @ ('S' | 'F'), Some(step)) => {
            let (decision, says) = if k == 'S' {
                (
                    Decision::Skip,
                    format!(
                        "Skip step {step}? It is recorded skipped; steps that need it go on without its output."
                    ),
                )
            } else {
                (
                    Decision::Fail,
                    format!("Fail step {step}? The run fails, and compensates what succeeded."),
                )
            };
            Popup::Confirm {
                says,
                typed: Some((step.to_string(), String::new())),
                act: step_act(run, step, decision),
            }
        }
        _ => {
            app.status = "no step selected".into();
            return;
        }
    };
    app.popup = Some(popup);
}

fn step_act(run: drctl_core::RunId, step: StepId, decision: Decision) -> Act {
    Act::Step {
        run,
        step,
        item: None,
        decision,
        output: None,
    }
}

fn popup_key(app: &mut App, k: KeyEvent) -> Vec<Task> {
    let Some(popup) = app.popup.as_mut() else {
        return Vec::new();
    };
    if k.code == KeyCode::Esc {
        app.popup = None;
        return Vec::new();
    }
    match popup {
        Popup::Decide {
            run,
            step,
            verdict,
            comment,
            refused,
        } => match k.code {
            KeyCode::Enter if refused.is_none() => {
                let act = Act::Decide {
                    run: run.clone(),
                    step: step.clone(),
                    verdict: *verdict,
                    comment: comment.clone(),
                };
                app.popup = None;
                return vec![Task::Send(act), Task::Reload];
            }
            code => type_into(comment, code),
        },
        Popup::Output {
            run,
            step,
            json,
            invalid,
        } => match k.code {
            KeyCode::Enter => match serde_json::from_str::<serde_json::Value>(json) {
                Ok(output) => {
                    let says = format!(
                        "Skip step {step}, recording that it took effect with output {output}? The steps after it read that output."
                    );
                    let act = Act::Step {
                        run: run.clone(),
                        step: step.clone(),
                        item: None,
                        decision: Decision::Skip,
                        output: Some(output),
                    };
                    app.popup = Some(Popup::Confirm {
                        says,
                        typed: Some((step.to_string(), String::new())),
                        act,
                    });
                }
                Err(e) => *invalid = Some(format!("not JSON: {e}")),
            },
            code => {
                type_into(json, code);
                *invalid = None;
            }
        },
        Popup::Confirm { act, typed, .. } => match (typed, k.code) {
            (None, KeyCode::Char('y') | KeyCode::Enter) => {
                let act = act.clone();
                app.popup = None;
                return vec![Task::Send(act), Task::Reload];
            }
            (None, KeyCode::Char('n')) => app.popup = None,
            (Some((want, got)), KeyCode::Enter) if want == got => {
                let act = act.clone();
                app.popup = None;
                return vec![Task::Send(act), Task::Reload];
            }
            (Some((_, got)), code) => type_into(got, code),
            _ => {}
        },
    }
    Vec::new()
}

/// What an action's answer does to the state: shown in the status line, or, for a
/// decision the server refused, in its popup again.
pub fn acted(app: &mut App, act: &Act, answer: Result<String, String>) {
    match (act, answer) {
        (_, Ok(said)) => app.status = said,
        (
            Act::Decide {
                run,
                step,
                verdict,
                comment,
            },
            Err(why),
        ) => {
            app.status = "the decision was refused: see why in the box".into();
            app.popup = Some(Popup::Decide {
                run: run.clone(),
                step: step.clone(),
                verdict: *verdict,
                comment: comment.clone(),
                refused: Some(why),
            });
        }
        (_, Err(why)) => app.status = why,
    }
}
