-- Whether a run is a drill and what started it, on its row, so that lists filter on
-- them (`drctl ls --drill`, `GET /api/v1/runs?drill=true`) without reading events.
-- Runs recorded before this migration take both from their first event.
ALTER TABLE runs ADD COLUMN drill INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN trigger TEXT NOT NULL DEFAULT 'manual';
UPDATE runs SET
    drill = coalesce((SELECT json_extract(e.body, '$.drill') FROM events e
                      WHERE e.run_id = runs.id AND e.seq = 1), 0),
    trigger = coalesce((SELECT json_extract(e.body, '$.trigger') FROM events e
                        WHERE e.run_id = runs.id AND e.seq = 1), 'manual');
