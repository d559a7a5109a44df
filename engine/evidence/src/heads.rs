//! A ledger checked against its signed heads.
//!
//! Every entry a server signed must still be in the ledger with the hash it signed. The
//! first one that is not names the first run whose history changed after it was signed:
//! the entry is that run's creation or end, and every entry after it is chained to it.
//! Plain `audit verify` checks that the chains are consistent; this checks that they are
//! the ones that were signed.

use drctl_core::RunId;
use drctl_store::SignedHead;
use drctl_store::ledger::LedgerEntry;

use crate::keys::PublicKey;

/// What a check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// Entries whose signed head still holds.
    pub signed: usize,
    /// Entries after the last signed one (a server signs within seconds; a database no
    /// server holds the key for has none).
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
    #[error("ledger entry {seq} was signed, and the ledger no longer holds it")]
    Gone { seq: u64 },
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
}

impl Mismatch {
    /// The run named, when the mismatch is one run's history.
    pub fn run(&self) -> Option<&RunId> {
        match self {
            Mismatch::Rewritten { run, .. } => Some(run),
            _ => None,
        }
    }
}

/// Checks `ledger` (in order) against the heads `key` signed; signatures by other keys
/// are not looked at.
pub fn check(
    ledger: &[LedgerEntry],
    signed: &[SignedHead],
    key: &PublicKey,
) -> Result<Checked, Mismatch> {
    let fingerprint = key.fingerprint();
    let mut mine: Vec<&SignedHead> = signed.iter().filter(|s| s.key == fingerprint).collect();
    if mine.is_empty() {
        return Err(Mismatch::NoSignedHead { key: fingerprint });
    }
    mine.sort_by_key(|s| s.seq);
    for s in &mine {
        if !key.verifies(s.seq, &s.hash, &s.signature) {
            return Err(Mismatch::BadSignature {
                seq: s.seq,
                key: fingerprint,
            });
        }
    }
    for s in &mine {
        let Some(entry) = ledger.iter().find(|e| e.seq == s.seq) else {
            return Err(Mismatch::Gone { seq: s.seq });
        };
        if entry.hash != s.hash {
            return Err(Mismatch::Rewritten {
                run: entry.run.clone(),
                seq: s.seq,
                kind: entry.kind.as_str(),
                signed: s.hash.clone(),
                now: entry.hash.clone(),
            });
        }
    }
    let last = mine.last().map_or(0, |s| s.seq);
    Ok(Checked {
        signed: mine.len(),
        unsigned_tail: ledger.iter().filter(|e| e.seq > last).count(),
    })
}

/// Signatures of the entries after `after`, by `key`, made at `now`.
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
            hash: e.hash.clone(),
            key: fingerprint.clone(),
            signature: key.sign_head(e.seq, &e.hash),
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
        assert_eq!(
            check(&good, &signed, key.public()),
            Ok(Checked {
                signed: 3,
                unsigned_tail: 0
            })
        );
        // The second run rewritten, and the ledger chained anew after it: consistent, and
        // not what was signed.
        let forged = ledger(&["a", "B", "c"]);
        let err = check(&forged, &signed, key.public()).unwrap_err();
        assert_eq!(err.run(), Some(&good[1].run), "{err}");
        // Newer entries not signed yet are counted, not refused.
        let longer = ledger(&["a", "b", "c", "d"]);
        assert_eq!(
            check(&longer, &signed, key.public()).unwrap().unsigned_tail,
            1
        );
        // Signatures altered, removed, or of another key.
        let mut altered = signed.clone();
        altered[0].hash = good[0].hash.replace('0', "1") + "x";
        assert!(matches!(
            check(&good, &altered, key.public()),
            Err(Mismatch::BadSignature { seq: 1, .. })
        ));
        let (other, _) = SigningKey::generate().unwrap();
        assert!(matches!(
            check(&good, &signed, other.public()),
            Err(Mismatch::NoSignedHead { .. })
        ));
        assert!(matches!(
            check(&good[..2], &signed, key.public()),
            Err(Mismatch::Gone { seq: 3 })
        ));
    }
}
