//! What keys do to the console's state: the typed confirmation needs the step's exact
//! id, read-only sends nothing, the command line and the filter, Ctrl and Alt keys.

#![allow(clippy::unwrap_used)]

use drctl_core::{RunId, StepId, Timestamp};
use drctl_tui::keys::{Task, key};
use drctl_tui::source::Act;
use drctl_tui::state::{App, Popup, Screen};
use drctl_tui::theme::Theme;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

fn press(app: &mut App, code: KeyCode) -> Vec<Task> {
    key(app, KeyEvent::new(code, KeyModifiers::NONE))
}

fn typed(app: &mut App, text: &str) {
    for c in text.chars() {
        press(app, KeyCode::Char(c));
    }
}

fn confirm_skip(app: &mut App) -> RunId {
    let run = RunId::from_parts(Timestamp::from_millis(1_800_000_000_000), 1);
    app.stack = vec![Screen::Runs, Screen::Run(run.clone())];
    app.popup = Some(Popup::Confirm {
        says: "Skip step promote?".into(),
        act: Act::Step {
            run: run.clone(),
            step: StepId::new("promote").unwrap(),
            item: None,
            decision: drctl_run::event::Decision::Skip,
            output: None,
        },
        typed: Some(("promote".into(), String::new())),
    });
    run
}

#[test]
fn a_destructive_action_is_sent_only_once_its_step_id_is_typed_exactly() {
    let mut app = App::new(Theme::default(), false, "bob".into());
    confirm_skip(&mut app);
    // `y` is a letter of the id here, not a yes.
    assert!(press(&mut app, KeyCode::Char('y')).is_empty());
    press(&mut app, KeyCode::Backspace);
    typed(&mut app, "promot");
    assert!(press(&mut app, KeyCode::Enter).is_empty(), "not yet the id");
    assert!(app.popup.is_some());
    typed(&mut app, "e");
    let tasks = press(&mut app, KeyCode::Enter);
    assert!(
        matches!(tasks.first(), Some(Task::Send(Act::Step { .. }))),
        "{tasks:?}"
    );
    assert!(app.popup.is_none());
    // Esc closes a popup without sending.
    confirm_skip(&mut app);
    assert!(press(&mut app, KeyCode::Esc).is_empty());
    assert!(app.popup.is_none());
}

#[test]
fn read_only_opens_no_action() {
    let mut app = App::new(Theme::default(), true, "bob".into());
    let run = RunId::from_parts(Timestamp::from_millis(1_800_000_000_000), 1);
    app.stack = vec![Screen::Runs, Screen::Run(run)];
    for k in ['c', 'R', 't', 'S', 'F', 'a', 'x'] {
        assert!(press(&mut app, KeyCode::Char(k)).is_empty());
        assert!(app.popup.is_none(), "{k} opened a popup");
    }
    assert!(app.status.contains("read-only"), "{}", app.status);
}

#[test]
fn the_command_line_ctrl_and_alt() {
    let mut app = App::new(Theme::default(), false, "bob".into());
    press(&mut app, KeyCode::Char(':'));
    typed(&mut app, "approvals");
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.screen(), &Screen::Approvals);
    press(&mut app, KeyCode::Char(':'));
    typed(&mut app, "run");
    press(&mut app, KeyCode::Enter);
    assert!(app.status.contains("which run"), "{}", app.status);
    // A Ctrl key other than Ctrl-C does nothing; Alt+key is Esc then the key.
    key(
        &mut app,
        KeyEvent::new(KeyCode::Char('q'), KeyModifiers::CONTROL),
    );
    assert!(!app.quit);
    key(
        &mut app,
        KeyEvent::new(KeyCode::Char('1'), KeyModifiers::ALT),
    );
    assert_eq!(app.screen(), &Screen::Runs);
    key(
        &mut app,
        KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL),
    );
    assert!(app.quit);
}

#[test]
fn a_skip_with_output_needs_json_then_the_step_id() {
    let mut app = App::new(Theme::default(), false, "bob".into());
    let run = RunId::from_parts(Timestamp::from_millis(1_800_000_000_000), 1);
    app.stack = vec![
        Screen::Runs,
        Screen::Step(run, StepId::new("promote").unwrap()),
    ];
    press(&mut app, KeyCode::Char('O'));
    typed(&mut app, "{\"lsn\": ");
    press(&mut app, KeyCode::Enter);
    assert!(
        matches!(&app.popup, Some(Popup::Output { invalid: Some(why), .. }) if why.starts_with("not JSON")),
        "{:?}",
        app.popup
    );
    typed(&mut app, "42}");
    press(&mut app, KeyCode::Enter);
    assert!(
        matches!(app.popup, Some(Popup::Confirm { .. })),
        "{:?}",
        app.popup
    );
    typed(&mut app, "promote");
    let tasks = press(&mut app, KeyCode::Enter);
    match tasks.first() {
        Some(Task::Send(Act::Step { output, .. })) => {
            assert_eq!(output, &Some(serde_json::json!({ "lsn": 42 })));
        }
        other => panic!("{other:?}"),
    }
}
