-- What running attempts have printed so far (secrets masked), for people watching a run
-- from another process: replaced as output arrives, removed when the attempt ends. Not
-- evidence: the attempt's output in its events is the record.
CREATE TABLE live_output (
    run_id     TEXT    NOT NULL,
    step       TEXT    NOT NULL,
    -- -1 for a step without items, as in `steps`.
    item       INTEGER NOT NULL,
    attempt    INTEGER NOT NULL,
    stdout     TEXT    NOT NULL,
    stderr     TEXT    NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (run_id, step, item, attempt)
) WITHOUT ROWID;
