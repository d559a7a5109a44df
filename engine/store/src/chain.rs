//! The hash chain: each event carries the hash of the one before it, so that changing,
//! removing or reordering any event of a run breaks every hash after it.
//!
//! `hash = sha256(prev_hash ‖ run ‖ seq ‖ at ‖ actor ‖ kind ‖ body)`, fields separated by
//! a byte that cannot occur in them unescaped (`\n` is escaped inside JSON bodies, and the
//! other fields hold no newline), hex-encoded. The first event's `prev_hash` is 64 zeros.

use sha2::{Digest, Sha256};

use crate::rows::{NewEvent, StoredEvent};
use drctl_core::RunId;

/// The `prev_hash` of a run's first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The hash of an event at `seq` after `prev`.
pub fn hash(prev: &str, run: &RunId, seq: u64, event: &NewEvent) -> String {
    let mut h = Sha256::new();
    for part in [
        prev,
        run.as_str(),
        &seq.to_string(),
        &event.at.as_millis().to_string(),
        &event.actor.to_string(),
        &event.kind,
    ] {
        h.update(part.as_bytes());
        h.update(b"\n");
    }
    h.update(event.body.as_bytes());
    let digest = h.finalize();
    let mut out = String::with_capacity(64);
    for byte in digest {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// Chains `events` after `prev`, starting at `first_seq`.
pub fn link(run: &RunId, prev: &str, first_seq: u64, events: &[NewEvent]) -> Vec<StoredEvent> {
    let mut prev = prev.to_owned();
    let mut out = Vec::with_capacity(events.len());
    for (seq, e) in (first_seq..).zip(events) {
        let hash = hash(&prev, run, seq, e);
        out.push(StoredEvent {
            run: run.clone(),
            seq,
            at: e.at,
            actor: e.actor.clone(),
            kind: e.kind.clone(),
            body: e.body.clone(),
            prev_hash: std::mem::replace(&mut prev, hash.clone()),
            hash,
        });
    }
    out
}

/// Where a stored chain breaks: the first event whose position, link or hash is wrong.
pub fn verify(run: &RunId, events: &[StoredEvent]) -> Result<(), ChainBreak> {
    let mut before = None;
    for e in events {
        verify_next(run, before, e)?;
        before = Some(e);
    }
    Ok(())
}

/// Checks one event against the one before it (`None` for a run's first event), so that
/// a reader walking a long log checks each event once.
pub fn verify_next(
    run: &RunId,
    before: Option<&StoredEvent>,
    e: &StoredEvent,
) -> Result<(), ChainBreak> {
    let (expected_seq, prev) = before.map_or((1, GENESIS), |b| (b.seq + 1, b.hash.as_str()));
    let new = NewEvent {
        at: e.at,
        actor: e.actor.clone(),
        kind: e.kind.clone(),
        body: e.body.clone(),
    };
    let reason = if e.seq != expected_seq {
        format!(
            "is numbered {} where {expected_seq} was expected (an event was removed or moved)",
            e.seq
        )
    } else if e.prev_hash != prev {
        "does not link to the event before it".to_owned()
    } else if hash(prev, run, e.seq, &new) != e.hash {
        "was changed after it was written".to_owned()
    } else {
        return Ok(());
    };
    Err(ChainBreak { seq: e.seq, reason })
}

/// The first bad event of a chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event {seq} {reason}")]
pub struct ChainBreak {
    pub seq: u64,
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use drctl_core::Timestamp;

    fn ev(n: i64) -> NewEvent {
        NewEvent {
            at: Timestamp::from_millis(n),
            actor: drctl_core::Actor::from_stored("a"),
            kind: "k".into(),
            body: format!("{{\"n\":{n}}}"),
        }
    }

    #[test]
    fn any_edit_removal_or_reorder_is_found_at_the_first_bad_event() {
        let run = RunId::from_parts(Timestamp::from_millis(1), 1);
        let chain = link(&run, GENESIS, 1, &[ev(1), ev(2), ev(3), ev(4)]);
        assert_eq!(verify(&run, &chain), Ok(()));
        let mut edited = chain.clone();
        edited[2].body = "{\"n\":30}".into();
        assert_eq!(verify(&run, &edited).unwrap_err().seq, 3);
        let mut removed = chain.clone();
        removed.remove(1);
        assert_eq!(verify(&run, &removed).unwrap_err().seq, 3);
        let mut swapped = chain.clone();
        swapped.swap(1, 2);
        assert_eq!(verify(&run, &swapped).unwrap_err().seq, 3);
        // Renumbering after a removal does not help: the links no longer match.
        let mut renumbered = removed.clone();
        for (i, e) in renumbered.iter_mut().enumerate() {
            e.seq = i as u64 + 1;
        }
        assert_eq!(verify(&run, &renumbered).unwrap_err().seq, 2);
    }
}
