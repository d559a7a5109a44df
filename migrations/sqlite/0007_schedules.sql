-- Schedules and their firings. A firing's key is (runbook, trigger, nominal): it is
-- inserted in the transaction that creates its run, so two schedulers on one database,
-- or a restart, never fire one nominal time twice.
CREATE TABLE schedules (
    runbook        TEXT NOT NULL,
    trigger        TEXT NOT NULL,
    -- When a scheduler first saw it: no firing before is owed.
    since          INTEGER NOT NULL,
    paused_by      TEXT,
    paused_at      INTEGER,
    paused_reason  TEXT,
    waived_by      TEXT,
    waived_at      INTEGER,
    waived_until   INTEGER,
    waived_reason  TEXT,
    PRIMARY KEY (runbook, trigger)
);

-- Every pause, resume and waiver, by whom and why, written with the row it changes.
CREATE TABLE schedule_changes (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    runbook  TEXT NOT NULL,
    trigger  TEXT NOT NULL,
    at       INTEGER NOT NULL,
    actor    TEXT NOT NULL,
    -- The change as JSON: {"change": "pause", "reason": ...}
    change   TEXT NOT NULL
);
CREATE INDEX schedule_changes_by_schedule ON schedule_changes (runbook, trigger, id);

CREATE TABLE firings (
    runbook      TEXT NOT NULL,
    trigger      TEXT NOT NULL,
    nominal      INTEGER NOT NULL,
    recorded_at  INTEGER NOT NULL,
    -- started | skipped | buffered | missed
    outcome      TEXT NOT NULL,
    reason       TEXT,
    run_id       TEXT,
    PRIMARY KEY (runbook, trigger, nominal)
);

-- Service notices (a drill overdue or failed, a firing missed) already sent, by key:
-- the first server to claim a key sends its notice.
CREATE TABLE service_notices (
    key         TEXT PRIMARY KEY,
    claimed_at  INTEGER NOT NULL
);

-- Readiness checks (a runbook's live plan, on its `readiness:` schedule): ready, or why
-- not, step by step. Never a secret: the findings are scrubbed before they are stored.
CREATE TABLE readiness (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    runbook   TEXT NOT NULL,
    at        INTEGER NOT NULL,
    ready     INTEGER NOT NULL,
    findings  TEXT NOT NULL
);
CREATE INDEX readiness_by_runbook ON readiness (runbook, id);
