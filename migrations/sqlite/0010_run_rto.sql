-- A run's RTO clock on its row (start, stop, objective), kept by every append, so that a
-- list of runs shows each clock without reading events. Runs recorded before this
-- migration show none until their next event.
ALTER TABLE runs ADD COLUMN rto_started_at INTEGER;
ALTER TABLE runs ADD COLUMN rto_ended_at INTEGER;
ALTER TABLE runs ADD COLUMN rto_objective_ms INTEGER;
-- 1 when a step marked `rto_end` stopped the clock (the report's figure), 0 while it runs
-- or when the run ended without one.
ALTER TABLE runs ADD COLUMN rto_measured INTEGER NOT NULL DEFAULT 0;
