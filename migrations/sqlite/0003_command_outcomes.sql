-- What became of each command its run's owner took, written in the same transaction as
-- the event that records it: 'applied' or 'refused' (with why), and that event's seq.
-- Commands taken before this migration keep NULLs.
ALTER TABLE commands ADD COLUMN outcome TEXT;
ALTER TABLE commands ADD COLUMN seq INTEGER;
ALTER TABLE commands ADD COLUMN detail TEXT;
