//! The loop: one state, one message type. Keys come from a thread of their own, data
//! from a loader task (which replays the open run on a blocking thread, and reloads for
//! the source's changes at most every 250 ms), actions from a task each; the loop
//! applies messages to the state and redraws at most every 40 ms, so a storm of events
//! never delays typing (`cargo bench -p drctl-tui --bench storm` measures it). The terminal is restored on quit, on a
//! panic (ratatui's hook) and on SIGTERM.

use std::sync::Arc;
use std::time::Duration;

use drctl_connectors::Registry;
use drctl_core::{Clock as _, RunId, StepId};
use drctl_engine::clock::SystemClock;
use drctl_server::api::live::LiveView;
use drctl_server::schedule::view::ScheduleList;
use drctl_server::views::{Gate, RunView};
use ratatui::Terminal;
use ratatui::backend::Backend;
use ratatui::crossterm::event::{self, Event as TermEvent, KeyEvent, KeyEventKind};
use tokio::sync::{Notify, mpsc, watch};

use crate::keys::{self, Task};
use crate::runmodel::RunModel;
use crate::source::{Act, Source};
use crate::state::App;
use crate::theme::Theme;

/// How the console starts.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub read_only: bool,
    pub theme: Theme,
}

/// Everything one load read.
#[derive(Debug)]
pub struct Loaded {
    pub runs: Result<Vec<RunView>, String>,
    pub gates: Result<Vec<Gate>, String>,
    pub schedules: Result<ScheduleList, String>,
    /// The open run, replayed.
    pub run: Option<(RunId, Result<RunModel, String>)>,
    /// What the open step printed so far.
    pub live: Option<(RunId, StepId, Result<Vec<LiveView>, String>)>,
}

/// What the screen has open: a run, and maybe one of its steps.
pub type Open = Option<(RunId, Option<StepId>)>;

/// What the loop hears.
#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    Resized,
    Loaded(Box<Loaded>),
    Acted(Act, Result<String, String>),
    Quit,
}

/// The shortest time between two loads that no key asked for.
const PACE: Duration = Duration::from_millis(250);

/// How the status line starts when a load failed.
const LOAD_FAILED: &str = "could not load";

/// Applies one load to the state.
pub fn loaded(app: &mut App, l: Loaded) {
    let mut problems = Vec::new();
    match l.runs {
        Ok(r) => app.runs = r,
        Err(e) => problems.push(e),
    }
    match l.gates {
        Ok(g) => app.gates = g,
        Err(e) => problems.push(e),
    }
    match l.schedules {
        Ok(s) => app.schedules = s,
        Err(e) => problems.push(e),
    }
    if let Some((id, model)) = l.run
        && app.open_run() == Some(&id)
    {
        match model {
            Ok(m) => app.run = Some(m),
            Err(e) => problems.push(e),
        }
    }
    if let Some((id, step, live)) = l.live
        && app.open_step() == Some((&id, &step))
    {
        match live {
            Ok(rows) => app.live = rows,
            Err(e) => problems.push(e),
        }
    }
    app.run_sel = app.run_sel.min(app.shown_runs().len().saturating_sub(1));
    app.gate_sel = app.gate_sel.min(app.gates.len().saturating_sub(1));
    if !problems.is_empty() {
        problems.dedup();
        app.status = format!("could not load: {}", problems.join("; "));
    } else if app.status.starts_with(LOAD_FAILED) {
        // The source answers again: the old complaint is no longer true.
        app.status.clear();
    }
}

/// Reads what the screens show: the lists, and the open run replayed.
pub async fn load(source: &dyn Source, registry: &Arc<Registry>, open: Open) -> Loaded {
    let (runs, gates, schedules) = tokio::join!(source.runs(), source.gates(), source.schedules());
    let (mut run, mut live) = (None, None);
    if let Some((id, step)) = open {
        let model = match source.events(&id).await {
            // Replaying a long run is work for a core: on a blocking thread, it never
            // holds up the loop that reads keys and draws.
            Ok(events) => {
                let registry = registry.clone();
                tokio::task::spawn_blocking(move || RunModel::build(events, registry.as_ref()))
                    .await
                    .unwrap_or_else(|e| Err(format!("the replay of {id} stopped: {e}")))
            }
            Err(e) => Err(e),
        };
        if let Some(step) = step {
            let rows = source.live(&id, &step).await;
            live = Some((id.clone(), step, rows));
        }
        run = Some((id, model));
    }
    Loaded {
        runs,
        gates,
        schedules,
        run,
        live,
    }
}

/// Runs the console until `q`, Ctrl-C or SIGTERM.
pub async fn run(
    source: Arc<dyn Source>,
    registry: Registry,
    opts: Options,
) -> std::io::Result<()> {
    let (tx, rx) = mpsc::unbounded_channel::<Msg>();
    // Keys, on a thread of their own: reading the terminal blocks.
    let keys_tx = tx.clone();
    std::thread::spawn(move || {
        loop {
            match event::read() {
                Ok(TermEvent::Key(k)) if k.kind != KeyEventKind::Release => {
                    if keys_tx.send(Msg::Key(k)).is_err() {
                        return;
                    }
                }
                Ok(TermEvent::Resize(..)) => {
                    if keys_tx.send(Msg::Resized).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(_) => return,
            }
        }
    });
    let term_tx = tx.clone();
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        // Whatever signal ends the console, the terminal is given back first.
        let (Ok(mut term), Ok(mut int), Ok(mut hup), Ok(mut quit)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::hangup()),
            signal(SignalKind::quit()),
        ) else {
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
            _ = hup.recv() => {}
            _ = quit.recv() => {}
        }
        let _ = term_tx.send(Msg::Quit);
    });
    let mut terminal = ratatui::init();
    let result = drive(&mut terminal, source, registry, opts, (tx, rx), |_| {}).await;
    ratatui::restore();
    result
}

