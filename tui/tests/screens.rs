//! Every screen on ratatui's `TestBackend` at 80x24 and 160x48, as insta snapshots:
//! an empty database, a run that failed, a run whose RTO is breached while its gate
//! waits, a step, the approvals (one refused to this identity), the schedules, the help
//! and the popups. Runs are real: created and driven by the engine on the in-memory
//! store, on a manual clock, so every time on screen is fixed; the random part of run
//! ids is masked.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use drctl_connectors::Registry;
use drctl_core::{Actor, ManualClock, RunId, StepId, Timestamp, Trigger};
use drctl_engine::{DriveOptions, Engine, EngineConfig, NewRunRequest};
use drctl_run::event::Verdict;
use drctl_runbook::Source;
use drctl_server::ops::runs::RunQuery;
use drctl_server::schedule::view::ScheduleList;
use drctl_store::{MemoryStore, Store};
use drctl_tui::runmodel::RunModel;
use drctl_tui::source::Act;
use drctl_tui::state::{App, Popup, Screen};
use drctl_tui::theme::Theme;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

/// 2026-11-02T10:00:00Z.
const T0: i64 = 1_793_613_600_000;

const FAILING: &str = r#"runbook: nightly-restore
description: Restore last night's backup into the standby and check it.
steps:
  - { id: fetch_backup, action: log, with: { message: "fetching" } }
  - { id: restore, needs: [fetch_backup], action: log, with: { message: "restoring" } }
  - id: check_rows
    needs: [restore]
    action: assert
    with: { that: "{{ 1 == 2 }}", message: "the restored table has 0 rows, expected 1204" }
  - { id: report, needs: [check_rows], action: log, with: { message: "done" } }
"#;

const GATED: &str = r#"runbook: region-failover
objectives: { rto: 2m }
steps:
  - { id: check_replica, action: log, with: { message: "replica ok" }, marks: [rto_start] }
  - id: approve_failover
    needs: [check_replica]
    approval: { approvers: [alice, group:sre], message: "Fail eu-west over to eu-central?" }
  - { id: promote, needs: [approve_failover], action: log, with: { message: "promoted" } }
  - { id: switch_dns, needs: [promote], action: log, with: { message: "dns" }, marks: [rto_end] }
"#;

struct World {
    engine: Engine,
    store: Arc<dyn Store>,
    clock: ManualClock,
    registry: Registry,
}

impl World {
    fn new() -> Self {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let clock = ManualClock::new(Timestamp::from_millis(T0));
        let registry = Registry::builtin();
        let engine = Engine::new(
            store.clone(),
            Arc::new(registry.clone()),
            Arc::new(clock.clone()),
            EngineConfig::default(),
        );
        Self {
            engine,
            store,
            clock,
            registry,
        }
    }

