//! The scheduler on a manual clock and the in-memory store: a schedule fires once per
//! nominal time whoever ticks (a restart, a second server), overlap and catch-up hold,
//! and a firing that cannot start says why.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;

use chrono::{TimeZone as _, Utc};
use drctl_connectors::Registry;
use drctl_core::{Clock, ManualClock, Timestamp, Trigger};
use drctl_engine::{Engine, EngineConfig};
use drctl_server::schedule::scheduler::Scheduler;
use drctl_store::{FiringOutcome, MemoryStore, RunFilter, Store};

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> Timestamp {
    Timestamp::from_millis(
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .unwrap()
            .timestamp_millis(),
    )
}

fn drill(extra: &str) -> String {
    format!(
        "runbook: dr-drill\ntriggers:\n  - schedule: {{ name: monthly, cron: \"0 3 1 * *\", timezone: UTC, drill: true{extra} }}\nsteps:\n  - {{ id: a, action: log, with: {{ message: hi }} }}\n"
    )
}

/// A runbooks folder of its own, removed at the end.
struct Folder(std::path::PathBuf);

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Lab {
    store: Arc<dyn Store>,
    clock: Arc<ManualClock>,
    dir: Folder,
}

static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

impl Lab {
    fn new(yaml: &str, start: Timestamp) -> Self {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = Folder(
            std::env::temp_dir().join(format!("drctl-scheduler-{}-{n}", std::process::id())),
        );
        std::fs::create_dir_all(&dir.0).unwrap();
        std::fs::write(dir.0.join("dr-drill.yaml"), yaml).unwrap();
        Self {
            store: Arc::new(MemoryStore::new()),
            clock: Arc::new(ManualClock::new(start)),
            dir,
        }
    }

    /// A scheduler as one server node would run it.
    fn node(&self) -> Scheduler {
        let clock: Arc<dyn Clock> = self.clock.clone();
        Scheduler::new(
            self.engine(),
            self.store.clone(),
            clock,
            Registry::builtin(),
            self.dir.0.clone(),
        )
    }

    fn engine(&self) -> Engine {
        let clock: Arc<dyn Clock> = self.clock.clone();
        Engine::new(
            self.store.clone(),
            Arc::new(Registry::builtin()),
            clock,
            EngineConfig::default(),
        )
    }

    /// Drives a run to its end, as a server would.
    async fn drive(&self, run: &drctl_core::RunId) {
        self.engine()
            .drive(run, drctl_engine::DriveOptions::default())
            .await
            .unwrap();
    }

    fn at(&self, t: Timestamp) {
        self.clock.set(t);
    }

    async fn runs(&self) -> Vec<drctl_store::RunRow> {
        self.store
            .list_runs(&RunFilter {
                limit: 100,
                ..RunFilter::default()
            })
            .await
            .unwrap()
    }

    async fn firings(&self) -> Vec<(Timestamp, FiringOutcome)> {
        let mut all = self
            .store
            .firings("dr-drill", "monthly", 100)
            .await
            .unwrap();
        all.reverse();
        all.iter().map(|f| (f.nominal, f.outcome)).collect()
    }

    fn path(&self) -> &Path {
        &self.dir.0
    }
}

#[tokio::test]
async fn a_nominal_time_fires_once_whoever_ticks() {
    let lab = Lab::new(&drill(""), utc(2026, 11, 15, 9, 0));
    let (a, b) = (lab.node(), lab.node());
    // First seen in mid-November: nothing before is owed.
    assert!(a.tick().await.unwrap().is_empty());
    lab.at(utc(2026, 12, 1, 2, 59));
    assert!(a.tick().await.unwrap().is_empty());
    lab.at(utc(2026, 12, 1, 3, 0));
    // Two nodes tick at once: one records the firing and creates its run.
    let (fa, fb) = tokio::join!(a.tick(), b.tick());
    let fired: Vec<_> = fa.unwrap().into_iter().chain(fb.unwrap()).collect();
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0].outcome, FiringOutcome::Started);
    let runs = lab.runs().await;
    assert_eq!(runs.len(), 1);
    assert_eq!(Some(&runs[0].id), fired[0].run.as_ref());
    assert_eq!(runs[0].trigger, Trigger::Schedule("monthly".into()));
    assert!(runs[0].drill);
    assert_eq!(runs[0].actor, drctl_core::Actor::Engine);
    // A restart (a new node) later the same day owes nothing more.
    lab.at(utc(2026, 12, 1, 9, 0));
    assert!(lab.node().tick().await.unwrap().is_empty());
    assert_eq!(lab.runs().await.len(), 1);
}

