//! An in-memory store: the reference implementation of the contract, and the store of
//! fast tests. A `std::sync::Mutex` guards it: no `.await` happens while it is held and
//! every critical section is a few map operations.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;
use drctl_core::{Actor, RunId, Timestamp};

use crate::chain::{GENESIS, link};
use crate::deliveries::{
    Dedup, Deliveries, DeliveryRow, Holder, Placed, Proposal, Settled, Verdict as DeliveryVerdict,
};
use crate::error::StoreError;
use crate::ledger::{self, LedgerEntry, LedgerKind};
use crate::rows::{
    Checked, Claim, Command, CommandOutcome, Lease, LockOutcome, NewEvent, NewRun, RunFilter,
    RunRow, StepRow, StoredEvent,
};
use crate::schedules::{
    ChangeRow, FiringOutcome, FiringRow, NewFiring, ReadinessRow, ScheduleRow, Schedules,
    apply_change,
};
use crate::traits::{BuildBatch, CommandInbox, Locks, RunReader, RunWriter};

#[derive(Debug, Default)]
struct Inner {
    runs: BTreeMap<RunId, RunRow>,
    events: HashMap<RunId, Vec<StoredEvent>>,
    steps: HashMap<RunId, BTreeMap<(u32, Option<u32>), StepRow>>,
    locks: HashMap<String, RunId>,
    /// Each command with its outcome once taken.
    commands: Vec<(Command, Option<CommandOutcome>)>,
    fences: HashMap<RunId, u64>,
    ledger: Vec<LedgerEntry>,
    signed: Vec<crate::rows::SignedHead>,
    /// Renewals still to refuse as `Unavailable` (see `fail_renewals`).
    failing_renewals: usize,
    /// Appends still to fail after their batch is built (see `fail_appends`).
    failing_appends: usize,
    /// Every event's run and seq, in the order stored: the cursor is the index + 1.
    feed: Vec<(RunId, u64)>,
    schedules: BTreeMap<(String, String), ScheduleRow>,
    /// By (runbook, trigger, nominal ms): the unique key of a firing.
    firings: BTreeMap<(String, String, i64), FiringRow>,
    changes: Vec<ChangeRow>,
    notices: std::collections::HashSet<String>,
    deliveries: Vec<DeliveryRow>,
    /// Proposals' bodies, by delivery seq.
    proposals: HashMap<u64, String>,
    readiness: Vec<ReadinessRow>,
    /// By run, then (step, item, attempt).
    live: HashMap<RunId, LiveByAttempt>,
}

/// A run's live output rows, by (step, item, attempt).
type LiveByAttempt = BTreeMap<(String, Option<u32>, u32), crate::live::LiveRow>;

/// See the module doc.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

impl MemoryStore {
    /// Makes the next `n` lease renewals fail as a store that does not answer would
    /// (`usize::MAX`: all of them): for testing what a driver does then.
    pub fn fail_renewals(&self, n: usize) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.failing_renewals = n;
        }
    }

    /// Makes the next `n` appends fail after their batch is built, as a commit that fails
    /// would (`usize::MAX`: all of them).
    pub fn fail_appends(&self, n: usize) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.failing_appends = n;
        }
    }

    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Inner>, StoreError> {
        self.inner
            .lock()
            .map_err(|_| StoreError::Unavailable("a previous writer panicked".into()))
    }

    /// Replaces a stored event, for tamper tests.
    pub fn tamper(&self, run: &RunId, seq: u64, body: &str) {
        if let Ok(mut inner) = self.inner.lock()
            && let Some(e) = inner
                .events
                .get_mut(run)
                .and_then(|v| v.iter_mut().find(|e| e.seq == seq))
        {
            e.body = body.to_owned();
        }
    }
}

#[async_trait]
impl RunWriter for MemoryStore {
    async fn create_run(&self, run: &NewRun, first: &NewEvent) -> Result<(), StoreError> {
        insert_run(&mut *self.lock()?, run, first)
    }

