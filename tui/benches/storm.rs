//! Typing during an event storm (issue: 1,000 events/s must not lag typing): the
//! console's own loop (`app::drive`) on a 160x48 `TestBackend`, the run screen of a
//! 2,000-step run open, while its source says "something changed" every millisecond,
//! so the loader reloads (and replays the whole run) back to back, as a storm makes it.
//! 200 `j` keys are sent 20 ms apart; each key's latency is the time from its sending
//! to the first frame drawn with its effect. The floor, measured in the same run: the
//! same keys with a quiet source (one load, no reloads).
//!
//! `cargo bench -p drctl-tui --bench storm` (`DRCTL_BENCH_STEPS=N` changes the size).

#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use drctl_connectors::Registry;
use drctl_core::{RunId, StepId};
use drctl_run::Event;
use drctl_server::api::live::LiveView;
use drctl_server::schedule::view::ScheduleList;
use drctl_server::views::{Gate, RunView};
use drctl_tui::app::{Msg, Options, drive};
use drctl_tui::source::{Act, Source};
use drctl_tui::theme::Theme;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use tokio::sync::mpsc;

const KEYS: usize = 200;

/// A source holding one finished run; in a storm, it says something changed every
/// millisecond.
#[derive(Debug)]
struct Stormy {
    runs: Vec<RunView>,
    events: Vec<Event>,
    storm: bool,
    loads: AtomicU64,
}

#[async_trait]
impl Source for Stormy {
    fn identity(&self) -> String {
        "bench".into()
    }
    async fn runs(&self) -> Result<Vec<RunView>, String> {
        Ok(self.runs.clone())
    }
    async fn events(&self, _: &RunId) -> Result<Vec<Event>, String> {
        self.loads.fetch_add(1, Ordering::Relaxed);
        Ok(self.events.clone())
    }
    async fn gates(&self) -> Result<Vec<Gate>, String> {
        Ok(Vec::new())
    }
    async fn schedules(&self) -> Result<ScheduleList, String> {
        Ok(ScheduleList::default())
    }
    async fn live(&self, _: &RunId, _: &StepId) -> Result<Vec<LiveView>, String> {
        Ok(Vec::new())
    }
    async fn act(&self, _: &Act) -> Result<String, String> {
        Ok(String::new())
    }
    async fn changed(&self, max: Duration) {
        tokio::time::sleep(if self.storm {
            Duration::from_millis(1)
        } else {
            max
        })
        .await;
    }
}

/// Types `KEYS` keys into the console on `source`; each key's latency in ms.
async fn typing(source: Arc<Stormy>, registry: Registry) -> Vec<f64> {
    let (tx, rx) = mpsc::unbounded_channel::<Msg>();
    let sent: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let seen: Arc<Mutex<Vec<f64>>> = Arc::default();
    let ready = Arc::new(tokio::sync::Notify::new());
    let drawn = {
        let (sent, seen, ready) = (sent.clone(), seen.clone(), ready.clone());
        move |app: &drctl_tui::state::App| {
            if app.run.is_some() {
                ready.notify_one();
            }
            let sent = sent.lock().unwrap();
            let mut seen = seen.lock().unwrap();
            // Keys whose effect this frame shows for the first time.
            while seen.len() < sent.len().min(app.step_sel) {
                let at = sent[seen.len()];
                seen.push(at.elapsed().as_secs_f64() * 1e3);
            }
        }
    };
    let mut terminal = Terminal::new(TestBackend::new(160, 48)).unwrap();
    let opts = Options {
        read_only: true,
        theme: Theme::default(),
    };
    let looping = {
        let tx = tx.clone();
        tokio::spawn(async move {
            drive(&mut terminal, source, registry, opts, (tx, rx), drawn)
                .await
                .unwrap();
        })
    };
    let key = |c| Msg::Key(KeyEvent::new(c, KeyModifiers::NONE));
    // Open the run, and wait until it is on screen.
    tokio::time::sleep(Duration::from_millis(300)).await;
    tx.send(key(KeyCode::Enter)).unwrap();
    ready.notified().await;
    for _ in 0..KEYS {
        sent.lock().unwrap().push(Instant::now());
        tx.send(key(KeyCode::Char('j'))).unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    tx.send(Msg::Quit).unwrap();
    looping.await.unwrap();
    seen.lock().unwrap().clone()
}

fn main() {
    let steps = common::steps();
    // As the binary runs: tokio's default runtime, a worker per core.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let registry = Registry::builtin();
    let (runs, events) = rt.block_on(async {
        let (engine, store, id) = common::wide_run(&registry, steps).await;
        let row = store.run(&id).await.unwrap().unwrap();
        let now = row.updated_at;
        let runs = vec![RunView::of(row, now)];
        (runs, engine.events(&id).await.unwrap())
    });
    eprintln!("{steps} steps, {} events in the open run", events.len());
    for storm in [false, true] {
        let source = Arc::new(Stormy {
            runs: runs.clone(),
            events: events.clone(),
            storm,
            loads: AtomicU64::new(0),
        });
        let start = Instant::now();
        let latencies = rt.block_on(typing(source.clone(), registry.clone()));
        let loads = source.loads.load(Ordering::Relaxed);
        let secs = start.elapsed().as_secs_f64();
        eprintln!(
            "{}: key to frame {}; {loads} loads of the run in {secs:.1} s ({:.1}/s)",
            if storm {
                "storm (a change every 1 ms)"
            } else {
                "floor (quiet source)"
            },
            common::stats(latencies, "keys"),
            loads as f64 / secs
        );
    }
    eprintln!(
        "a key is drawn at once, unless a frame was drawn under 16 ms before (then at the next 40 ms tick)"
    );
}
