-- CloudStack's cluster.{cpu,memory}.allocated.capacity.disablethreshold: a cluster whose
-- Up hosts have more than this share of their CPU (or memory) allocated takes no new
-- VM (placement skips its hosts). 1: never (the default).
ALTER TABLE clusters
    ADD COLUMN cpu_disable_threshold real NOT NULL DEFAULT 1
        CHECK (cpu_disable_threshold > 0 AND cpu_disable_threshold <= 1),
    ADD COLUMN memory_disable_threshold real NOT NULL DEFAULT 1
        CHECK (memory_disable_threshold > 0 AND memory_disable_threshold <= 1);