    /// Creates a run of `yaml` and drives it as far as it goes.
    async fn run(&self, file: &str, yaml: &str, by: &str) -> RunId {
        let req = NewRunRequest {
            source: Source::new(file, yaml),
            callees: Vec::new(),
            params: serde_json::Map::new(),
            actor: Actor::from_stored(by),
            trigger: Trigger::Manual,
            drill: false,
            parent: None,
        };
        let id = self.engine.create_run(req).await.unwrap();
        self.clock.advance(Duration::from_secs(3));
        // Driven until it ends, or its gate waits: then it is handed back, as a server
        // going down would.
        let release = tokio_util::sync::CancellationToken::new();
        let options = DriveOptions {
            release: release.clone(),
            ..DriveOptions::default()
        };
        let (engine, run) = (self.engine.clone(), id.clone());
        let drive = tokio::spawn(async move { engine.drive(&run, options).await });
        while !drive.is_finished() {
            let waiting = self
                .store
                .events(&id, 0)
                .await
                .unwrap()
                .iter()
                .any(|e| e.kind == "approval_requested");
            if waiting {
                release.cancel();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        drive.await.unwrap().unwrap();
        id
    }

    async fn model(&self, id: &RunId) -> RunModel {
        let events = self.engine.events(id).await.unwrap();
        RunModel::build(events, &self.registry).unwrap()
    }

    /// The console as `me` sees it at `now`.
    async fn app(&self, me: &str, now: Timestamp) -> App {
        let mut app = App::new(Theme::default(), false, format!("{me} (local)"));
        app.now = now;
        app.runs = drctl_server::ops::runs::list(
            self.store.as_ref(),
            &RunQuery {
                all: true,
                limit: 100,
                ..RunQuery::default()
            },
            now,
        )
        .await
        .unwrap();
        app.gates = drctl_server::ops::approvals::gates(
            &self.engine,
            self.store.as_ref(),
            (&Actor::from_stored(me), &[]),
            now,
        )
        .await
        .unwrap();
        app
    }
}

/// The frame's text, one line per row, run ids' random part masked.
fn shot(app: &App, (w, h): (u16, u16)) -> String {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| drctl_tui::view::draw(f, app)).unwrap();
    let buf = term.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..h {
        let mut line = String::new();
        for x in 0..w {
            line.push_str(buf[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    for r in &app.runs {
        let id = r.id.as_str();
        out = out.replace(
            id,
            &format!("{}RANDOM{}", &id[..14], "x".repeat(id.len() - 20)),
        );
    }
    out
}

const SIZES: [(u16, u16); 2] = [(80, 24), (160, 48)];

fn snap(name: &str, app: &App) {
    for size in SIZES {
        insta::assert_snapshot!(format!("{name}_{}x{}", size.0, size.1), shot(app, size));
    }
}

async fn world() -> (World, RunId, RunId) {
    let w = World::new();
    let failed = w
        .run("runbooks/nightly-restore.yaml", FAILING, "ops-bot")
        .await;
    w.clock.advance(Duration::from_secs(60));
    let gated = w.run("runbooks/region-failover.yaml", GATED, "carol").await;
    (w, failed, gated)
}

#[tokio::test]
async fn an_empty_database() {
    let w = World::new();
    let mut app = w.app("alice", Timestamp::from_millis(T0)).await;
    snap("runs_empty", &app);
    app.stack.push(Screen::Approvals);
    snap("approvals_empty", &app);
    app.stack.push(Screen::Schedules);
    snap("schedules_empty", &app);
}

#[tokio::test]
async fn the_runs_a_failed_run_and_its_step() {
    let (w, failed, _) = world().await;
    let now = Timestamp::from_millis(T0 + 10 * 60_000);
    let mut app = w.app("alice", now).await;
    snap("runs", &app);
    app.filter = "restore".into();
    snap("runs_filtered", &app);
    app.filter.clear();
    app.run = Some(w.model(&failed).await);
    app.stack.push(Screen::Run(failed.clone()));
    app.step_sel = 2;
    snap("run_failed", &app);
    app.stack
        .push(Screen::Step(failed, StepId::new("check_rows").unwrap()));
    snap("step_failed", &app);
}

#[tokio::test]
async fn a_breached_rto_and_a_refused_approval() {
    let (w, _, gated) = world().await;
    // Five minutes after the gate opened: the 2m objective is gone.
    let now = Timestamp::from_millis(T0 + 6 * 60_000 + 5_000);
    let mut app = w.app("carol", now).await;
    // The list shows the breached clock too, from the run's row.
    snap("runs_breached", &app);
    app.run = Some(w.model(&gated).await);
    app.stack.push(Screen::Run(gated.clone()));
    app.step_sel = 1;
    snap("run_breached", &app);
    // Carol started the run: four-eyes refuses her before anything is sent.
    app.stack = vec![Screen::Runs, Screen::Approvals];
    snap("approvals", &app);
    let gate = app.gates[0].clone();
    app.popup = Some(Popup::Decide {
        run: gate.run.clone(),
        step: gate.step.clone(),
        verdict: Verdict::Approve,
        comment: "looks good".into(),
        refused: gate.why_not.clone(),
    });
    snap("approval_refused", &app);
    // Steering behind a confirmation that asks for the step's id.
    app.stack = vec![Screen::Runs, Screen::Run(gated.clone())];
    app.popup = Some(Popup::Confirm {
        says: "Skip step promote? It is recorded skipped; steps that need it go on without its output.".into(),
        act: Act::Step {
            run: gated,
            step: StepId::new("promote").unwrap(),
            item: None,
            decision: drctl_run::event::Decision::Skip,
            output: None,
        },
        typed: Some(("promote".into(), "prom".into())),
    });
    snap("confirm_skip", &app);
}

#[tokio::test]
async fn help_ascii_and_no_colour() {
    let (w, failed, _) = world().await;
    let mut app = w.app("alice", Timestamp::from_millis(T0 + 600_000)).await;
    app.theme = Theme {
        color: false,
        ascii: true,
    };
    snap("runs_ascii", &app);
    app.run = Some(w.model(&failed).await);
    app.stack.push(Screen::Run(failed));
    snap("run_failed_ascii", &app);
    app.stack.push(Screen::Help);
    snap("help", &app);
    app.schedules = ScheduleList::default();
}

const COPYING: &str = r#"runbook: copy-backup
steps:
  - id: copy
    action: exec
    with:
      argv: [bash, -c, 'printf "copying part 1/3\ncopying part 2/3\n"; echo "slow link: 4 MB/s" >&2; sleep 30']
"#;

#[tokio::test]
async fn a_running_exec_step_with_its_output_so_far() {
    let w = World::new();
    let req = NewRunRequest {
        source: Source::new("runbooks/copy-backup.yaml", COPYING),
        callees: Vec::new(),
        params: serde_json::Map::new(),
        actor: Actor::from_stored("alice"),
        trigger: Trigger::Manual,
        drill: false,
        parent: None,
    };
    let id = w.engine.create_run(req).await.unwrap();
    let (engine, run) = (w.engine.clone(), id.clone());
    let drive = tokio::spawn(async move { engine.drive(&run, DriveOptions::default()).await });
    // The program printed, then sleeps: what it printed is in the store.
    let mut live = Vec::new();
    for _ in 0..200 {
        live = w.store.live(&id, "copy").await.unwrap();
        if live.first().is_some_and(|l| !l.stderr.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let mut app = w.app("alice", Timestamp::from_millis(T0 + 7_000)).await;
    app.run = Some(w.model(&id).await);
    app.live = live.into_iter().map(Into::into).collect();
    app.stack.push(Screen::Run(id.clone()));
    app.stack
        .push(Screen::Step(id, StepId::new("copy").unwrap()));
    snap("step_live", &app);
    // Its driver dies: the runs list says nobody drives it; the step reads interrupted,
    // with no clock and no output "so far" (the program is gone).
    for r in &mut app.runs {
        r.status = drctl_server::views::StatusArg::Interrupted;
    }
    snap("step_interrupted", &app);
    // The runtime's end takes the action's task, and the program with it.
    drive.abort();
}

#[tokio::test]
async fn long_text_shows_its_end_and_wraps_whole() {
    let (w, _, gated) = world().await;
    let mut app = w.app("bob", Timestamp::from_millis(T0 + 120_000)).await;
    // A filter longer than the line: its end shows, where the typing is.
    app.filter =
        "region failover interrupted carol manual and a great many more words at the end".into();
    app.filtering = true;
    snap("runs_long_filter", &app);
    app.filter.clear();
    app.filtering = false;
    // A comment longer than the box: wrapped, every word of it inside the box.
    app.popup = Some(Popup::Decide {
        run: gated,
        step: StepId::new("approve_failover").unwrap(),
        verdict: Verdict::Approve,
        comment: "replica lag checked on all three standbys, the write probe is quiet, \
                  the DNS TTL was lowered an hour ago, and the on-call lead agreed on the bridge"
            .into(),
        refused: None,
    });
    snap("approve_long_comment", &app);
}
