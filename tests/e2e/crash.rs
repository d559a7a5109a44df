//! The crash test: `drctl run` and `drctl resume` are killed with SIGKILL at random
//! moments, again and again, and the runbook (`crash.yaml`: 31 steps in four parallel
//! branches, retries, sleeps, a fan-out, non-idempotent `exec` steps that append a line
//! each) is driven to its end by resuming it. The test is the operator: when a run pauses
//! on an interrupted step, it waits for the killed drctl's orphaned processes, then skips
//! the step (giving its output) if its line is there and retries it if not, as the docs
//! tell a human to.
//!
//! After each run: every effect is present exactly once, every interrupted non-idempotent
//! step was reconciled or paused (never blindly run again), every sleep kept its first
//! deadline, and the event log's hash chain is intact.
//!
//! `DRCTL_CRASH_KILLS` sets the number of kill points (default 100);
//! `DRCTL_CRASH_SEED` replays a failing sequence (the seed is printed).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use drctl_core::RunId;
use drctl_run::Event;
use drctl_run::event::{EventKind, PauseReason, Phase, Reconciliation, Recovery};
use drctl_store::{RunFilter, RunReader};
use drctl_store_sqlite::SqliteStore;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const RUNBOOK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e/crash.yaml");
const FLAKY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e/flaky");

/// Steps whose effect is one line of `effects`, named after the step.
const LINES: [&str; 19] = [
    "begin", "a1", "a3", "a4", "a5", "a7", "a9", "b1", "b2", "b4", "b6", "b7", "b9", "c1", "d1",
    "d3", "d5", "join", "c2", // c2 stands for its items' lines `fan-1`..`fan-6`
];
const FAN: u32 = 6;
const SLEEPS: [&str; 6] = ["a2", "a8", "b3", "b8", "c4", "d2"];

/// A kill comes this long after a drctl starts, at most: about one clean run.
const MAX_DELAY_MS: u64 = 1100;

