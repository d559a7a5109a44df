-- Webhook deliveries, accepted or refused: peer, verdict, run, dedup key. Never the
-- body or a signature. A sender's delivery id is taken once per hook (replays).
CREATE TABLE deliveries (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    hook         TEXT NOT NULL,
    delivery_id  TEXT,
    at           INTEGER NOT NULL,
    peer         TEXT NOT NULL,
    verdict      TEXT NOT NULL,
    run_id       TEXT,
    dedup_key    TEXT,
    detail       TEXT
);
CREATE UNIQUE INDEX deliveries_once ON deliveries (hook, delivery_id) WHERE delivery_id IS NOT NULL;
CREATE INDEX deliveries_by_key ON deliveries (hook, dedup_key, seq);
