//! `/metrics`, in the OpenMetrics text format (the `prometheus-client` crate), which
//! Prometheus reads.
//!
//! Counted as things happen: runs started (by trigger), attempts (duration by action and
//! outcome), the store's append latency, interrupted attempts (by how they were settled), notices that failed, runs
//! taken over from a driver that died, drives that ended and how. Read at each scrape:
//! runs by status, approvals waiting and the oldest one's age, each scheduled drill's
//! obligation and last success, and the process's own figures (resident memory, CPU
//! seconds, open files, start time). Firings are counted as the scheduler records them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use drctl_core::Timestamp;
use drctl_engine::Observer;
use drctl_run::event::{AttemptResult, EventKind, Phase, Recovery};
use drctl_run::{Event, RunState};
use drctl_runbook::model::StepKind;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = Vec<(String, String)>;

/// An attempt: run, step, item, phase, attempt number.
type AttemptKey = (String, String, Option<u32>, Phase, u32);

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Every metric the server keeps.
pub struct Metrics {
    registry: Registry,
    runs: Family<Labels, Gauge>,
    runs_started: Family<Labels, Counter>,
    drives_ended: Family<Labels, Counter>,
    takeovers: Counter,
    attempts: Family<Labels, Histogram>,
    interrupted: Family<Labels, Counter>,
    notices_failed: Counter,
    approvals_waiting: Gauge,
    approval_oldest: Gauge,
    drill_last_success: Family<Labels, Gauge>,
    drill_obligation: Family<Labels, Gauge>,
    firings: Family<Labels, Counter>,
    appends: Histogram,
    ready: Family<Labels, Gauge>,
    readiness_age: Family<Labels, Gauge>,
    resident: Gauge,
    cpu_millis: Gauge,
    open_fds: Gauge,
    /// When each attempt in flight started, for its duration.
    started: Mutex<HashMap<AttemptKey, Timestamp>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let runs = Family::<Labels, Gauge>::default();
        registry.register(
            "drctl_runs",
            "Top-level runs by status (interrupted: nobody drives it)",
            runs.clone(),
        );
        let runs_started = Family::<Labels, Counter>::default();
        registry.register(
            "drctl_runs_started",
            "Runs started by this server, by trigger",
            runs_started.clone(),
        );
        let drives_ended = Family::<Labels, Counter>::default();
        registry.register("drctl_drives_ended", "Drives of runs that ended, by how (succeeded, failed, cancelled, paused, handed_back, error)", drives_ended.clone());
        let takeovers = Counter::default();
        registry.register(
            "drctl_lease_takeovers",
            "Runs taken over from a driver that died or stopped renewing its lease",
            takeovers.clone(),
        );
        let attempts = Family::<Labels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.005, 4.0, 10))
        });
        registry.register(
            "drctl_attempt_duration_seconds",
            "Attempts of actions, by action, phase and result",
            attempts.clone(),
        );
        let interrupted = Family::<Labels, Counter>::default();
        registry.register("drctl_attempts_interrupted", "Attempts a dead driver left in flight, by how they were settled (retry, reconcile, pause)", interrupted.clone());
        let notices_failed = Counter::default();
        registry.register(
            "drctl_notices_failed",
            "Notice deliveries that failed",
            notices_failed.clone(),
        );
        let approvals_waiting = Gauge::default();
        registry.register(
            "drctl_approvals_waiting",
            "Approval gates waiting for a decision",
            approvals_waiting.clone(),
        );
        let approval_oldest = Gauge::default();
        registry.register(
            "drctl_approval_oldest_wait_seconds",
            "How long the oldest waiting approval gate has waited",
            approval_oldest.clone(),
        );
        let drill_last_success = Family::<Labels, Gauge>::default();
        registry.register(
            "drctl_drill_last_success_timestamp_seconds",
            "When the last successful drill of a scheduled drill's runbook ended (0: never)",
            drill_last_success.clone(),
        );
        let drill_obligation = Family::<Labels, Gauge>::default();
        registry.register(
            "drctl_drill_obligation",
            "A scheduled drill's obligation: 1 for its status now (ok, due, overdue, failed, waived, stale), 0 for the others",
            drill_obligation.clone(),
        );
        let firings = Family::<Labels, Counter>::default();
        registry.register(
            "drctl_schedule_firings",
            "Firings this server recorded, by runbook and outcome (started, skipped, buffered, missed)",
            firings.clone(),
        );
        let appends = Histogram::new(exponential_buckets(0.0001, 4.0, 10));
        registry.register(
            "drctl_store_append_seconds",
            "How long the store took to commit a run's append (events, steps and commands in one transaction)",
            appends.clone(),
        );
        let ready = Family::<Labels, Gauge>::default();
        registry.register(
            "drctl_runbook_ready",
            "Whether a runbook's last readiness check found it would work now (1) or not (0)",
            ready.clone(),
        );
        let readiness_age = Family::<Labels, Gauge>::default();
        registry.register(
            "drctl_runbook_readiness_age_seconds",
            "How long ago a runbook's readiness was last checked",
            readiness_age.clone(),
        );
        let resident = Gauge::default();
        registry.register(
            "process_resident_memory_bytes",
            "Resident memory of this process",
            resident.clone(),
        );
        let cpu_millis = Gauge::default();
        registry.register(
            "process_cpu_milliseconds",
            "CPU time this process has used",
            cpu_millis.clone(),
        );
        let open_fds = Gauge::default();
        registry.register(
            "process_open_fds",
            "Open file descriptors of this process",
            open_fds.clone(),
        );
        let start_time: Gauge = Gauge::default();
        registry.register(
            "process_start_time_seconds",
            "When this process started, in seconds since the epoch",
            start_time.clone(),
        );
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        start_time.set(i64::try_from(now).unwrap_or(0));
        Self {
            registry,
            runs,
            runs_started,
            drives_ended,
            takeovers,
            attempts,
            interrupted,
            notices_failed,
            approvals_waiting,
            approval_oldest,
            drill_last_success,
            drill_obligation,
            firings,
            appends,
            ready,
            readiness_age,
            resident,
            cpu_millis,
            open_fds,
            started: Mutex::new(HashMap::new()),
        }
    }

    /// The text to answer a scrape with, after `runs` (count by status) and the waiting
    /// approvals (their number and the oldest one's age in seconds) were read.
    pub fn render(
        &self,
        runs: &[(String, i64)],
        approvals: (i64, i64),
        (schedules, readiness, now): (
            &[crate::schedule::view::ScheduleView],
            &[crate::schedule::view::ReadinessView],
            Timestamp,
        ),
    ) -> String {
        self.ready.clear();
        self.readiness_age.clear();
        for r in readiness {
            let (Some(ready), Some(at)) = (r.ready, r.checked_at) else {
                continue;
            };
            let label = labels(&[("runbook", r.runbook.as_str())]);
            self.ready.get_or_create(&label).set(i64::from(ready));
            self.readiness_age
                .get_or_create(&label)
                .set(i64::try_from(now.since(at).as_secs()).unwrap_or(i64::MAX));
        }
        self.drill_last_success.clear();
        self.drill_obligation.clear();
        for s in schedules {
            let Some(o) = &s.obligation else { continue };
            // Labelled by schedule too: a runbook's weekly and yearly drills are two
            // obligations, and a waiver of one must not hide the other.
            let (runbook, schedule) = (s.runbook.as_str(), s.name.as_str());
            let at = o.last_success.map_or(0, |t| t.as_millis() / 1000);
            self.drill_last_success
                .get_or_create(&labels(&[("runbook", runbook), ("schedule", schedule)]))
                .set(at);
            for status in crate::schedule::obligation::Obligation::ALL {
                self.drill_obligation
                    .get_or_create(&labels(&[
                        ("runbook", runbook),
                        ("schedule", schedule),
                        ("status", status.as_str()),
                    ]))
                    .set(i64::from(status == o.status));
            }
        }
        self.runs.clear();
        for (status, n) in runs {
            self.runs
                .get_or_create(&labels(&[("status", status)]))
                .set(*n);
        }
        self.approvals_waiting.set(approvals.0);
        self.approval_oldest.set(approvals.1);
        self.read_process();
        let mut out = String::new();
        let _ = encode(&mut out, &self.registry);
        out
    }

    pub fn run_started(&self, trigger: &str) {
        self.runs_started
            .get_or_create(&labels(&[("trigger", trigger)]))
            .inc();
    }

    pub fn drive_ended(&self, how: &str) {
        self.drives_ended
            .get_or_create(&labels(&[("how", how)]))
            .inc();
    }

    /// A firing the scheduler recorded.
    pub fn fired(&self, runbook: &str, outcome: &str) {
        self.firings
            .get_or_create(&labels(&[("runbook", runbook), ("outcome", outcome)]))
            .inc();
    }

    pub fn takeover(&self) {
        self.takeovers.inc();
    }

    /// Linux's `/proc/self`: the figures every Prometheus client exports.
    fn read_process(&self) {
        if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
            let kb = status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<i64>().ok());
            if let Some(kb) = kb {
                self.resident.set(kb * 1024);
            }
        }
        if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
            // After the command name (which may hold spaces), utime and stime are the
            // 12th and 13th fields; both count clock ticks (100 per second on Linux).
            let ticks: i64 = stat
                .rsplit_once(')')
                .map(|(_, rest)| {
                    rest.split_whitespace()
                        .skip(11)
                        .take(2)
                        .filter_map(|t| t.parse::<i64>().ok())
                        .sum()
                })
                .unwrap_or(0);
            self.cpu_millis.set(ticks * 10);
        }
        if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
            self.open_fds.set(i64::try_from(fds.count()).unwrap_or(0));
        }
    }
}