    async fn append(
        &self,
        lease: &Lease,
        now: Timestamp,
        build: &mut BuildBatch<'_>,
    ) -> Result<Option<u64>, StoreError> {
        let mut inner = self.lock()?;
        let fence = inner.fences.get(&lease.run).copied().unwrap_or(0);
        let row = inner
            .runs
            .get(&lease.run)
            .ok_or_else(|| StoreError::NotFound(lease.run.to_string()))?;
        if row.owner.as_deref() != Some(lease.owner.as_str()) || fence != lease.fence {
            return Err(StoreError::LeaseLost(lease.run.clone()));
        }
        let waiting: Vec<Command> = inner
            .commands
            .iter()
            .filter(|(c, outcome)| c.run == lease.run && outcome.is_none())
            .map(|(c, _)| c.clone())
            .collect();
        let Some(a) = build(&waiting) else {
            return Ok(None);
        };
        if inner.failing_appends > 0 {
            // As a commit that fails: the batch was built, nothing is stored.
            inner.failing_appends -= 1;
            return Err(StoreError::Unavailable(
                "appends are failing (a test asked)".into(),
            ));
        }
        let row = inner
            .runs
            .get(&lease.run)
            .ok_or_else(|| StoreError::NotFound(lease.run.to_string()))?;
        if row.version != a.expected {
            return Err(StoreError::VersionConflict {
                run: row.id.clone(),
                expected: a.expected,
                actual: row.version,
            });
        }
        for t in &a.taken {
            if !waiting.iter().any(|c| c.id == t.id) {
                return Err(StoreError::Corrupt(format!(
                    "command {} is not waiting for run {}",
                    t.id, lease.run
                )));
            }
        }
        let stored = link(&row.id, &row.head_hash, a.expected + 1, &a.events);
        let version = a.expected + a.events.len() as u64;
        let id = row.id.clone();
        let finishes = row.finished_at.is_none() && a.projection.finished_at.is_some();
        if let Some(row) = inner.runs.get_mut(&id) {
            row.version = version;
            if let Some(last) = stored.last() {
                row.head_hash = last.hash.clone();
            }
            row.status = a.projection.status;
            row.detail = a.projection.detail.clone();
            row.finished_at = a.projection.finished_at;
            row.rto = a.projection.rto;
            row.updated_at = now;
        }
        inner
            .feed
            .extend(stored.iter().map(|e| (id.clone(), e.seq)));
        inner.events.entry(id.clone()).or_default().extend(stored);
        let steps = inner.steps.entry(id.clone()).or_default();
        for s in &a.projection.steps {
            steps.insert((s.position, s.item), s.clone());
        }
        if a.projection.release_locks {
            inner.locks.retain(|_, holder| *holder != id);
        }
        for t in a.taken {
            if let Some((cmd, outcome)) = inner.commands.iter_mut().find(|(c, _)| c.id == t.id) {
                *outcome = Some(t.outcome);
                if let Some(body) = t.body {
                    cmd.body = body;
                }
            }
        }
        if finishes && let Some(head) = inner.runs.get(&id).map(|r| r.head_hash.clone()) {
            let entry = ledger::next(
                inner.ledger.last().map(|l| (l.seq, l.hash.as_str())),
                &id,
                LedgerKind::Finished,
                version,
                &head,
            );
            inner.ledger.push(entry);
        }
        Ok(Some(version))
    }

    async fn claim(&self, c: &Claim) -> Result<Lease, StoreError> {
        let mut inner = self.lock()?;
        let row = inner
            .runs
            .get(&c.run)
            .ok_or_else(|| StoreError::NotFound(c.run.to_string()))?;
        if !c.may_take(row.owner.as_deref(), row.lease_until) {
            return Err(StoreError::Leased {
                run: c.run.clone(),
                owner: row.owner.clone().unwrap_or_default(),
                until: row.lease_until.unwrap_or(c.now),
            });
        }
        let fence = inner.fences.get(&c.run).copied().unwrap_or(0) + 1;
        inner.fences.insert(c.run.clone(), fence);
        let lease = c.lease(fence);
        if let Some(row) = inner.runs.get_mut(&c.run) {
            row.owner = Some(c.owner.clone());
            row.lease_until = Some(lease.until);
        }
        Ok(lease)
    }

