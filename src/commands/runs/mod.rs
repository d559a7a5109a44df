//! Commands about runs: they open the database and, for `run`, `resume` and `cancel`,
//! drive runs with the engine.

pub(crate) mod approve;
pub(crate) mod cancel;
mod eventfmt;
mod inline;
pub(crate) mod logs;
pub(crate) mod ls;
pub(crate) mod progress;
pub(crate) mod resume;
pub(crate) mod run;
pub(crate) mod serve;
pub(crate) mod show;
pub(crate) mod step;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use drctl_connectors::Registry;
use drctl_core::RunId;
use drctl_engine::{DriveOptions, Engine, EngineConfig, RunEnd};
use drctl_run::Outcome;
use drctl_run::event::PauseReason;
use drctl_store::RunReader;
use drctl_store_sqlite::{Create, SqliteStore};

use crate::cli::EngineArgs;

/// `$XDG_DATA_HOME/drctl/drctl.db`, else `~/.local/share/drctl/drctl.db`.
pub(crate) fn default_db() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("drctl").join("drctl.db")
}

/// Who is acting, for the event log: the name given with `--as` (when drctl.toml allows
/// it), else the OS user.
pub(crate) fn actor() -> drctl_core::Actor {
    crate::config::actor_override()
        .cloned()
        .unwrap_or_else(|| drctl_core::Actor::from_stored(&crate::identity::os_user()))
}

/// The command's async runtime: whatever database a command opened is checkpointed and
/// closed when its future ends, so that the `.db` file alone holds every run.
pub(crate) fn runtime() -> anyhow::Result<Runtime> {
    // One thread: the driver and its attempts hand work to each other on every step,
    // and a handoff between threads costs more than the work itself. Blocking work (the
    // SQLite connection, DNS) has its own threads either way.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .map(Runtime)
}

pub(crate) struct Runtime(tokio::runtime::Runtime);

impl Runtime {
    pub(crate) fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.0.block_on(async {
            let out = future.await;
            let opened = std::mem::take(&mut *OPENED.lock().unwrap_or_else(|e| e.into_inner()));
            for store in opened {
                store.close().await;
            }
            out
        })
    }
}

/// The stores opened by this process, closed at the end of `Runtime::block_on`.
static OPENED: std::sync::Mutex<Vec<Arc<SqliteStore>>> = std::sync::Mutex::new(Vec::new());

/// The database of an existing history: a missing file is an error naming the path.
pub(crate) async fn open(db: Option<&Path>) -> anyhow::Result<Arc<SqliteStore>> {
    open_with(db, Create::Never).await
}

/// The database `run` records into, created when missing.
pub(crate) async fn open_creating(db: Option<&Path>) -> anyhow::Result<Arc<SqliteStore>> {
    open_with(db, Create::IfMissing).await
}

async fn open_with(db: Option<&Path>, create: Create) -> anyhow::Result<Arc<SqliteStore>> {
    let path = db.map_or_else(default_db, Path::to_path_buf);
    let store = Arc::new(SqliteStore::open_with(&path, create).await?);
    OPENED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(store.clone());
    Ok(store)
}

pub(crate) fn engine(
    store: Arc<SqliteStore>,
    registry: &Registry,
    args: Option<&EngineArgs>,
    live: bool,
) -> Engine {
    let config = EngineConfig {
        actor: actor(),
        max_parallel: args.map_or(8, |a| usize::from(a.max_parallel)),
        approval_policies: crate::config::get().approval_policies.clone(),
        // Crash tests only: where to have this process die (see `drctl_engine::Fault`).
        fault: std::env::var("DRCTL_FAULT")
            .ok()
            .and_then(|name| drctl_engine::Fault::named(&name)),
        ..EngineConfig::default()
    };
    let engine = Engine::new(
        store,
        Arc::new(registry.clone()),
        Arc::new(drctl_engine::clock::SystemClock::new()),
        config,
    );
    if live {
        engine.with_observer(Arc::new(progress::Printer::new()))
    } else {
        engine
    }
}

