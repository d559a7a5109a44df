//! Rendering a frame of a 2,000-step run (issue: under 16 ms, release build): the run
//! screen at 160x48 and 80x24, its selection in the middle, on ratatui's `TestBackend`.
//! The run is real (created and driven by the engine on the in-memory store, 40 layers
//! of 50 `log` steps), replayed into the console's model once, as a load does; only the
//! frames are timed. The floor, measured in the same run: formatting the same number of
//! screen lines into a string.
//!
//! `cargo bench -p drctl-tui --bench frame` (`DRCTL_BENCH_STEPS=N` changes the size).

#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod common;

use std::time::Instant;

use drctl_connectors::Registry;
use drctl_core::Timestamp;
use drctl_tui::runmodel::RunModel;
use drctl_tui::state::{App, Screen};
use drctl_tui::theme::Theme;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn main() {
    let steps = common::steps();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let registry = Registry::builtin();
    let model = rt.block_on(async {
        let (engine, _, id) = common::wide_run(&registry, steps).await;
        let events = engine.events(&id).await.unwrap();
        let start = Instant::now();
        let m = RunModel::build(events, &registry).unwrap();
        eprintln!(
            "{steps} steps, {} events: replayed into the console's model in {:.1} ms (once per load)",
            m.events.len(),
            start.elapsed().as_secs_f64() * 1e3
        );
        m
    });
    let id = model.state.id.clone();
    let mut app = App::new(Theme::default(), false, "bench".into());
    app.now = Timestamp::from_millis(1_793_613_700_000);
    app.run = Some(model);
    app.stack.push(Screen::Run(id));
    app.step_sel = steps / 2;
    for (w, h) in [(160u16, 48u16), (80, 24)] {
        let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
        let mut times = Vec::new();
        for _ in 0..300 {
            let t = Instant::now();
            term.draw(|f| drctl_tui::view::draw(f, &app)).unwrap();
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        eprintln!("frame at {w}x{h}: {}", common::stats(times, "frames"));
    }
    // The floor: as many formatted lines as a 160x48 frame shows, into a string.
    let mut floor = Vec::new();
    for _ in 0..300 {
        let t = Instant::now();
        let mut s = String::new();
        for i in 0..48 {
            s.push_str(&format!(
                "{i:>3} steps     ✓ s{i:<26} succeeded           {:>4}ms\n",
                i * 7
            ));
        }
        std::hint::black_box(&s);
        floor.push(t.elapsed().as_secs_f64() * 1e3);
    }
    eprintln!(
        "floor (48 formatted lines): {}",
        common::stats(floor, "frames")
    );
    eprintln!("budget: 16 ms a frame");
}
