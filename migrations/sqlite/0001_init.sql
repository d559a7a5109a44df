-- drctl's SQLite schema: the event log (the truth) and the projection kept with it.

CREATE TABLE runs (
    id           TEXT PRIMARY KEY,
    runbook      TEXT NOT NULL,
    source_name  TEXT NOT NULL,
    digest       TEXT NOT NULL,
    parent       TEXT REFERENCES runs(id),
    parent_step  TEXT,
    actor        TEXT NOT NULL,
    status       TEXT NOT NULL,
    detail       TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    finished_at  INTEGER,
    version      INTEGER NOT NULL,
    head_hash    TEXT NOT NULL,
    -- The lease: who may append, until when, and the fence every append must present.
    owner        TEXT,
    lease_until  INTEGER,
    fence        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX runs_created ON runs (created_at DESC);
CREATE INDEX runs_parent ON runs (parent);

-- Append-only. Each event carries the hash of the one before it (see drctl-store's chain).
CREATE TABLE events (
    run_id     TEXT NOT NULL REFERENCES runs(id),
    seq        INTEGER NOT NULL,
    at         INTEGER NOT NULL,
    actor      TEXT NOT NULL,
    kind       TEXT NOT NULL,
    body       TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;

-- The projection of step items. `item` is -1 for a step without for_each: NULL would make
-- the primary key useless for upserts (NULLs are distinct in SQLite keys).
CREATE TABLE steps (
    run_id       TEXT NOT NULL REFERENCES runs(id),
    position     INTEGER NOT NULL,
    item         INTEGER NOT NULL,
    step         TEXT NOT NULL,
    block        TEXT NOT NULL,
    status       TEXT NOT NULL,
    attempts     INTEGER NOT NULL,
    started_at   INTEGER,
    finished_at  INTEGER,
    output       TEXT,
    error        TEXT,
    PRIMARY KEY (run_id, position, item)
) WITHOUT ROWID;

CREATE TABLE locks (
    name         TEXT PRIMARY KEY,
    run_id       TEXT NOT NULL REFERENCES runs(id),
    acquired_at  INTEGER NOT NULL
);
CREATE INDEX locks_run ON locks (run_id);

CREATE TABLE commands (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id    TEXT NOT NULL REFERENCES runs(id),
    at        INTEGER NOT NULL,
    actor     TEXT NOT NULL,
    body      TEXT NOT NULL,
    taken     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX commands_pending ON commands (run_id, taken);
