-- A delivery of a hook with `confirm: true` proposes its run: `proposal` holds what the
-- server needs to create it when a person confirms (the pinned runbook and the params
-- rendered from the payload), `expires` the deadline after which it cannot be confirmed,
-- `decided_by` the person who confirmed or rejected it. `runbook` is the hook's runbook
-- when the delivery came (what an audit export chosen by runbook holds).
ALTER TABLE deliveries ADD COLUMN runbook TEXT NOT NULL DEFAULT '';
ALTER TABLE deliveries ADD COLUMN proposal TEXT;
ALTER TABLE deliveries ADD COLUMN expires INTEGER;
ALTER TABLE deliveries ADD COLUMN decided_by TEXT;
CREATE INDEX deliveries_by_run ON deliveries (run_id) WHERE run_id IS NOT NULL;
CREATE INDEX deliveries_proposed ON deliveries (expires) WHERE verdict = 'proposed';