    async fn renew(
        &self,
        lease: &Lease,
        now: Timestamp,
        ttl: std::time::Duration,
    ) -> Result<Lease, StoreError> {
        let mut inner = self.lock()?;
        if inner.failing_renewals > 0 {
            inner.failing_renewals -= 1;
            return Err(StoreError::Unavailable(
                "renewals are failing (a test asked)".into(),
            ));
        }
        let fence = inner.fences.get(&lease.run).copied().unwrap_or(0);
        let row = inner
            .runs
            .get_mut(&lease.run)
            .ok_or_else(|| StoreError::NotFound(lease.run.to_string()))?;
        if row.owner.as_deref() != Some(lease.owner.as_str()) || fence != lease.fence {
            return Err(StoreError::LeaseLost(lease.run.clone()));
        }
        let until = now.plus(ttl);
        row.lease_until = Some(until);
        Ok(Lease {
            until,
            ..lease.clone()
        })
    }

    async fn release(&self, lease: &Lease) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        let fence = inner.fences.get(&lease.run).copied().unwrap_or(0);
        if let Some(row) = inner.runs.get_mut(&lease.run)
            && row.owner.as_deref() == Some(lease.owner.as_str())
            && fence == lease.fence
        {
            row.owner = None;
            row.lease_until = None;
        }
        Ok(())
    }
}

#[async_trait]
impl Locks for MemoryStore {
    async fn try_lock(
        &self,
        name: &str,
        run: &RunId,
        _now: Timestamp,
    ) -> Result<LockOutcome, StoreError> {
        let mut inner = self.lock()?;
        if let Some(holder) = inner.locks.get(name).cloned() {
            let finished = inner.runs.get(&holder).is_none_or(RunRow::is_finished);
            if holder != *run && !finished {
                return Ok(LockOutcome::HeldBy(holder));
            }
        }
        inner.locks.insert(name.to_owned(), run.clone());
        Ok(LockOutcome::Acquired)
    }

    async fn unlock(&self, name: &str, run: &RunId) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        if inner.locks.get(name) == Some(run) {
            inner.locks.remove(name);
        }
        Ok(())
    }
}

#[async_trait]
impl CommandInbox for MemoryStore {
    async fn push_command(
        &self,
        run: &RunId,
        at: Timestamp,
        actor: &drctl_core::Actor,
        body: &serde_json::Value,
        checked: Option<Checked>,
    ) -> Result<u64, StoreError> {
        let mut inner = self.lock()?;
        let row = inner
            .runs
            .get(run)
            .ok_or_else(|| StoreError::NotFound(run.to_string()))?;
        if row.is_finished() {
            return Err(StoreError::Finished(run.clone()));
        }
        if let Some(c) = checked {
            let newest = inner
                .commands
                .iter()
                .filter(|(cmd, outcome)| cmd.run == *run && outcome.is_none())
                .map(|(cmd, _)| cmd.id)
                .max()
                .unwrap_or(0);
            if row.version != c.version || newest != c.newest_waiting {
                return Err(StoreError::VersionConflict {
                    run: run.clone(),
                    expected: c.version,
                    actual: row.version,
                });
            }
        }
        let id = inner.commands.len() as u64 + 1;
        inner.commands.push((
            Command {
                id,
                run: run.clone(),
                at,
                actor: actor.clone(),
                body: body.clone(),
            },
            None,
        ));
        Ok(id)
    }

    async fn has_commands(&self, run: &RunId) -> Result<bool, StoreError> {
        let inner = self.lock()?;
        Ok(inner
            .commands
            .iter()
            .any(|(c, outcome)| c.run == *run && outcome.is_none()))
    }

    async fn waiting_commands(&self, run: &RunId) -> Result<Vec<Command>, StoreError> {
        let inner = self.lock()?;
        Ok(inner
            .commands
            .iter()
            .filter(|(c, outcome)| c.run == *run && outcome.is_none())
            .map(|(c, _)| c.clone())
            .collect())
    }

    async fn command_outcome(&self, id: u64) -> Result<Option<CommandOutcome>, StoreError> {
        let inner = self.lock()?;
        inner
            .commands
            .iter()
            .find(|(c, _)| c.id == id)
            .map(|(_, outcome)| outcome.clone())
            .ok_or_else(|| StoreError::NotFound(format!("command {id}")))
    }
}

#[async_trait]
impl RunReader for MemoryStore {
    async fn run(&self, id: &RunId) -> Result<Option<RunRow>, StoreError> {
        Ok(self.lock()?.runs.get(id).cloned())
    }