#[tokio::test]
async fn a_drill_still_running_skips_the_next_firing() {
    let lab = Lab::new(&drill(""), utc(2026, 11, 15, 9, 0));
    let node = lab.node();
    node.tick().await.unwrap();
    lab.at(utc(2026, 12, 1, 3, 0));
    node.tick().await.unwrap();
    // Nobody drives it: on Jan 1 it still runs, so the firing is skipped and says so.
    lab.at(utc(2027, 1, 1, 3, 0));
    let fired = node.tick().await.unwrap();
    assert_eq!(fired[0].outcome, FiringOutcome::Skipped);
    assert!(fired[0].reason.as_deref().unwrap().contains("still going"));
    assert_eq!(lab.runs().await.len(), 1);
}

#[tokio::test]
async fn buffer_one_starts_the_waiting_firing_when_the_run_ends() {
    let lab = Lab::new(&drill(", overlap: buffer_one"), utc(2026, 11, 15, 9, 0));
    let node = lab.node();
    node.tick().await.unwrap();
    lab.at(utc(2026, 12, 1, 3, 0));
    let first = node.tick().await.unwrap()[0].run.clone().unwrap();
    lab.at(utc(2027, 1, 1, 3, 0));
    assert_eq!(
        node.tick().await.unwrap()[0].outcome,
        FiringOutcome::Buffered
    );
    lab.at(utc(2027, 2, 1, 3, 0));
    // A second waiting firing is one too many.
    assert_eq!(
        node.tick().await.unwrap()[0].outcome,
        FiringOutcome::Skipped
    );
    // The first run ends (driven to its end here); the next tick starts the buffered one.
    lab.drive(&first).await;
    let fired = node.tick().await.unwrap();
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(
        (fired[0].nominal, fired[0].outcome),
        (utc(2027, 1, 1, 3, 0), FiringOutcome::Started)
    );
    assert_eq!(lab.runs().await.len(), 2);
    assert_eq!(
        lab.firings().await,
        [
            (utc(2026, 12, 1, 3, 0), FiringOutcome::Started),
            (utc(2027, 1, 1, 3, 0), FiringOutcome::Started),
            (utc(2027, 2, 1, 3, 0), FiringOutcome::Skipped),
        ]
    );
}

#[tokio::test]
async fn downtime_runs_one_catch_up_and_records_the_rest_missed() {
    // 40 days down, with a window that covers them: one run, the older firing missed.
    let lab = Lab::new(&drill(", catchup_window: 45d"), utc(2026, 10, 15, 9, 0));
    let node = lab.node();
    node.tick().await.unwrap();
    lab.at(utc(2026, 12, 10, 9, 0));
    let fired = node.tick().await.unwrap();
    assert_eq!(
        fired
            .iter()
            .map(|f| (f.nominal, f.outcome))
            .collect::<Vec<_>>(),
        [
            (utc(2026, 11, 1, 3, 0), FiringOutcome::Missed),
            (utc(2026, 12, 1, 3, 0), FiringOutcome::Started)
        ]
    );
    assert_eq!(lab.runs().await.len(), 1);
    // 3 days down with the default window (24 h): the drill is recorded missed, not run.
    let lab = Lab::new(&drill(""), utc(2026, 11, 15, 9, 0));
    let node = lab.node();
    node.tick().await.unwrap();
    lab.at(utc(2026, 12, 3, 9, 0));
    assert_eq!(node.tick().await.unwrap()[0].outcome, FiringOutcome::Missed);
    assert!(lab.runs().await.is_empty());
}