#[test]
fn a_killed_drctl_never_loses_a_step_nor_repeats_a_dangerous_one() {
    let wanted: usize = env_or("DRCTL_CRASH_KILLS", 100);
    let seed: u64 = env_or("DRCTL_CRASH_SEED", rand::random());
    println!("crash test: {wanted} kill points, DRCTL_CRASH_SEED={seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let mut tally = Tally::default();
    while tally.kills < wanted {
        tally.rounds += 1;
        let lab = Lab::new(tally.rounds);
        let budget = rng.random_range(1..=6).min(wanted - tally.kills);
        let id = lab.drive(&rt, budget, &mut rng, &mut tally);
        lab.check(&rt, &id, &mut tally);
        lab.remove();
    }
    println!(
        "crash test: {} kill points over {} runs in {:.0?}; {} interrupted attempts of \
         non-idempotent steps: {} reconciled by their check, {} paused for the operator \
         ({} skipped, {} retried); {} interrupted idempotent steps retried; seed {seed}",
        tally.kills,
        tally.rounds,
        started.elapsed(),
        tally.interrupted,
        tally.reconciled,
        tally.paused,
        tally.skipped,
        tally.retried,
        tally.auto_retried,
    );
    assert!(
        tally.paused > 0 && tally.reconciled > 0,
        "the kills reached no dangerous step: the test did not test"
    );
}

#[derive(Debug, Default)]
struct Tally {
    rounds: usize,
    kills: usize,
    interrupted: usize,
    reconciled: usize,
    paused: usize,
    skipped: usize,
    retried: usize,
    auto_retried: usize,
}

/// One run's folder: its database, its effects, drctl's output.
struct Lab {
    dir: PathBuf,
}

impl Lab {
    fn new(round: usize) -> Self {
        let dir = std::env::temp_dir().join(format!("drctl-crash-{}-{round}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(FLAKY, dir.join("flaky")).unwrap();
        // `grep` exits 2 on a missing file, which a reconcile check reads as "unknown".
        std::fs::write(dir.join("effects"), "").unwrap();
        Self { dir }
    }

    fn db(&self) -> PathBuf {
        self.dir.join("runs.db")
    }

    fn drctl(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_drctl"));
        cmd.arg("--db")
            .arg(self.db())
            .args(args)
            .current_dir(&self.dir)
            .env("NO_COLOR", "1")
            .env_remove("DRCTL_DB");
        cmd
    }

    /// Runs the runbook to its end, killing drctl `budget` times on the way.
    fn drive(
        &self,
        rt: &tokio::runtime::Runtime,
        budget: usize,
        rng: &mut StdRng,
        tally: &mut Tally,
    ) -> RunId {
        let mut kills = 0;
        let mut id: Option<RunId> = None;
        for _ in 0..200 {
            let args: Vec<String> = match &id {
                None => vec!["run".into(), RUNBOOK.into()],
                Some(id) => vec!["resume".into(), id.to_string()],
            };
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.dir.join("drctl.log"))
                .unwrap();
            let mut child = self
                .drctl(&args)
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap();
            let status = if kills < budget {
                let delay = Duration::from_millis(rng.random_range(0..MAX_DELAY_MS));
                match wait_for(&mut child, delay) {
                    Some(status) => status,
                    None => {
                        child.kill().unwrap();
                        child.wait().unwrap();
                        kills += 1;
                        tally.kills += 1;
                        id = id.or_else(|| rt.block_on(self.only_run()));
                        continue;
                    }
                }
            } else {
                child.wait().unwrap()
            };
            id = id.or_else(|| rt.block_on(self.only_run()));
            match status.code() {
                Some(0) => return id.unwrap(),
                Some(3) => self.operate(rt, id.as_ref().unwrap(), tally),
                _ => panic!(
                    "drctl exited with {status}; its output:\n{}",
                    std::fs::read_to_string(self.dir.join("drctl.log")).unwrap_or_default()
                ),
            }
        }
        panic!("the run did not end after 200 invocations of drctl");
    }

    /// The run of this lab, once `drctl run` got as far as creating it.
    async fn only_run(&self) -> Option<RunId> {
        let store = SqliteStore::open(&self.db()).await.ok()?;
        let runs = store
            .list_runs(&RunFilter {
                top_level: true,
                limit: 2,
                ..RunFilter::default()
            })
            .await
            .unwrap();
        store.close().await;
        assert!(runs.len() <= 1, "one run per lab");
        runs.into_iter().next().map(|r| r.id)
    }

    /// What an operator does about a paused run: let the processes of the killed drctl
    /// finish, then look at the world and decide each interrupted step.
    fn operate(&self, rt: &tokio::runtime::Runtime, id: &RunId, tally: &mut Tally) {
        self.wait_for_orphans(id);
        let steps = rt.block_on(async {
            let store = SqliteStore::open(&self.db()).await.unwrap();
            let steps = store.steps(id).await.unwrap();
            store.close().await;
            steps
        });
        let effects = std::fs::read_to_string(self.dir.join("effects")).unwrap();
        let mut decided = 0;
        for s in steps.iter().filter(|s| s.status == "interrupted") {
            let line = match s.item {
                Some(i) => format!("fan-{}", i + 1),
                None => s.step.clone(),
            };
            let done = effects.lines().any(|l| l == line);
            let verb = if done { "skip" } else { "retry" };
            let mut args = vec!["step", verb, id.as_str(), s.step.as_str()];
            let item = s.item.map(|i| i.to_string());
            if let Some(i) = &item {
                args.extend(["--item", i]);
            }
            // Steps downstream read an exec step's exit code: a skipped step that did
            // take effect gets the output it would have had.
            if done {
                args.extend(["--output", r#"{"exit_code": 0}"#]);
            }
            let out = self.drctl(&args).output().unwrap();
            assert!(
                out.status.success(),
                "drctl step {verb}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            if done {
                tally.skipped += 1;
            } else {
                tally.retried += 1;
            }
            decided += 1;
        }
        assert!(
            decided > 0,
            "the run paused with no interrupted step: {steps:#?}"
        );
    }

    /// Waits until every process a killed drctl left behind has exited: those whose
    /// environment marks them as part of an attempt of this run (see exec's docs).
    fn wait_for_orphans(&self, id: &RunId) {
        let mark = format!("DRCTL_ATTEMPT={id}/");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let alive = std::fs::read_dir("/proc")
                .unwrap()
                .filter_map(Result::ok)
                .filter(|e| {
                    std::fs::read(e.path().join("environ")).is_ok_and(|env| {
                        env.split(|&b| b == 0)
                            .any(|v| v.starts_with(mark.as_bytes()))
                    })
                })
                .filter(|e| running(&e.file_name().to_string_lossy()))
                .count();
            if alive == 0 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "orphans still running after 30 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The promises, checked on the finished run.
    fn check(&self, rt: &tokio::runtime::Runtime, id: &RunId, tally: &mut Tally) {
        let effects = std::fs::read_to_string(self.dir.join("effects")).unwrap();
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for line in effects.lines() {
            *seen.entry(line).or_default() += 1;
        }
        let mut expected: Vec<String> = LINES
            .iter()
            .filter(|l| **l != "c2")
            .map(|l| (*l).to_owned())
            .collect();
        expected.extend((1..=FAN).map(|i| format!("fan-{i}")));
        for line in &expected {
            assert_eq!(
                seen.get(line.as_str()).copied().unwrap_or(0),
                1,
                "effect `{line}` must appear exactly once; effects:\n{effects}"
            );
        }
        assert_eq!(seen.len(), expected.len(), "unexpected effects:\n{effects}");
        assert!(self.dir.join("marks/c5").exists(), "c5's effect");

        let (row, stored) = rt.block_on(async {
            let store = SqliteStore::open(&self.db()).await.unwrap();
            let row = store.run(id).await.unwrap().unwrap();
            let stored = store.events(id, 0).await.unwrap();
            store.close().await;
            (row, stored)
        });
        assert_eq!(row.status, "succeeded");
        drctl_store::chain::verify(id, &stored).expect("the hash chain holds");
        let events = drctl_engine::decode_events(&stored).unwrap();
        check_interruptions(&events, tally);
        for sleep in SLEEPS {
            let starts = events
                .iter()
                .filter(
                    |e| matches!(&e.kind, EventKind::AttemptStarted(a) if a.step.as_str() == sleep),
                )
                .count();
            assert_eq!(
                starts, 1,
                "sleep `{sleep}` kept its first deadline across restarts"
            );
        }
    }

    fn remove(&self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Every interrupted attempt of a non-idempotent step was reconciled or paused; a new
/// attempt of it started only after a check said "not done" or an operator said "retry".
fn check_interruptions(events: &[Event], tally: &mut Tally) {
    for (at, event) in events.iter().enumerate() {
        let EventKind::AttemptInterrupted {
            step,
            item,
            phase,
            next,
            ..
        } = &event.kind
        else {
            continue;
        };
        assert_eq!(*phase, Phase::Action);
        if !LINES.contains(&step.as_str()) {
            // c5 says `on_interrupt: retry`; the others' actions are idempotent.
            assert_eq!(*next, Recovery::Retry, "{step} may run again");
            tally.auto_retried += 1;
            continue;
        }
        tally.interrupted += 1;
        assert_ne!(
            *next,
            Recovery::Retry,
            "{step} is not idempotent: never a blind retry"
        );
        let same = |s: &drctl_core::StepId, i: &Option<u32>| s == step && i == item;
        let mut cleared = false;
        let mut paused = false;
        for later in &events[at + 1..] {
            match &later.kind {
                EventKind::Reconciled {
                    step: s,
                    item: i,
                    observed,
                    ..
                } if same(s, i) => {
                    tally.reconciled += 1;
                    match observed {
                        Reconciliation::NotDone => cleared = true,
                        Reconciliation::Done { .. } => break,
                        Reconciliation::Unknown { reason } => {
                            panic!("the check of {step} could not tell: {reason}")
                        }
                    }
                }
                // One pause stops the run for all the steps a crash interrupted at once;
                // it names the first.
                EventKind::Paused {
                    reason: PauseReason::Interrupted { .. },
                } => paused = true,
                EventKind::OperatorDecision {
                    step: s, item: i, ..
                } if same(s, i) => {
                    // Retry or skip: from here on, the operator's word stands.
                    assert!(
                        paused,
                        "an operator decided {step} before the run paused for it"
                    );
                    break;
                }
                EventKind::AttemptStarted(a) if same(&a.step, &a.item) => {
                    assert!(
                        cleared,
                        "{step} ran again after a crash with nobody deciding it"
                    );
                    break;
                }
                _ => {}
            }
        }
        if *next == Recovery::Pause {
            assert!(paused, "interrupted {step} paused the run");
            tally.paused += 1;
        }
    }
}

/// Waits up to `limit` for a child to exit.
fn wait_for(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Whether a process is alive (a zombie waiting for its reaper counts as gone).
fn running(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z'))
    })
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
