//! Signs the store's ledger heads with the server's key (`[serve] signing_key`), so that
//! a history rewritten by whoever can write the database, every hash recomputed, no
//! longer matches what was signed (`drctl audit verify --key`).
//!
//! Every ledger entry is signed: a run's creation and its end, within one tick of it
//! (the store is read every `[serve] scan_ms`, and once more when the server stops).
//! Signing reads only the entries after the last one signed, so its cost does not grow
//! with the history. Two servers with one key sign an entry alike, and the store keeps
//! one row per entry and key.
//!
//! With `[serve.publish_heads]`, each batch of signatures is first sent to a sink outside
//! the database (the `notify.webhook` action: a JSON POST, HMAC-signed when a secret is
//! set), and stored only once the sink took it: a signature in the database has been
//! published, so even whoever holds the key cannot rewrite a history already published.
//! While the sink refuses, nothing new is signed (the unsigned tail that `audit verify
//! --key` reports grows) and the batch is sent again on the next tick; a sink must take
//! the same heads twice (after a crash between sending and storing).

use std::sync::Arc;

use drctl_core::{Action, ActionCtx, Clock, StepId};
use drctl_evidence::SigningKey;
use drctl_store::{SignedHead, SignedHeads, StoreError};
use serde_json::json;
use tokio_util::sync::CancellationToken;

/// Entries signed per store read.
const BATCH: usize = 500;

pub struct Signer {
    key: SigningKey,
    store: Arc<dyn SignedHeads>,
    clock: Arc<dyn Clock>,
    publish: Option<Publisher>,
    /// Rung when a run ends here: its head is signed at once, not at the next tick.
    poke: tokio::sync::Notify,
    /// The last entry this key signed, once known (held across a pass: one at a time).
    last: tokio::sync::Mutex<Option<u64>>,
}

/// Tries of the last pass, a second apart, when the server stops: a sink that refuses
/// once does not leave the last heads unsigned.
const LAST_TRIES: u32 = 5;

/// Where signed heads are published: the webhook action and its inputs.
pub struct Publisher {
    pub action: Arc<dyn Action>,
    pub url: String,
    /// The HMAC secret, read from the environment variable the config names.
    pub hmac_secret: Option<String>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        f.debug_struct("Publisher")
            .field("url", &self.url)
            .field("hmac", &self.hmac_secret.is_some())
            .finish_non_exhaustive()
    }
}

/// Why heads could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the sink of signed heads did not take them: {0}")]
    Publish(String),
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl Signer {
    pub fn new(
        key: SigningKey,
        store: Arc<dyn SignedHeads>,
        clock: Arc<dyn Clock>,
        publish: Option<Publisher>,
    ) -> Self {
        Self {
            key,
            store,
            clock,
            publish,
            poke: tokio::sync::Notify::new(),
            last: tokio::sync::Mutex::new(None),
        }
    }

    /// Signs now: a run was created or ended.
    pub fn poke(&self) {
        self.poke.notify_one();
    }

    /// The fingerprint of the key it signs with.
    pub fn fingerprint(&self) -> String {
        self.key.public().fingerprint()
    }

    /// Signs every entry not signed yet with this key; returns how many it signed.
    pub async fn sign_pending(&self) -> Result<usize, SignError> {
        // The last entry signed is read from the store once (it may hold this key's
        // signatures from before a restart), then kept: no scan of the signatures each
        // tick. Another server with the key signing meanwhile costs a signature twice
        // at most, which the store keeps once.
        let mut known = self.last.lock().await;
        let mut last = match *known {
            Some(seq) => seq,
            None => self
                .store
                .last_signed(&self.fingerprint())
                .await?
                .unwrap_or(0),
        };
        *known = Some(last);
        let mut signed = 0;
        loop {
            let entries = self.store.ledger_after(last, BATCH).await?;
            let Some(newest) = entries.last().map(|e| e.seq) else {
                return Ok(signed);
            };
            let heads = drctl_evidence::sign(&entries, &self.key, self.clock.now());
            if let Some(p) = &self.publish {
                self.send(p, &heads).await?;
            }
            self.store.add_signed_heads(&heads).await?;
            signed += heads.len();
            last = newest;
            *known = Some(last);
        }
    }

    async fn send(&self, p: &Publisher, heads: &[SignedHead]) -> Result<(), SignError> {
        let Some(last) = heads.last() else {
            return Ok(());
        };
        let mut input = json!({
            "url": p.url,
            "body": {
                "public_key": self.key.public().text(),
                "key": self.fingerprint(),
                "heads": heads,
            },
        });
        if let Some(secret) = &p.hmac_secret {
            input["hmac_secret"] = json!(secret);
        }
        // The action names a run in `X-Drctl-Run`: the run of the newest head sent.
        let ctx = ActionCtx {
            run: last.run.clone(),
            step: StepId::new("publish_heads").map_err(|e| SignError::Publish(e.to_string()))?,
            item: None,
            attempt: 1,
            cancel: CancellationToken::new(),
            live: None,
        };
        p.action
            .run(&ctx, input)
            .await
            .map(|_| ())
            .map_err(|e| SignError::Publish(e.to_string()))
    }

    /// Signs every `every` until `stop`, and once more after it; a store error is
    /// reported and tried again on the next tick.
    pub async fn run(
        &self,
        every: std::time::Duration,
        stop: CancellationToken,
        report: impl Fn(&SignError),
    ) {
        loop {
            if let Err(e) = self.sign_pending().await {
                report(&e);
            }
            if stop.is_cancelled() {
                break;
            }
            tokio::select! {
                () = stop.cancelled() => {}
                () = self.poke.notified() => {}
                () = tokio::time::sleep(every) => {}
            }
        }
        // The last pass (the loop's was the first of these tries).
        for _ in 1..LAST_TRIES {
            match self.sign_pending().await {
                Ok(_) => return,
                Err(e) => report(&e),
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    }
}
