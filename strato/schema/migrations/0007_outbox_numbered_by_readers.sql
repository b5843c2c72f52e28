-- The outbox without a global lock. Writers insert events without an id and take no
-- lock; readers give ids to the committed events that have none, one numbering at a
-- time (a try-lock among readers), in one block above the highest id so far. Blocks
-- commit in increasing order, so a reader resuming "after id N" never skips an event,
-- and writers no longer wait for each other (see strato/schema/events.py).
ALTER TABLE events DROP CONSTRAINT events_pkey;
ALTER TABLE events ADD COLUMN seq bigserial PRIMARY KEY;
ALTER TABLE events ALTER COLUMN id DROP DEFAULT, ALTER COLUMN id DROP NOT NULL;
DROP SEQUENCE events_id_seq;
CREATE UNIQUE INDEX events_id_idx ON events (id);
CREATE INDEX events_unnumbered_idx ON events (seq) WHERE id IS NULL;
