//! Live output: what a running attempt (an `exec` step) has printed so far, masked and
//! cut to its tail, kept in the store's `LiveOutputs` for people watching from any
//! process (the console's step screen), and removed when the attempt ends.
//!
//! The text is cut to its tail, then masked as a window: whole secrets, the start of one
//! at the very end (the program is still printing it) and the end of one at the very
//! start (the cut went through it), four characters or more of either, so the cost does
//! not grow with what the program printed before. Writes are coalesced: one at a time per attempt, the
//! newest text wins. Nothing is set up for an attempt that prints nothing.

use std::sync::{Arc, OnceLock};

use drctl_core::{Clock, LiveOutput, RunId};
use drctl_store::{LiveRow, Store};
use tokio::sync::watch;

use crate::driver::Key;
use crate::secrets::Scrubber;

/// How much of each stream's end is kept.
pub const TAIL: usize = 4096;

/// One attempt's live output (see the module doc).
pub(crate) struct LiveWriter {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    run: RunId,
    key: Key,
    scrubber: Arc<Scrubber>,
    /// Set on the first output: the writer task follows it until this is dropped.
    sender: OnceLock<watch::Sender<(String, String)>>,
}

impl LiveWriter {
    pub(crate) fn new(
        (store, clock): (Arc<dyn Store>, Arc<dyn Clock>),
        run: RunId,
        key: Key,
        scrubber: Arc<Scrubber>,
    ) -> Self {
        Self {
            store,
            clock,
            run,
            key,
            scrubber,
            sender: OnceLock::new(),
        }
    }

    /// The task that writes the newest text, then removes the row once the attempt is
    /// over (its sender dropped with the action's context).
    fn start(&self) -> watch::Sender<(String, String)> {
        let (tx, mut rx) = watch::channel((String::new(), String::new()));
        let (store, clock, run) = (self.store.clone(), self.clock.clone(), self.run.clone());
        let (step, item, _, attempt) = self.key.clone();
        tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                let (stdout, stderr) = rx.borrow_and_update().clone();
                let row = LiveRow {
                    step: step.to_string(),
                    item,
                    attempt,
                    stdout,
                    stderr,
                    at: clock.now(),
                };
                // A watcher's view only: a failed write is retried by the next output.
                let _ = store.put_live(&run, &row).await;
            }
            let _ = store.drop_live(&run, (step.as_str(), item, attempt)).await;
        });
        tx
    }
}

impl LiveOutput for LiveWriter {
    fn printed(&self, stdout: &str, stderr: &str) {
        let texts = (
            self.scrubber.window(&tail(stdout)),
            self.scrubber.window(&tail(stderr)),
        );
        self.sender.get_or_init(|| self.start()).send_replace(texts);
    }
}

/// The last [`TAIL`] bytes of `text`, from a line's start when one is near.
fn tail(text: &str) -> String {
    if text.len() <= TAIL {
        return text.to_owned();
    }
    let mut start = text.len() - TAIL;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    let cut = &text[start..];
    match cut.find('\n') {
        Some(nl) if nl < 200 => cut[nl + 1..].to_owned(),
        _ => cut.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tail_starts_on_a_line_and_a_char() {
        // The cut falls 48 bytes before a line's end: the tail starts on the next line.
        let last = format!("{}é\n", "b".repeat(TAIL - 50));
        let text = format!("{}\n{last}", "a".repeat(TAIL));
        assert_eq!(tail(&text), last);
        // No line starts near the cut: the tail is cut mid-line.
        let one = "c".repeat(2 * TAIL);
        assert_eq!(tail(&one).len(), TAIL);
        let wide = "é".repeat(TAIL);
        let t = tail(&wide);
        assert!(t.len() <= TAIL && t.chars().all(|c| c == 'é'));
        assert_eq!(tail("short"), "short");
    }
}
