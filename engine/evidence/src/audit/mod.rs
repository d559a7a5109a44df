//! The event log as evidence: exports of whole runs with their hash chains, and their
//! verification, for `drctl audit`, the API and the console alike.
//!
//! - `file`: the export format (whole runs, then a manifest) and its verification.
//! - `service`: the service's own records (webhook deliveries, schedule changes and
//!   firings), which follow the runs in an export.
//! - here: choosing the runs of an export from one snapshot of the store, and checking
//!   the store's own chains and ledger.

mod file;
mod service;

use std::collections::{BTreeMap, HashSet};
use std::io::Write;

use drctl_core::{RunId, Timestamp};
use drctl_store::ledger::{self, RunHeads};
use drctl_store::{RunRow, Snapshot, StoredEvent, chain};

pub use file::{Bad, Format, Verified, verify as verify_file};
pub use service::{ServiceCounts, ServiceLog};

use crate::keys::PublicKey;

/// Which runs an export holds (whole runs: see `file`).
#[derive(Debug, Clone, Default)]
pub struct Filters {
    /// Runs with an event at or after this.
    pub since: Option<Timestamp>,
    /// Runs with an event before this.
    pub until: Option<Timestamp>,
    pub runbook: Option<String>,
    /// Runs in which this actor caused an event.
    pub actor: Option<String>,
    pub run: Option<RunId>,
    /// The filters as given, recorded in the manifest.
    pub as_given: BTreeMap<String, String>,
}

/// The filters of an export as a person typed them (times as text): what its manifest
/// records, and what `drctl audit export --server` sends as the API's query.
#[derive(Debug, Clone, Default)]
pub struct Given {
    pub since: Option<String>,
    pub until: Option<String>,
    pub runbook: Option<String>,
    pub actor: Option<String>,
    pub run: Option<String>,
}

impl Given {
    /// Each filter given, by name.
    pub fn as_given(&self) -> BTreeMap<String, String> {
        [
            ("since", &self.since),
            ("until", &self.until),
            ("runbook", &self.runbook),
            ("actor", &self.actor),
            ("run", &self.run),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name.to_owned(), value.clone()?)))
        .collect()
    }
}

/// What an export wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exported {
    pub events: u64,
    pub runs: usize,
    pub service: ServiceCounts,
}

/// Writes the runs of `snapshot` that `filters` choose, oldest first, then the service
/// records of `service` they choose, then the manifest (with the chosen runs' ledger
/// entries and the signatures over them).
pub fn export(
    (snapshot, service): (&Snapshot, &ServiceLog),
    filters: &Filters,
    format: Format,
    out: impl Write,
    (exported_by, now): (&drctl_core::Actor, Timestamp),
) -> std::io::Result<Exported> {
    let mut writer = file::Writer::new(out, format)?;
    let mut exported = HashSet::new();
    let mut chosen_rows = Vec::new();
    for (row, events) in &snapshot.runs {
        if filters.run.as_ref().is_some_and(|id| *id != row.id)
            || filters.runbook.as_ref().is_some_and(|r| *r != row.runbook)
        {
            continue;
        }
        let chosen = events.iter().any(|e| {
            filters.since.is_none_or(|t| e.at >= t)
                && filters.until.is_none_or(|t| e.at < t)
                && filters.actor.as_ref().is_none_or(|a| e.actor == a.as_str())
        });
        if chosen {
            writer.run(events)?;
            exported.insert(row.id.clone());
            chosen_rows.push(row);
        }
    }
    for record in service.records(filters, &chosen_rows, now) {
        writer.service(&record)?;
    }
    let ledger = snapshot.ledger.last().map(|e| file::LedgerHead {
        seq: e.seq,
        hash: e.hash.clone(),
    });
    // The exported runs' ledger entries, with whatever signatures a server made over
    // them: what `audit verify --key` checks the file against.
    let entries: Vec<file::EntryRecord> = snapshot
        .ledger
        .iter()
        .filter(|e| exported.contains(&e.run))
        .map(file::EntryRecord::of)
        .collect();
    let signed = snapshot
        .signed
        .iter()
        .filter(|s| entries.iter().any(|e| e.seq == s.seq))
        .cloned()
        .collect();
    let (events, runs, service) = writer.finish(
        now,
        exported_by,
        filters.as_given.clone(),
        ledger,
        (entries, signed),
    )?;
    Ok(Exported {
        events,
        runs,
        service,
    })
}

/// How long a ledger entry may stay unsigned: a server signs each within a second or so
/// of its making (and all it finds when it starts), so one older than this had its
/// signature removed, or was made where no server with the key ran.
pub const UNSIGNED_FOR: std::time::Duration = std::time::Duration::from_secs(300);

/// What a check of the store found intact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreVerified {
    pub events: usize,
    pub runs: usize,
    pub ledger: usize,
    /// With a key: the heads it signed that hold, and the newest entries not signed yet.
    pub signed: Option<(String, crate::heads::Checked)>,
}

/// Every run's chain, that each ends where its row says, the ledger against the runs,
/// and with `key` the ledger against the heads it signed. The error names the first
/// thing wrong.
pub fn verify_store(
    snapshot: &Snapshot,
    key: Option<(&PublicKey, Timestamp)>,
) -> Result<StoreVerified, String> {
    let mut events = 0;
    let mut heads = Vec::with_capacity(snapshot.runs.len());
    for (row, log) in &snapshot.runs {
        check_run(row, log).map_err(|reason| format!("run {}: {reason}", row.id))?;
        events += log.len();
        heads.push(RunHeads {
            run: row.id.clone(),
            first: log.first().map(|e| e.hash.clone()).unwrap_or_default(),
            version: row.version,
            head: row.head_hash.clone(),
            finished: row.is_finished(),
        });
    }
    ledger::verify(&snapshot.ledger, &heads).map_err(|bad| bad.to_string())?;
    let signed = match key {
        None => None,
        Some((key, now)) => {
            // When each entry was made: its run's creation or end.
            let rows: std::collections::HashMap<&RunId, &RunRow> =
                snapshot.runs.iter().map(|(r, _)| (&r.id, r)).collect();
            let allowance = crate::heads::Allowance {
                now,
                max_age: UNSIGNED_FOR,
                age: |e: &ledger::LedgerEntry| {
                    let row = rows.get(&e.run)?;
                    match e.kind {
                        ledger::LedgerKind::Created => Some(row.created_at),
                        ledger::LedgerKind::Finished => row.finished_at,
                    }
                },
            };
            Some((
                key.fingerprint(),
                crate::heads::check(&snapshot.ledger, &snapshot.signed, key, &allowance)
                    .map_err(|m| m.to_string())?,
            ))
        }
    };
    Ok(StoreVerified {
        events,
        runs: snapshot.runs.len(),
        ledger: snapshot.ledger.len(),
        signed,
    })
}

/// A run's chain, and that it ends where the run's row says it does.
fn check_run(row: &RunRow, log: &[StoredEvent]) -> Result<(), String> {
    chain::verify(&row.id, log).map_err(|b| b.to_string())?;
    let head = log.last().map_or(chain::GENESIS, |e| e.hash.as_str());
    if head != row.head_hash || log.len() as u64 != row.version {
        return Err(format!(
            "its last event is {} (hash {head}), but the run records {} events ending in {} \
             (an event was removed from its end, or added)",
            log.len(),
            row.version,
            row.head_hash
        ));
    }
    Ok(())
}