/// The loop itself, on any terminal: messages from `rx` (keys, signals; loads and
/// actions' answers come back through `tx`), frames drawn at most every 40 ms, each
/// shown to `drawn` once drawn (the storm benchmark measures typing with it).
pub async fn drive<B: Backend>(
    terminal: &mut Terminal<B>,
    source: Arc<dyn Source>,
    registry: Registry,
    opts: Options,
    (tx, mut rx): (mpsc::UnboundedSender<Msg>, mpsc::UnboundedReceiver<Msg>),
    mut drawn: impl FnMut(&App),
) -> Result<(), B::Error> {
    let mut app = App::new(opts.theme, opts.read_only, source.identity());
    // The loader: at once when asked, else when the source says something changed.
    let (open_tx, mut open_rx) = watch::channel::<Open>(None);
    let reload = Arc::new(Notify::new());
    {
        let (source, tx, reload) = (source.clone(), tx.clone(), reload.clone());
        let registry = Arc::new(registry);
        tokio::spawn(async move {
            loop {
                let open = open_rx.borrow_and_update().clone();
                // A step's output moves without events: its screen looks every second.
                let most = if matches!(open, Some((_, Some(_)))) {
                    Duration::from_secs(1)
                } else {
                    Duration::from_secs(5)
                };
                let started = tokio::time::Instant::now();
                let l = load(source.as_ref(), &registry, open).await;
                if tx.send(Msg::Loaded(Box::new(l))).is_err() {
                    return;
                }
                // What the person asks for loads at once; what the source says changed,
                // at most every `PACE`: a storm of events costs a few loads a second, and
                // the cores stay free for keys and frames.
                tokio::select! {
                    () = reload.notified() => {}
                    () = async {
                        source.changed(most).await;
                        tokio::time::sleep_until(started + PACE).await;
                    } => {}
                    _ = open_rx.changed() => {}
                }
            }
        });
    }
    let clock = SystemClock::new();
    let mut dirty = true;
    let mut ticker = tokio::time::interval(Duration::from_millis(40));
    let mut last_second = 0;
    let mut last_frame = std::time::Instant::now();
    loop {
        tokio::select! {
            msg = rx.recv() => {
                let Some(msg) = msg else { break Ok(()) };
                let typed = matches!(msg, Msg::Key(_));
                match msg {
                    Msg::Key(k) => {
                        for task in keys::key(&mut app, k) {
                            match task {
                                Task::Reload => reload.notify_one(),
                                Task::Send(act) => {
                                    let (source, tx) = (source.clone(), tx.clone());
                                    app.status = "sending…".into();
                                    tokio::spawn(async move {
                                        let answer = source.act(&act).await;
                                        let _ = tx.send(Msg::Acted(act, answer));
                                    });
                                }
                            }
                        }
                        let step = app.open_step().map(|(_, s)| s.clone());
                        let open = app.open_run().map(|id| (id.clone(), step));
                        if *open_tx.borrow() != open {
                            // Another step's output is not this one's.
                            app.live.clear();
                            // The loader reads what is open now, at once.
                            let _ = open_tx.send(open);
                        }
                    }
                    Msg::Resized => {}
                    Msg::Loaded(l) => loaded(&mut app, *l),
                    Msg::Acted(act, answer) => {
                        keys::acted(&mut app, &act, answer);
                        reload.notify_one();
                    }
                    Msg::Quit => app.quit = true,
                }
                dirty = true;
                if app.quit {
                    break Ok(());
                }
                // A key shows at once, unless frames already come faster than 60 a
                // second (a paste): then the next tick draws.
                if typed && last_frame.elapsed() >= Duration::from_millis(16) {
                    match frame(terminal, &mut app, clock.now(), &mut drawn) {
                        Ok(at) => last_frame = at,
                        Err(e) => break Err(e),
                    }
                    dirty = false;
                }
            }
            _ = ticker.tick() => {
                // Clocks move every second; everything else when something changed.
                let now = clock.now();
                let second = now.as_millis() / 1000;
                if second != last_second {
                    last_second = second;
                    dirty = true;
                }
                if dirty {
                    match frame(terminal, &mut app, now, &mut drawn) {
                        Ok(at) => last_frame = at,
                        Err(e) => break Err(e),
                    }
                    dirty = false;
                }
            }
        }
    }
}

/// Draws the state as it is at `now`; when it was drawn.
fn frame<B: Backend>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    now: drctl_core::Timestamp,
    drawn: &mut impl FnMut(&App),
) -> Result<std::time::Instant, B::Error> {
    app.now = now;
    terminal.draw(|f| crate::view::draw(f, app))?;
    drawn(app);
    Ok(std::time::Instant::now())
}
