//! A ledger checked against its signed heads.
//!
//! Every entry a server signed must still be in the ledger with the hash it signed. The
//! first one that is not names the first run whose history changed after it was signed:
//! the entry is that run's creation or end, and every entry after it is chained to it.
//! Plain `audit verify` checks that the chains are consistent; this checks that they are
//! the ones that were signed.

use drctl_core::{RunId, Timestamp};
use drctl_store::SignedHead;
use drctl_store::ledger::LedgerEntry;

use crate::keys::PublicKey;

/// What a check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// Entries whose signed head still holds.
    pub signed: usize,
    /// Entries after the last signed one, all younger than the allowance (a server signs
    /// within seconds; these are runs that began or ended just now).
    pub unsigned_tail: usize,
}

/// Why the ledger does not match its signed heads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Mismatch {
    #[error("no head is signed by key {key}: nothing vouches for this history")]
    NoSignedHead { key: String },
    #[error(
        "the signature of ledger entry {seq} is not key {key}'s: the stored signatures were altered"
    )]
    BadSignature { seq: u64, key: String },
    #[error(
        "run {run}: its ledger entry {seq} was signed, and the ledger no longer holds it (the run was removed, or the ledger cut)"
    )]
    Gone { seq: u64, run: RunId },
    #[error(
        "run {run}: its history no longer matches what was signed (ledger entry {seq}, its {kind}: signed hash {signed}, now {now})"
    )]
    Rewritten {
        run: RunId,
        seq: u64,
        kind: &'static str,
        signed: String,
        now: String,
    },
    #[error(
        "run {run}: its ledger entry {seq} ({kind}, at {at}) was never signed, though a server signs within seconds: the signatures after it were removed, or no server with this key held the database then"
    )]
    Unsigned {
        run: RunId,
        seq: u64,
        kind: &'static str,
        at: Timestamp,
    },
}

impl Mismatch {
    /// The run named, when the mismatch is one run's history.
    pub fn run(&self) -> Option<&RunId> {
        match self {
            Mismatch::Rewritten { run, .. }
            | Mismatch::Gone { run, .. }
            | Mismatch::Unsigned { run, .. } => Some(run),
            _ => None,
        }
    }
}

/// The newest entries that may be unsigned: those made less than this long before the
/// check (`age` gives when each was made, from its run).
#[derive(Debug, Clone, Copy)]
pub struct Allowance<F> {
    pub now: Timestamp,
    pub max_age: std::time::Duration,
    pub age: F,
}

/// Checks `ledger` (in order) against the heads `key` signed (signatures by other keys
/// are not looked at); entries after the last signed one must be younger than the
/// allowance.
pub fn check<F: Fn(&LedgerEntry) -> Option<Timestamp>>(
    ledger: &[LedgerEntry],
    signed: &[SignedHead],
    key: &PublicKey,
    allowance: &Allowance<F>,
) -> Result<Checked, Mismatch> {
    let fingerprint = key.fingerprint();
    let mut mine: Vec<&SignedHead> = signed.iter().filter(|s| s.key == fingerprint).collect();
    if mine.is_empty() {
        return Err(Mismatch::NoSignedHead { key: fingerprint });
    }
    mine.sort_by_key(|s| s.seq);
    for s in &mine {
        if !key.verifies(s.seq, s.run.as_str(), &s.hash, &s.signature) {
            return Err(Mismatch::BadSignature {
                seq: s.seq,
                key: fingerprint,
            });
        }
    }
    for s in &mine {
        let Some(entry) = ledger.iter().find(|e| e.seq == s.seq) else {
            return Err(Mismatch::Gone {
                seq: s.seq,
                run: s.run.clone(),
            });
        };
        if entry.hash != s.hash || entry.run != s.run {
            return Err(Mismatch::Rewritten {
                run: s.run.clone(),
                seq: s.seq,
                kind: entry.kind.as_str(),
                signed: s.hash.clone(),
                now: entry.hash.clone(),
            });
        }
    }
    let last = mine.last().map_or(0, |s| s.seq);
    let tail: Vec<&LedgerEntry> = ledger.iter().filter(|e| e.seq > last).collect();
    let oldest_allowed = Timestamp::from_millis(
        allowance
            .now
            .as_millis()
            .saturating_sub(i64::try_from(allowance.max_age.as_millis()).unwrap_or(i64::MAX)),
    );
    for e in &tail {
        // An entry whose time is unknown (its run is gone) counts as old.
        let at = (allowance.age)(e).unwrap_or(Timestamp::from_millis(0));
        if at < oldest_allowed {
            return Err(Mismatch::Unsigned {
                run: e.run.clone(),
                seq: e.seq,
                kind: e.kind.as_str(),
                at,
            });
        }
    }
    Ok(Checked {
        signed: mine.len(),
        unsigned_tail: tail.len(),
    })
}