    async fn resolve(&self, prefix: &str) -> Result<RunId, StoreError> {
        let inner = self.lock()?;
        let matches: Vec<&RunId> = inner
            .runs
            .keys()
            .filter(|id| id.as_str().starts_with(prefix))
            .collect();
        crate::resolve_matches(prefix, &matches)
    }

    async fn list_runs(&self, f: &RunFilter) -> Result<Vec<RunRow>, StoreError> {
        let inner = self.lock()?;
        let mut rows: Vec<RunRow> = inner
            .runs
            .values()
            .filter(|r| f.status.as_ref().is_none_or(|s| r.status == *s))
            .filter(|r| f.runbook.as_ref().is_none_or(|b| r.runbook == *b))
            .filter(|r| !f.top_level || r.parent.is_none())
            .filter(|r| f.drill.is_none_or(|d| r.drill == d))
            .filter(|r| f.since.is_none_or(|t| r.created_at >= t))
            .filter(|r| {
                f.before
                    .as_ref()
                    .is_none_or(|(at, id)| (r.created_at, &r.id) < (*at, id))
            })
            .cloned()
            .collect();
        rows.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| b.id.cmp(&a.id))
        });
        if f.limit > 0 {
            rows.truncate(f.limit);
        }
        Ok(rows)
    }

    async fn children(&self, parent: &RunId) -> Result<Vec<RunRow>, StoreError> {
        let inner = self.lock()?;
        let mut rows: Vec<RunRow> = inner
            .runs
            .values()
            .filter(|r| r.parent.as_ref() == Some(parent))
            .cloned()
            .collect();
        rows.sort_by(|a, b| {
            a.created_at
                .cmp(&b.created_at)
                .then_with(|| a.id.cmp(&b.id))
        });
        Ok(rows)
    }

    async fn steps(&self, run: &RunId) -> Result<Vec<StepRow>, StoreError> {
        Ok(self
            .lock()?
            .steps
            .get(run)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default())
    }

    async fn events(&self, run: &RunId, after: u64) -> Result<Vec<StoredEvent>, StoreError> {
        let inner = self.lock()?;
        Ok(inner
            .events
            .get(run)
            .map(|v| v.iter().filter(|e| e.seq > after).cloned().collect())
            .unwrap_or_default())
    }

    async fn feed(
        &self,
        cursor: u64,
        run: Option<&RunId>,
        limit: usize,
    ) -> Result<Vec<(u64, StoredEvent)>, StoreError> {
        let inner = self.lock()?;
        let start = usize::try_from(cursor).unwrap_or(usize::MAX);
        Ok(inner
            .feed
            .iter()
            .enumerate()
            .skip(start)
            .filter(|(_, (r, _))| run.is_none_or(|want| want == r))
            .take(limit)
            .filter_map(|(i, (r, seq))| {
                let event = inner.events.get(r)?.get(usize::try_from(*seq).ok()? - 1)?;
                Some((i as u64 + 1, event.clone()))
            })
            .collect())
    }

    async fn ledger(&self) -> Result<Vec<LedgerEntry>, StoreError> {
        Ok(self.lock()?.ledger.clone())
    }

    async fn snapshot(&self, only: Option<&RunId>) -> Result<crate::rows::Snapshot, StoreError> {
        let inner = self.lock()?;
        let mut runs: Vec<(RunRow, Vec<StoredEvent>)> = inner
            .runs
            .values()
            .filter(|row| only.is_none_or(|id| row.id == *id))
            .map(|row| {
                let events = inner.events.get(&row.id).cloned().unwrap_or_default();
                (row.clone(), events)
            })
            .collect();
        runs.sort_by(|a, b| (a.0.created_at, &a.0.id).cmp(&(b.0.created_at, &b.0.id)));
        Ok(crate::rows::Snapshot {
            runs,
            ledger: inner.ledger.clone(),
            signed: inner.signed.clone(),
        })
    }
}

#[async_trait]
impl crate::traits::SignedHeads for MemoryStore {
    async fn ledger_after(&self, after: u64, limit: usize) -> Result<Vec<LedgerEntry>, StoreError> {
        Ok(self
            .lock()?
            .ledger
            .iter()
            .filter(|e| e.seq > after)
            .take(limit)
            .cloned()
            .collect())
    }

