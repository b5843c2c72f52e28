-- The network's generation when its router was fenced: the returning host removes its
-- router only if none newer was applied there since (a VM booting there may have taken
-- the network's router back to it).
ALTER TABLE router_fences ADD COLUMN generation bigint NOT NULL DEFAULT 0;
