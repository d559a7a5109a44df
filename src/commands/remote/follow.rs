//! Following a run on a server: its events over server-sent events, printed as
//! `drctl logs` prints them, until the run ends (or, for `run` and `resume`, pauses).
//!
//! A cut connection is resumed from the last cursor seen (nothing missed, nothing twice);
//! a run that stays silent is looked at every [`IDLE`], so that a run nobody drives any
//! more is reported instead of waited on for ever.

use std::process::ExitCode;
use std::time::Duration;

use drctl_connectors::Registry;
use drctl_core::RunId;
use drctl_engine::Observer as _;
use drctl_run::event::EventKind;
use drctl_run::pinned::compile_pinned;
use drctl_run::{Event, Outcome, RunState};
use drctl_server::client::Client;
use futures_util::StreamExt as _;

use crate::commands::runs::progress::Printer;
use crate::commands::runs::{logs, paused};
use crate::commands::{eprint, print};

/// How long a followed run may stay silent before its row is looked at.
const IDLE: Duration = Duration::from_secs(5);

/// Connections in a row that may fail, a second apart, before following gives up: long
/// enough to ride out a server's restart.
const RETRIES: u32 = 60;

/// What ends following.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Until {
    /// The run's end (`logs -f`).
    Finished,
    /// The run's end or a pause (`run`, `resume`, `cancel`: what a local drive returns at).
    FinishedOrPaused,
}

/// `drctl logs RUN [STEP] [-f] --server`.
pub(super) async fn logs(
    client: &Client,
    run: &str,
    step: Option<&str>,
    follow: bool,
) -> anyhow::Result<ExitCode> {
    let detail = client.run(run).await?;
    let id = detail.run.id.clone();
    if let Some(step) = step {
        logs::has_step(&id, detail.steps.iter().map(|s| s.step.as_str()), step)?;
    }
    if !follow {
        let mut out = String::new();
        for view in client.events(id.as_str()).await? {
            out.push_str(&logs::render(&decode(view.body)?, step));
        }
        print(&out);
        return Ok(ExitCode::SUCCESS);
    }
    stream(client, &Registry::builtin(), &id, 0, step, Until::Finished).await
}

/// Prints the run's events after event `after` until it ends or pauses; the exit code a
/// local drive would have given.
pub(super) async fn to_end(
    client: &Client,
    registry: &Registry,
    id: &RunId,
    after: u64,
) -> anyhow::Result<ExitCode> {
    use tokio::signal::unix::{SignalKind, signal};
    // Ctrl-C or SIGTERM stops following, not the run: it is the server's to drive (a
    // local run would pause; this one goes on, and says so).
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let stopped = |code: u8| {
        eprint(&format!(
            "\nStopped following; run {id} goes on on the server: `drctl logs -f {id}`, or `drctl cancel {id}`.\n"
        ));
        ExitCode::from(code)
    };
    tokio::select! {
        end = stream(client, registry, id, after, None, Until::FinishedOrPaused) => end,
        _ = interrupt.recv() => Ok(stopped(130)),
        _ = terminate.recv() => Ok(stopped(143)),
    }
}

/// `drctl run`'s live progress for a run driven elsewhere: the run's state is rebuilt
/// from its events as a local driver holds it (the pinned runbook is in its first
/// event), and each event is printed by the same printer with that state. Should this
/// build not compile the runbook (an action it lacks), the plain log lines are printed.
struct Progress<'a> {
    registry: &'a Registry,
    state: Option<RunState>,
    printer: Printer,
    plain: bool,
}

impl<'a> Progress<'a> {
    fn new(registry: &'a Registry) -> Self {
        Self {
            registry,
            state: None,
            printer: Printer::new(),
            plain: false,
        }
    }

    fn feed(&mut self, event: &Event, shown: bool) {
        if !self.plain {
            let applied = match &mut self.state {
                None => RunState::replay([event], |created| compile_pinned(created, self.registry))
                    .map(|s| self.state = Some(s))
                    .map_err(|e| e.to_string()),
                Some(state) => state.apply(event).map(|_| ()).map_err(|e| e.to_string()),
            };
            self.plain = applied.is_err();
        }
        if !shown {
            return;
        }
        match (&self.state, self.plain) {
            (Some(state), false) => self.printer.on_event(state, event),
            _ => print(&logs::render(event, None)),
        }
    }
}