    async fn add_signed_heads(&self, heads: &[crate::rows::SignedHead]) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        for h in heads {
            if !inner
                .signed
                .iter()
                .any(|s| s.seq == h.seq && s.key == h.key)
            {
                inner.signed.push(h.clone());
            }
        }
        inner
            .signed
            .sort_by(|a, b| (a.seq, &a.key).cmp(&(b.seq, &b.key)));
        Ok(())
    }

    async fn signed_heads(&self) -> Result<Vec<crate::rows::SignedHead>, StoreError> {
        Ok(self.lock()?.signed.clone())
    }

    async fn last_signed(&self, key: &str) -> Result<Option<u64>, StoreError> {
        Ok(self
            .lock()?
            .signed
            .iter()
            .filter(|s| s.key == key)
            .map(|s| s.seq)
            .max())
    }
}

/// A new run with its first event, and its ledger entry.
fn insert_run(inner: &mut Inner, run: &NewRun, first: &NewEvent) -> Result<(), StoreError> {
    if inner.runs.contains_key(&run.id) {
        return Err(StoreError::Exists(run.id.clone()));
    }
    let events = link(&run.id, GENESIS, 1, std::slice::from_ref(first));
    inner.runs.insert(
        run.id.clone(),
        RunRow {
            id: run.id.clone(),
            runbook: run.runbook.clone(),
            source_name: run.source_name.clone(),
            digest: run.digest.clone(),
            parent: run.parent.clone(),
            parent_step: run.parent_step.clone(),
            actor: run.actor.clone(),
            status: crate::rows::RunStatus::Created,
            detail: None,
            created_at: run.created_at,
            updated_at: run.created_at,
            finished_at: None,
            version: 1,
            head_hash: events[0].hash.clone(),
            drill: run.drill,
            trigger: run.trigger.clone(),
            owner: None,
            lease_until: None,
            rto: None,
        },
    );
    let entry = ledger::next(
        inner.ledger.last().map(|l| (l.seq, l.hash.as_str())),
        &run.id,
        LedgerKind::Created,
        1,
        &events[0].hash,
    );
    inner.ledger.push(entry);
    inner.feed.push((run.id.clone(), 1));
    inner.events.insert(run.id.clone(), events);
    Ok(())
}

#[async_trait]
impl Schedules for MemoryStore {
    async fn schedule(
        &self,
        runbook: &str,
        trigger: &str,
        now: Timestamp,
    ) -> Result<ScheduleRow, StoreError> {
        let mut inner = self.lock()?;
        let row = inner
            .schedules
            .entry((runbook.to_owned(), trigger.to_owned()))
            .or_insert_with(|| ScheduleRow {
                runbook: runbook.to_owned(),
                trigger: trigger.to_owned(),
                since: now,
                paused: None,
                waiver: None,
            });
        Ok(row.clone())
    }