/// The engine's observer that counts attempts, interruptions and notices.
#[derive(Debug, Clone)]
pub struct Counting(pub Arc<Metrics>);

impl Observer for Counting {
    fn appended(&self, took: std::time::Duration) {
        self.0.appends.observe(took.as_secs_f64());
    }

    fn on_event(&self, run: &RunState, event: &Event) {
        let m = &self.0;
        match &event.kind {
            // Counted where every run starts, whoever started it (the API, a detached
            // `drctl run`, a trigger): once per run.
            EventKind::RunStarted { .. } => m.run_started(run.created.trigger.kind()),
            // A long-lived server forgets the starts of a run that is over.
            EventKind::RunFinished { .. } => {
                if let Ok(mut started) = m.started.lock() {
                    let id = run.id.to_string();
                    started.retain(|(r, ..), _| *r != id);
                }
            }
            EventKind::AttemptStarted(a) => {
                if let Ok(mut started) = m.started.lock() {
                    started.insert(
                        (
                            run.id.to_string(),
                            a.step.to_string(),
                            a.item,
                            a.phase,
                            a.attempt,
                        ),
                        event.at,
                    );
                }
            }
            EventKind::AttemptFinished {
                step,
                item,
                phase,
                attempt,
                result,
            } => {
                let began = m.started.lock().ok().and_then(|mut s| {
                    s.remove(&(
                        run.id.to_string(),
                        step.to_string(),
                        *item,
                        *phase,
                        *attempt,
                    ))
                });
                let Some(began) = began else {
                    return;
                };
                let action = match run.definition(step.as_str()).map(|d| &d.kind) {
                    Some(StepKind::Action(call)) => call.action.to_string(),
                    Some(StepKind::Call(_)) => "call".to_owned(),
                    Some(StepKind::Approval(_)) => "approval".to_owned(),
                    None => "unknown".to_owned(),
                };
                let result = match result {
                    AttemptResult::Succeeded { .. } => "succeeded",
                    AttemptResult::Failed { .. } => "failed",
                    AttemptResult::Cancelled => "cancelled",
                };
                let phase = match phase {
                    Phase::Action => "action",
                    Phase::Verify => "verify",
                    Phase::Compensate => "compensate",
                };
                #[allow(clippy::cast_precision_loss)]
                let seconds = event.at.since(began).as_millis() as f64 / 1000.0;
                m.attempts
                    .get_or_create(&labels(&[
                        ("action", &action),
                        ("phase", phase),
                        ("result", result),
                    ]))
                    .observe(seconds);
            }
            EventKind::AttemptInterrupted {
                step,
                item,
                phase,
                attempt,
                next,
            } => {
                // Its start was seen here if a pause left it unfinished: no duration.
                if let Ok(mut started) = m.started.lock() {
                    started.remove(&(
                        run.id.to_string(),
                        step.to_string(),
                        *item,
                        *phase,
                        *attempt,
                    ));
                }
                let how = match next {
                    Recovery::Retry => "retry",
                    Recovery::Reconcile => "reconcile",
                    Recovery::Pause => "pause",
                };
                m.interrupted
                    .get_or_create(&labels(&[("settled_by", how)]))
                    .inc();
            }
            EventKind::NoticeAttempted { result, .. }
                if !matches!(result, drctl_run::event::NoticeResult::Delivered { .. }) =>
            {
                m.notices_failed.inc();
            }
            _ => {}
        }
    }
}
