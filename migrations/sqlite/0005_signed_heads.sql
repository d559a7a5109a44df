-- Signatures over ledger heads, made by a server's Ed25519 key (see drctl-evidence): a
-- history rewritten by whoever can write this file, every hash recomputed, no longer
-- matches them. One row per entry and key.
CREATE TABLE signed_heads (
    seq        INTEGER NOT NULL,
    key        TEXT NOT NULL,
    run_id     TEXT NOT NULL,
    hash       TEXT NOT NULL,
    signature  TEXT NOT NULL,
    signed_at  INTEGER NOT NULL,
    PRIMARY KEY (seq, key)
);
