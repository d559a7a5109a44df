//! The store-wide ledger: one hash chain across runs, so that removing a whole run (its
//! events and its row) is found too, which no per-run chain can show.
//!
//! A run enters the ledger twice: when it is created (its first event's hash) and when it
//! finishes (its version and head hash), the moments its state changes for good. Appends
//! in between touch only their run's chain, so busy runs never contend on the ledger.
//! `entry hash = sha256(prev_hash ‖ seq ‖ run ‖ kind ‖ version ‖ head)`, like the event
//! chain (see [`crate::chain`]).

use drctl_core::RunId;
use sha2::{Digest, Sha256};

use crate::chain::GENESIS;

/// Why a run entered the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedgerKind {
    Created,
    Finished,
}

impl LedgerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LedgerKind::Created => "created",
            LedgerKind::Finished => "finished",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "created" => Some(LedgerKind::Created),
            "finished" => Some(LedgerKind::Finished),
            _ => None,
        }
    }
}

/// One entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    /// 1 for the first entry of the store.
    pub seq: u64,
    pub run: RunId,
    pub kind: LedgerKind,
    /// The run's version (event count) at that moment.
    pub version: u64,
    /// The hash of the run's last event at that moment.
    pub head: String,
    pub prev_hash: String,
    pub hash: String,
}

fn hash(prev: &str, seq: u64, run: &RunId, kind: LedgerKind, version: u64, head: &str) -> String {
    let mut h = Sha256::new();
    for part in [
        prev,
        &seq.to_string(),
        run.as_str(),
        kind.as_str(),
        &version.to_string(),
        head,
    ] {
        h.update(part.as_bytes());
        h.update(b"\n");
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The entry that follows `last` (`None` for the store's first).
pub fn next(
    last: Option<(u64, &str)>,
    run: &RunId,
    kind: LedgerKind,
    version: u64,
    head: &str,
) -> LedgerEntry {
    let (seq, prev) = last.map_or((1, GENESIS), |(seq, hash)| (seq + 1, hash));
    LedgerEntry {
        seq,
        run: run.clone(),
        kind,
        version,
        head: head.to_owned(),
        prev_hash: prev.to_owned(),
        hash: hash(prev, seq, run, kind, version, head),
    }
}

/// What the ledger is checked against: each run as the store holds it now.
#[derive(Debug, Clone)]
pub struct RunHeads {
    pub run: RunId,
    /// The hash of event 1.
    pub first: String,
    pub version: u64,
    pub head: String,
    pub finished: bool,
}

/// The first problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct LedgerBreak {
    pub reason: String,
}

/// Checks the ledger's own chain, then that it and the runs agree: every run in the
/// ledger exists with the heads it recorded, and every run stored is in the ledger.
pub fn verify(entries: &[LedgerEntry], runs: &[RunHeads]) -> Result<(), LedgerBreak> {
    let fail = |reason: String| Err(LedgerBreak { reason });
    let mut last: Option<&LedgerEntry> = None;
    for e in entries {
        let (seq, prev) = last.map_or((1, GENESIS), |l| (l.seq + 1, l.hash.as_str()));
        if e.seq != seq {
            return fail(format!(
                "ledger entry {} is numbered where {seq} was expected (an entry was removed or moved)",
                e.seq
            ));
        }
        if e.prev_hash != prev {
            return fail(format!(
                "ledger entry {} does not link to the entry before it",
                e.seq
            ));
        }
        if hash(prev, e.seq, &e.run, e.kind, e.version, &e.head) != e.hash {
            return fail(format!(
                "ledger entry {} was changed after it was written",
                e.seq
            ));
        }
        last = Some(e);
    }
    for e in entries {
        let Some(r) = runs.iter().find(|r| r.run == e.run) else {
            return fail(format!(
                "run {} is in the ledger (entry {}) but not in the database: it was deleted",
                e.run, e.seq
            ));
        };
        let agrees = match e.kind {
            LedgerKind::Created => r.first == e.head,
            LedgerKind::Finished => r.finished && r.head == e.head && r.version == e.version,
        };
        if !agrees {
            return fail(format!(
                "run {} does not match its `{}` ledger entry {}: its events were changed, removed or added after it was recorded",
                e.run,
                e.kind.as_str(),
                e.seq
            ));
        }
    }
    for r in runs {
        let has = |kind| entries.iter().any(|e| e.run == r.run && e.kind == kind);
        if !has(LedgerKind::Created) {
            return fail(format!(
                "run {} is not in the ledger: it was not created by drctl",
                r.run
            ));
        }
        if r.finished && !has(LedgerKind::Finished) {
            return fail(format!(
                "run {} is finished but its end is not in the ledger",
                r.run
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use drctl_core::Timestamp;

    fn run(n: u128) -> RunId {
        RunId::from_parts(Timestamp::from_millis(1), n)
    }

    #[test]
    fn a_removed_run_or_a_changed_entry_is_found() {
        let (a, b) = (run(1), run(2));
        let e1 = next(None, &a, LedgerKind::Created, 1, "a1");
        let e2 = next(Some((1, &e1.hash)), &b, LedgerKind::Created, 1, "b1");
        let e3 = next(Some((2, &e2.hash)), &a, LedgerKind::Finished, 5, "a5");
        let entries = vec![e1, e2, e3];
        let heads = |r: &RunId, first: &str, version, head: &str, finished| RunHeads {
            run: r.clone(),
            first: first.into(),
            version,
            head: head.into(),
            finished,
        };
        let runs = vec![
            heads(&a, "a1", 5, "a5", true),
            heads(&b, "b1", 3, "b3", false),
        ];
        assert_eq!(verify(&entries, &runs), Ok(()));
        let gone = verify(&entries, &runs[..1]).unwrap_err();
        assert!(gone.reason.contains("not in the database"), "{gone}");
        let mut edited = entries.clone();
        edited[2].version = 4;
        assert!(
            verify(&edited, &runs)
                .unwrap_err()
                .reason
                .contains("entry 3 was changed")
        );
        let mut cut = entries.clone();
        cut.remove(1);
        assert!(
            verify(&cut, &runs)
                .unwrap_err()
                .reason
                .contains("entry 3 is numbered")
        );
        let grown = vec![heads(&a, "a1", 6, "a6", true), runs[1].clone()];
        assert!(
            verify(&entries, &grown)
                .unwrap_err()
                .reason
                .contains("does not match")
        );
    }
}