/// Signatures of `entries` by `key`, made at `now`.
pub fn sign(
    entries: &[LedgerEntry],
    key: &crate::keys::SigningKey,
    now: drctl_core::Timestamp,
) -> Vec<SignedHead> {
    let fingerprint = key.public().fingerprint();
    entries
        .iter()
        .map(|e| SignedHead {
            seq: e.seq,
            run: e.run.clone(),
            hash: e.hash.clone(),
            key: fingerprint.clone(),
            signature: key.sign_head(e.seq, e.run.as_str(), &e.hash),
            signed_at: now,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use drctl_core::Timestamp;
    use drctl_store::ledger::{LedgerKind, next};

    use super::*;
    use crate::keys::SigningKey;

    fn ledger(heads: &[&str]) -> Vec<LedgerEntry> {
        let mut out: Vec<LedgerEntry> = Vec::new();
        for (i, head) in heads.iter().enumerate() {
            let run: RunId = format!("run_{:026}", i).parse().unwrap();
            let last = out.last().map(|l| (l.seq, l.hash.as_str()));
            out.push(next(last, &run, LedgerKind::Finished, 3, head));
        }
        out
    }

    #[test]
    fn a_history_rewritten_with_every_hash_recomputed_is_named_by_its_run() {
        let (key, _) = SigningKey::generate().unwrap();
        let good = ledger(&["a", "b", "c"]);
        let signed = sign(&good, &key, Timestamp::from_millis(1));
        let fresh = Allowance {
            now: Timestamp::from_millis(1_000_000_000),
            max_age: std::time::Duration::from_secs(300),
            age: |_: &LedgerEntry| Some(Timestamp::from_millis(999_999_000)),
        };
        assert_eq!(
            check(&good, &signed, key.public(), &fresh),
            Ok(Checked {
                signed: 3,
                unsigned_tail: 0
            })
        );
        // The second run rewritten, and the ledger chained anew after it: consistent, and
        // not what was signed.
        let forged = ledger(&["a", "B", "c"]);
        let err = check(&forged, &signed, key.public(), &fresh).unwrap_err();
        assert_eq!(err.run(), Some(&good[1].run), "{err}");
        // Newer entries not signed yet are counted while young, refused once old.
        let longer = ledger(&["a", "b", "c", "d"]);
        assert_eq!(
            check(&longer, &signed, key.public(), &fresh)
                .unwrap()
                .unsigned_tail,
            1
        );
        let stale = Allowance {
            now: fresh.now,
            max_age: fresh.max_age,
            age: |_: &LedgerEntry| Some(Timestamp::from_millis(1)),
        };
        let err = check(&longer, &signed, key.public(), &stale).unwrap_err();
        assert!(matches!(err, Mismatch::Unsigned { seq: 4, .. }), "{err}");
        // Signatures altered, removed, or of another key; an entry signed and gone names
        // the run that was signed.
        let mut altered = signed.clone();
        altered[0].hash = good[0].hash.replace('0', "1") + "x";
        assert!(matches!(
            check(&good, &altered, key.public(), &fresh),
            Err(Mismatch::BadSignature { seq: 1, .. })
        ));
        let (other, _) = SigningKey::generate().unwrap();
        assert!(matches!(
            check(&good, &signed, other.public(), &fresh),
            Err(Mismatch::NoSignedHead { .. })
        ));
        let err = check(&good[..2], &signed, key.public(), &fresh).unwrap_err();
        assert!(matches!(err, Mismatch::Gone { seq: 3, .. }), "{err}");
        assert_eq!(err.run(), Some(&good[2].run));
    }
}
