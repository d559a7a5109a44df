//! Signs the store's ledger heads with the server's key (`[serve] signing_key`), so that
//! a history rewritten by whoever can write the database, every hash recomputed, no
//! longer matches what was signed (`drctl audit verify --key`).
//!
//! Every ledger entry is signed: a run's creation and its end, within one tick of it
//! (the store is read every [`ServeConfig::scan`], and once more when the server stops).
//! Signing reads only the entries after the last one signed, so its cost does not grow
//! with the history. Two servers with one key sign an entry alike, and the store keeps
//! one row per entry and key.

use std::sync::Arc;

use drctl_core::Clock;
use drctl_evidence::SigningKey;
use drctl_store::{SignedHeads, StoreError};
use tokio_util::sync::CancellationToken;

/// Entries signed per store read.
const BATCH: usize = 500;

pub struct Signer {
    key: SigningKey,
    store: Arc<dyn SignedHeads>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").field("key", &self.key).finish_non_exhaustive()
    }
}

impl Signer {
    pub fn new(key: SigningKey, store: Arc<dyn SignedHeads>, clock: Arc<dyn Clock>) -> Self {
        Self { key, store, clock }
    }

    /// The fingerprint of the key it signs with.
    pub fn fingerprint(&self) -> String {
        self.key.public().fingerprint()
    }

    /// Signs every entry not signed yet with this key; returns how many it signed.
    pub async fn sign_pending(&self) -> Result<usize, StoreError> {
        let fingerprint = self.fingerprint();
        let mut last = self.store.last_signed(&fingerprint).await?.unwrap_or(0);
        let mut signed = 0;
        loop {
            let entries = self.store.ledger_after(last, BATCH).await?;
            let Some(newest) = entries.last().map(|e| e.seq) else {
                return Ok(signed);
            };
            let heads = drctl_evidence::sign(&entries, &self.key, self.clock.now());
            self.store.add_signed_heads(&heads).await?;
            signed += heads.len();
            last = newest;
        }
    }

    /// Signs every `every` until `stop`, and once more after it; a store error is
    /// reported and tried again on the next tick.
    pub async fn run(
        &self,
        every: std::time::Duration,
        stop: CancellationToken,
        report: impl Fn(&StoreError),
    ) {
        loop {
            if let Err(e) = self.sign_pending().await {
                report(&e);
            }
            if stop.is_cancelled() {
                return;
            }
            tokio::select! {
                () = stop.cancelled() => {}
                () = tokio::time::sleep(every) => {}
            }
        }
    }
}