    async fn change_schedule(&self, change: &ChangeRow) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        let row = inner
            .schedules
            .get_mut(&(change.runbook.clone(), change.trigger.clone()))
            .ok_or_else(|| {
                StoreError::NotFound(format!("schedule {} of {}", change.trigger, change.runbook))
            })?;
        apply_change(row, change);
        inner.changes.push(change.clone());
        Ok(())
    }

    async fn schedule_changes(
        &self,
        runbook: &str,
        trigger: &str,
        limit: u32,
    ) -> Result<Vec<ChangeRow>, StoreError> {
        Ok(self
            .lock()?
            .changes
            .iter()
            .rev()
            .filter(|c| c.runbook == runbook && c.trigger == trigger)
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn record_firing(
        &self,
        firing: &NewFiring,
        run: Option<(&NewRun, &NewEvent)>,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock()?;
        let key = firing_key(&firing.runbook, &firing.trigger, firing.nominal);
        if inner.firings.contains_key(&key) {
            return Ok(false);
        }
        if let Some((row, first)) = run {
            insert_run(&mut inner, row, first)?;
        }
        inner.firings.insert(
            key,
            FiringRow {
                runbook: firing.runbook.clone(),
                trigger: firing.trigger.clone(),
                nominal: firing.nominal,
                at: firing.at,
                outcome: firing.outcome,
                reason: firing.reason.clone(),
                run: run.map(|(r, _)| r.id.clone()),
            },
        );
        Ok(true)
    }

    async fn start_buffered(
        &self,
        firing: &FiringRow,
        (row, first): (&NewRun, &NewEvent),
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock()?;
        let key = firing_key(&firing.runbook, &firing.trigger, firing.nominal);
        match inner.firings.get(&key) {
            Some(f) if f.outcome == FiringOutcome::Buffered => {}
            _ => return Ok(false),
        }
        insert_run(&mut inner, row, first)?;
        if let Some(f) = inner.firings.get_mut(&key) {
            f.outcome = FiringOutcome::Started;
            f.run = Some(row.id.clone());
        }
        Ok(true)
    }

    async fn record_readiness(&self, check: &ReadinessRow) -> Result<(), StoreError> {
        self.lock()?.readiness.push(check.clone());
        Ok(())
    }

    async fn last_readiness(&self, runbook: &str) -> Result<Option<ReadinessRow>, StoreError> {
        Ok(self
            .lock()?
            .readiness
            .iter()
            .rev()
            .find(|r| r.runbook == runbook)
            .cloned())
    }

    async fn claim_notice(&self, key: &str, _at: Timestamp) -> Result<bool, StoreError> {
        Ok(self.lock()?.notices.insert(key.to_owned()))
    }

    async fn release_notice(&self, key: &str) -> Result<(), StoreError> {
        self.lock()?.notices.remove(key);
        Ok(())
    }

    async fn schedule_log(
        &self,
        since: Option<Timestamp>,
        until: Option<Timestamp>,
    ) -> Result<(Vec<ChangeRow>, Vec<FiringRow>), StoreError> {
        let inner = self.lock()?;
        let within = |t: Timestamp| since.is_none_or(|s| t >= s) && until.is_none_or(|u| t < u);
        let changes = inner
            .changes
            .iter()
            .filter(|c| within(c.at))
            .cloned()
            .collect();
        let mut firings: Vec<FiringRow> = inner
            .firings
            .values()
            .filter(|f| within(f.at))
            .cloned()
            .collect();
        firings.sort_by(|a, b| {
            (a.at, &a.runbook, &a.trigger, a.nominal)
                .cmp(&(b.at, &b.runbook, &b.trigger, b.nominal))
        });
        Ok((changes, firings))
    }

    async fn firings(
        &self,
        runbook: &str,
        trigger: &str,
        limit: u32,
    ) -> Result<Vec<FiringRow>, StoreError> {
        let inner = self.lock()?;
        Ok(inner
            .firings
            .values()
            .rev()
            .filter(|f| f.runbook == runbook && f.trigger == trigger)
            .take(limit as usize)
            .cloned()
            .collect())
    }
}

#[async_trait]
impl crate::live::LiveOutputs for MemoryStore {
    async fn put_live(&self, run: &RunId, row: &crate::live::LiveRow) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        let key = (row.step.clone(), row.item, row.attempt);
        inner
            .live
            .entry(run.clone())
            .or_default()
            .insert(key, row.clone());
        Ok(())
    }

    async fn live(&self, run: &RunId, step: &str) -> Result<Vec<crate::live::LiveRow>, StoreError> {
        let inner = self.lock()?;
        let mut rows: Vec<_> = inner
            .live
            .get(run)
            .into_iter()
            .flat_map(|m| m.values())
            .filter(|r| r.step == step)
            .cloned()
            .collect();
        rows.sort_by_key(|r| (r.attempt, r.item));
        Ok(rows)
    }

    async fn clear_live(&self, run: &RunId) -> Result<(), StoreError> {
        self.lock()?.live.remove(run);
        Ok(())
    }

    async fn drop_live(
        &self,
        run: &RunId,
        (step, item, attempt): (&str, Option<u32>, u32),
    ) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        if let Some(m) = inner.live.get_mut(run) {
            m.remove(&(step.to_owned(), item, attempt));
            if m.is_empty() {
                inner.live.remove(run);
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Deliveries for MemoryStore {
    async fn claim_delivery(
        &self,
        (hook, runbook): (&str, &str),
        id: Option<&str>,
        (at, peer): (Timestamp, &str),
    ) -> Result<Result<u64, DeliveryRow>, StoreError> {
        let mut inner = self.lock()?;
        if let Some(id) = id
            && let Some(earlier) = inner
                .deliveries
                .iter()
                .find(|d| d.hook == hook && d.id.as_deref() == Some(id))
        {
            return Ok(Err(earlier.clone()));
        }
        let seq = inner.deliveries.len() as u64 + 1;
        inner.deliveries.push(DeliveryRow {
            seq,
            hook: hook.to_owned(),
            runbook: runbook.to_owned(),
            id: id.map(str::to_owned),
            at,
            peer: peer.to_owned(),
            verdict: DeliveryVerdict::Pending,
            run: None,
            key: None,
            detail: None,
            expires: None,
            by: None,
        });
        Ok(Ok(seq))
    }

    async fn settle_delivery(&self, seq: u64, settled: &Settled) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        let d = inner
            .deliveries
            .iter_mut()
            .find(|d| d.seq == seq)
            .ok_or_else(|| StoreError::NotFound(format!("delivery {seq}")))?;
        d.verdict = settled.verdict;
        d.run.clone_from(&settled.run);
        d.key.clone_from(&settled.key);
        d.detail.clone_from(&settled.detail);
        Ok(())
    }

    async fn start_delivery(
        &self,
        seq: u64,
        dedup: Option<Dedup<'_>>,
        (row, first): (&NewRun, &NewEvent),
    ) -> Result<Placed, StoreError> {
        let mut inner = self.lock()?;
        if let Some(held) = held_by(&mut inner, seq, dedup)? {
            return Ok(held);
        }
        insert_run(&mut inner, row, first)?;
        let d = pending(&mut inner, seq)?;
        d.verdict = DeliveryVerdict::Started;
        d.run = Some(row.id.clone());
        d.key = dedup.map(|d| d.key.to_owned());
        d.detail = None;
        Ok(Placed::New)
    }

    async fn propose_delivery(
        &self,
        seq: u64,
        dedup: Option<Dedup<'_>>,
        proposal: &Proposal,
    ) -> Result<Placed, StoreError> {
        let mut inner = self.lock()?;
        if let Some(held) = held_by(&mut inner, seq, dedup)? {
            return Ok(held);
        }
        let d = pending(&mut inner, seq)?;
        d.verdict = DeliveryVerdict::Proposed;
        d.run = Some(proposal.run.clone());
        d.key = dedup.map(|d| d.key.to_owned());
        d.detail = None;
        d.expires = Some(proposal.expires);
        inner.proposals.insert(seq, proposal.body.clone());
        Ok(Placed::New)
    }

    async fn proposal(&self, run: &RunId) -> Result<Option<(DeliveryRow, String)>, StoreError> {
        let inner = self.lock()?;
        Ok(inner
            .deliveries
            .iter()
            .filter(|d| d.run.as_ref() == Some(run))
            .find_map(|d| Some((d.clone(), inner.proposals.get(&d.seq)?.clone()))))
    }

    async fn proposals(&self, now: Timestamp) -> Result<Vec<(DeliveryRow, String)>, StoreError> {
        let inner = self.lock()?;
        Ok(inner
            .deliveries
            .iter()
            .filter(|d| {
                d.verdict == DeliveryVerdict::Proposed && d.expires.is_some_and(|e| e > now)
            })
            .filter_map(|d| Some((d.clone(), inner.proposals.get(&d.seq)?.clone())))
            .collect())
    }

    async fn settle_proposal(
        &self,
        proposed: &RunId,
        (now, by, detail): (Timestamp, &Actor, &str),
        run: Option<(&NewRun, &NewEvent)>,
    ) -> Result<Option<DeliveryVerdict>, StoreError> {
        let mut inner = self.lock()?;
        let Some(i) = inner.deliveries.iter().position(|d| {
            d.run.as_ref() == Some(proposed) && d.verdict == DeliveryVerdict::Proposed
        }) else {
            return Ok(None);
        };
        let verdict = match run {
            _ if inner.deliveries[i].expires.is_none_or(|e| now >= e) => DeliveryVerdict::Expired,
            Some((row, first)) => {
                insert_run(&mut inner, row, first)?;
                DeliveryVerdict::Started
            }
            None => DeliveryVerdict::Rejected,
        };
        let d = &mut inner.deliveries[i];
        d.verdict = verdict;
        if verdict == DeliveryVerdict::Expired {
            d.detail = Some(crate::deliveries::EXPIRED.to_owned());
        } else {
            d.detail = Some(detail.to_owned());
            d.by = Some(by.clone());
        }
        Ok(Some(verdict))
    }

    async fn expire_proposals(&self, now: Timestamp) -> Result<u64, StoreError> {
        let mut inner = self.lock()?;
        let mut n = 0;
        for d in inner.deliveries.iter_mut().filter(|d| {
            d.verdict == DeliveryVerdict::Proposed && d.expires.is_none_or(|e| now >= e)
        }) {
            d.verdict = DeliveryVerdict::Expired;
            d.detail = Some(crate::deliveries::EXPIRED.to_owned());
            n += 1;
        }
        Ok(n)
    }

    async fn retake_delivery(
        &self,
        seq: u64,
        (verdict, at): (DeliveryVerdict, Timestamp),
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock()?;
        match inner
            .deliveries
            .iter_mut()
            .find(|d| d.seq == seq && d.verdict == verdict && d.at == at)
        {
            Some(d) => {
                d.verdict = DeliveryVerdict::Pending;
                d.at = now;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn holder(&self, hook: &str, key: &str) -> Result<Option<Holder>, StoreError> {
        Ok(holder(&*self.lock()?, hook, key))
    }

    async fn deliveries_between(
        &self,
        since: Option<Timestamp>,
        until: Option<Timestamp>,
    ) -> Result<Vec<DeliveryRow>, StoreError> {
        Ok(self
            .lock()?
            .deliveries
            .iter()
            .filter(|d| since.is_none_or(|s| d.at >= s) && until.is_none_or(|u| d.at < u))
            .cloned()
            .collect())
    }

    async fn deliveries(&self, hook: &str, limit: u32) -> Result<Vec<DeliveryRow>, StoreError> {
        Ok(self
            .lock()?
            .deliveries
            .iter()
            .rev()
            .filter(|d| d.hook == hook)
            .take(limit as usize)
            .cloned()
            .collect())
    }
}

fn pending(inner: &mut Inner, seq: u64) -> Result<&mut DeliveryRow, StoreError> {
    inner
        .deliveries
        .iter_mut()
        .find(|d| d.seq == seq && d.verdict == DeliveryVerdict::Pending)
        .ok_or_else(|| StoreError::NotFound(format!("pending delivery {seq}")))
}

/// See the SQLite store's `held_by`: the run another delivery of the key holds, to
/// which `seq` is attached.
fn held_by(
    inner: &mut Inner,
    seq: u64,
    dedup: Option<Dedup<'_>>,
) -> Result<Option<Placed>, StoreError> {
    let Some(dedup) = dedup else {
        return Ok(None);
    };
    let hook = pending(inner, seq)?.hook.clone();
    let Some(h) = holder(inner, &hook, dedup.key).filter(|h| h.holds(dedup.window, dedup.now))
    else {
        return Ok(None);
    };
    let d = pending(inner, seq)?;
    d.verdict = DeliveryVerdict::Attached;
    d.run = Some(h.run.clone());
    d.key = Some(dedup.key.to_owned());
    d.detail = None;
    Ok(Some(Placed::Attached(h.run)))
}

fn holder(inner: &Inner, hook: &str, key: &str) -> Option<Holder> {
    let d = inner.deliveries.iter().rev().find(|d| {
        d.hook == hook
            && d.key.as_deref() == Some(key)
            && matches!(
                d.verdict,
                DeliveryVerdict::Started | DeliveryVerdict::Proposed
            )
    })?;
    let run = d.run.clone()?;
    Some(Holder {
        finished: inner.runs.get(&run).and_then(|r| r.finished_at),
        run,
        verdict: d.verdict,
        expires: d.expires,
    })
}

/// A firing's unique key: (runbook, trigger, nominal time).
fn firing_key(runbook: &str, trigger: &str, nominal: Timestamp) -> (String, String, i64) {
    (runbook.to_owned(), trigger.to_owned(), nominal.as_millis())
}