/// A run's id and row, by its id or a unique prefix.
pub(crate) async fn resolve_row(
    store: &SqliteStore,
    prefix: &str,
) -> anyhow::Result<(RunId, drctl_store::RunRow)> {
    let id = resolve(store, prefix).await?;
    let row = store
        .run(&id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no run {id}"))?;
    Ok((id, row))
}

/// A run by its id or a unique prefix.
pub(crate) async fn resolve(store: &SqliteStore, prefix: &str) -> anyhow::Result<RunId> {
    Ok(store.resolve(prefix).await?)
}

/// Watches for Ctrl-C and SIGTERM (what systemd, Kubernetes and `kill` send) from now on,
/// before anything is recorded: the first cancels the returned token, which pauses the
/// run that `drive` is given it for (or that is about to be created); the second exits at
/// once, killing the programs of running steps. Call it inside the runtime.
pub(crate) fn stop_signals() -> anyhow::Result<tokio_util::sync::CancellationToken> {
    use tokio::signal::unix::{Signal, SignalKind, signal};
    let pause = tokio_util::sync::CancellationToken::new();
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot watch for Ctrl-C")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot watch for SIGTERM")?;
    let token = pause.clone();
    tokio::spawn(async move {
        let next = async |i: &mut Signal, t: &mut Signal| {
            tokio::select! {
                _ = i.recv() => 130,
                _ = t.recv() => 143,
            }
        };
        let first = next(&mut interrupt, &mut terminate).await;
        let what = if first == 130 { "Ctrl-C" } else { "SIGTERM" };
        crate::commands::eprint(&format!(
            "\n{what}: pausing; running steps get a few seconds to finish (Ctrl-C or SIGTERM again to quit now).\n"
        ));
        token.cancel();
        let code = next(&mut interrupt, &mut terminate).await;
        // Quitting now: the programs of running steps go too (their process groups), and
        // the run is shown `interrupted` until `drctl resume` settles what they did.
        drctl_connectors::kill_running_programs();
        std::process::exit(code);
    });
    Ok(pause)
}

/// Drives a run in the foreground until it ends or pauses (`opts.pause`, from
/// [`stop_signals`]). Returns the exit code: 0 succeeded, 1 failed or cancelled, 3 paused
/// or waiting.
pub(crate) async fn drive(
    engine: &Engine,
    run: &RunId,
    opts: DriveOptions,
) -> anyhow::Result<ExitCode> {
    inline::start(engine);
    let end = engine.drive(run, opts).await;
    inline::release();
    Ok(report(run, &end?))
}

/// The decision a run paused on an interrupted step waits for, as the command to type.
pub(super) fn decide_command(run: &RunId, reason: &PauseReason) -> Option<String> {
    let PauseReason::Interrupted { step, item, .. } = reason else {
        return None;
    };
    let item = item.map(|i| format!(" --item {i}")).unwrap_or_default();
    Some(format!("drctl step retry|skip|fail {run} {step}{item}"))
}

/// What `run`, `resume` and `cancel` print and exit with when the run paused, locally
/// and with `--server`.
pub(crate) fn paused(run: &RunId, reason: &PauseReason) -> ExitCode {
    let why = drctl_engine::projection::describe_pause(reason);
    let next = match decide_command(run, reason) {
        Some(decide) => format!(
            "Decide with `{decide}` (see `drctl show {run}`),\nthen continue with `drctl resume {run}`."
        ),
        None => format!("See `drctl show {run}`; continue with `drctl resume {run}`."),
    };
    crate::commands::print(&format!("\nRun {run} is paused: {why}.\n{next}\n"));
    ExitCode::from(3)
}

fn report(run: &RunId, end: &RunEnd) -> ExitCode {
    match end {
        RunEnd::Finished {
            outcome: Outcome::Succeeded,
            ..
        } => ExitCode::SUCCESS,
        RunEnd::Finished { .. } => ExitCode::from(1),
        RunEnd::Paused(reason) => paused(run, reason),
        RunEnd::Released => {
            crate::commands::print(&format!(
                "\nRun {run} was handed back undecided; `drctl resume {run}` continues it.\n"
            ));
            ExitCode::from(3)
        }
        RunEnd::LockHeld { lock, holder } => {
            crate::commands::print(&format!(
                "\nLock `{lock}` is held by run {holder}; nothing was run.\n"
            ));
            ExitCode::from(1)
        }
    }
}
