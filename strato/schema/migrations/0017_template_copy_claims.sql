-- A template's (or ISO's) copy on a primary pool takes room there: its bytes are claimed
-- against the pool's capacity when the copy is claimed, and given back when the copy goes.
ALTER TABLE template_pool_cache ADD COLUMN claimed_bytes bigint NOT NULL DEFAULT 0;
