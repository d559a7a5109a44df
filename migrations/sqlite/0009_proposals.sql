-- A delivery of a hook with `confirm: true` proposes its run: `proposal` holds what the
-- server needs to create it when a person confirms (the pinned runbook and the params
-- rendered from the payload), `expires` the deadline after which it cannot be confirmed.
ALTER TABLE deliveries ADD COLUMN proposal TEXT;
ALTER TABLE deliveries ADD COLUMN expires INTEGER;
CREATE INDEX deliveries_by_run ON deliveries (run_id) WHERE run_id IS NOT NULL;