async fn stream(
    client: &Client,
    registry: &Registry,
    id: &RunId,
    after_seq: u64,
    step: Option<&str>,
    until: Until,
) -> anyhow::Result<ExitCode> {
    let mut cursor = 0;
    let mut failures = 0;
    let mut progress = (until == Until::FinishedOrPaused).then(|| Progress::new(registry));
    loop {
        let events = match client.follow(Some(id), cursor).await {
            Ok(s) => s,
            Err(e) if e.status().is_none_or(|s| s >= 500) => {
                failures += 1;
                if failures > RETRIES {
                    return Ok(lost(client, id, &e.to_string()));
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let mut events = std::pin::pin!(events);
        loop {
            let next = match tokio::time::timeout(IDLE, events.next()).await {
                Ok(Some(Ok(next))) => next,
                // Cut, or the server's store stopped answering: reconnect where we were.
                Ok(None | Some(Err(_))) => break,
                Err(_) => {
                    if let Some(code) = silent(client, id, until).await? {
                        return Ok(code);
                    }
                    continue;
                }
            };
            failures = 0;
            let (at, view) = next;
            cursor = at;
            let event = decode(view.body)?;
            let shown = view.seq > after_seq;
            match (&mut progress, until) {
                (Some(p), Until::FinishedOrPaused) => p.feed(&event, shown),
                _ if shown => print(&logs::render(&event, step)),
                _ => {}
            }
            if !shown {
                continue;
            }
            match &event.kind {
                // `logs -f` says how the run ended in its lines and exits 0, as locally;
                // `run` and `resume` exit as a local drive does.
                EventKind::RunFinished { .. } if until == Until::Finished => {
                    return Ok(ExitCode::SUCCESS);
                }
                EventKind::RunFinished { outcome, .. } => {
                    return Ok(match outcome {
                        Outcome::Succeeded => ExitCode::SUCCESS,
                        _ => ExitCode::from(1),
                    });
                }
                EventKind::Paused { reason } if until == Until::FinishedOrPaused => {
                    return Ok(paused(id, reason));
                }
                _ => {}
            }
        }
        failures += 1;
        if failures > RETRIES {
            return Ok(lost(client, id, "the connection keeps closing"));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Following gave up: the run is not lost, only this view of it. Exit 3, as for a run
/// that has not ended.
fn lost(client: &Client, id: &RunId, why: &str) -> ExitCode {
    eprint(&format!(
        "error: lost the server at {} while following run {id} ({why}); the run goes on where it is driven: `drctl logs -f {id}`\n",
        client.base()
    ));
    ExitCode::from(3)
}

/// The run has been silent for [`IDLE`]: an end the stream did not show (it cannot, but
/// a run whose end is certain should not be waited on), or, for `logs -f`, a run nobody
/// drives, which would stay silent for ever.
async fn silent(client: &Client, id: &RunId, until: Until) -> anyhow::Result<Option<ExitCode>> {
    // A look that fails is no news: the stream itself says when the server is gone.
    let Ok(detail) = client.run(id.as_str()).await else {
        return Ok(None);
    };
    let row = detail.run;
    if row.is_finished() {
        return Ok(Some(
            if row.status == drctl_server::views::StatusArg::Succeeded || until == Until::Finished {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            },
        ));
    }
    match (&row.interrupted, until) {
        (Some(why), Until::Finished) => Ok(Some(logs::interrupted_end(id, why))),
        _ => Ok(None),
    }
}

fn decode(body: serde_json::Value) -> anyhow::Result<Event> {
    serde_json::from_value(body)
        .map_err(|e| anyhow::anyhow!("an event this drctl cannot read: {e}"))
}

/// Why the run last paused, from its events (`None` if it never did).
pub(super) async fn last_pause(
    client: &Client,
    id: &RunId,
) -> anyhow::Result<Option<drctl_run::event::PauseReason>> {
    let mut last = None;
    for view in client.events(id.as_str()).await? {
        if let EventKind::Paused { reason } = decode(view.body)?.kind {
            last = Some(reason);
        }
    }
    Ok(last)
}
