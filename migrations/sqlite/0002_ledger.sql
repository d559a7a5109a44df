-- The store-wide ledger (see drctl-store's `ledger`): each run's first event hash when it
-- is created and its head when it finishes, chained across runs, so that a whole run
-- removed from `runs` and `events` is still found by `drctl audit verify`.
CREATE TABLE ledger (
    seq        INTEGER PRIMARY KEY,
    run_id     TEXT NOT NULL,
    kind       TEXT NOT NULL,
    version    INTEGER NOT NULL,
    head       TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
);