#[tokio::test]
async fn a_firing_that_cannot_start_is_missed_and_says_why() {
    let yaml = "runbook: dr-drill\nsecrets:\n  token: { env: DRCTL_TEST_SCHEDULER_UNSET_SECRET }\ntriggers:\n  - schedule: { name: monthly, cron: \"0 3 1 * *\" }\nsteps:\n  - { id: a, action: log, with: { message: hi } }\n";
    let lab = Lab::new(yaml, utc(2026, 11, 15, 9, 0));
    let node = lab.node();
    node.tick().await.unwrap();
    lab.at(utc(2026, 12, 1, 3, 0));
    let fired = node.tick().await.unwrap();
    assert_eq!(fired[0].outcome, FiringOutcome::Missed);
    let why = fired[0].reason.clone().unwrap();
    assert!(why.starts_with("could not start: "), "{why}");
    assert!(why.contains("DRCTL_TEST_SCHEDULER_UNSET_SECRET"), "{why}");
    assert!(lab.runs().await.is_empty());
    assert!(lab.path().exists());
}

/// A webhook receiver on loopback: every JSON body posted to it.
async fn receiver() -> (String, Arc<std::sync::Mutex<Vec<serde_json::Value>>>) {
    let got = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(body): axum::Json<serde_json::Value>| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push(body);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}

#[tokio::test]
async fn missed_firings_and_failed_drills_are_noticed_once() {
    use drctl_server::schedule::notices::{Notifier, NotifyConfig, ServiceEvent, Via};
    let yaml = "runbook: dr-drill\ntriggers:\n  - schedule: { name: monthly, cron: \"0 3 1 * *\", drill: true }\nsteps:\n  - { id: a, action: assert, with: { that: false, message: replica not promoted } }\n";
    let lab = Lab::new(yaml, utc(2026, 11, 15, 9, 0));
    let (url, got) = receiver().await;
    let notifier = Notifier::new(
        &[NotifyConfig {
            on: vec![
                ServiceEvent::ScheduleMissed,
                ServiceEvent::DrillFailed,
                ServiceEvent::DrillOverdue,
            ],
            via: Via::Webhook,
            secret_env: None,
            url: Some(url),
        }],
        &Registry::builtin(),
        lab.store.clone(),
    )
    .unwrap();
    let node = lab.node().with_notifier(Arc::new(notifier));
    node.tick().await.unwrap();
    // Three days down: the Dec 1 firing is missed (24 h window), and noticed once.
    lab.at(utc(2026, 12, 3, 9, 0));
    let fired = node.tick().await.unwrap();
    node.notify(&fired).await.unwrap();
    node.notify(&fired).await.unwrap();
    {
        let bodies = got.lock().unwrap();
        assert_eq!(bodies.len(), 1, "{bodies:?}");
        assert_eq!(bodies[0]["event"], "schedule_missed");
        assert_eq!(bodies[0]["schedule"], "dr-drill/monthly");
        assert!(
            bodies[0]["message"]
                .as_str()
                .unwrap()
                .contains("catch-up window")
        );
    }
    // A drill that fails: drill_failed, once, naming the run.
    lab.at(utc(2027, 1, 1, 3, 0));
    let fired = node.tick().await.unwrap();
    let run = fired[0].run.clone().unwrap();
    lab.drive(&run).await;
    node.notify(&[]).await.unwrap();
    node.notify(&[]).await.unwrap();
    let bodies = got.lock().unwrap();
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    assert_eq!(bodies[1]["event"], "drill_failed");
    assert_eq!(bodies[1]["run"], run.as_str());
}
