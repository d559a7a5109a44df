-- The store-wide order of events: a cursor that a follower (the API's server-sent events,
-- `logs -f`, the console) resumes from. Filled by a trigger in the transaction that
-- inserts the event, so an event and its place in the feed are committed together.
-- AUTOINCREMENT: a cursor is never given twice, even after the newest rows are deleted.
CREATE TABLE feed (
    cursor INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    seq    INTEGER NOT NULL
);
CREATE INDEX feed_by_run ON feed (run_id, cursor);

INSERT INTO feed (run_id, seq) SELECT run_id, seq FROM events ORDER BY at, run_id, seq;

CREATE TRIGGER events_feed AFTER INSERT ON events
BEGIN
    INSERT INTO feed (run_id, seq) VALUES (NEW.run_id, NEW.seq);
END;
