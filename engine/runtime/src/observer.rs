//! Who is told about a run's progress: the CLI prints, the API streams, tests collect.

use drctl_run::{Event, RunState};

/// Called by the driver after each event is stored and applied.
pub trait Observer: Send + Sync {
    fn on_event(&self, run: &RunState, event: &Event);

    /// Something a person should know that is not an event (an ignored command).
    fn notice(&self, run: &RunState, message: &str) {
        let _ = (run, message);
    }

    /// An append the store committed, and how long it took (for a server's metrics).
    fn appended(&self, took: std::time::Duration) {
        let _ = took;
    }
}

/// Tells no one.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Observer for Silent {
    fn on_event(&self, _: &RunState, _: &Event) {}
}
