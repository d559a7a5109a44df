-- The store-wide order of events: a cursor that a follower (the API's server-sent events,
-- `logs -f`, the console) resumes from. Filled by a trigger in the transaction that
-- inserts the event, so an event and its place in the feed are committed together.
-- A plain INTEGER PRIMARY KEY (the rowid): feed rows are never deleted, so a cursor is
-- never given twice, and it costs one appended row per event (AUTOINCREMENT would write
-- sqlite_sequence too, and an index by run a third page: each step pays for those).
CREATE TABLE feed (
    cursor INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    seq    INTEGER NOT NULL
);

INSERT INTO feed (run_id, seq) SELECT run_id, seq FROM events ORDER BY at, run_id, seq;

CREATE TRIGGER events_feed AFTER INSERT ON events
BEGIN
    INSERT INTO feed (run_id, seq) VALUES (NEW.run_id, NEW.seq);
END;
