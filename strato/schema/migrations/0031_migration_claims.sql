-- A VM being migrated holds capacity on its target host as well as on its source: claimed
-- on the target before it moves, the source's released after (or the target's, if the
-- move fails). Counted in hosts.cpu_used_mhz / memory_used_mb like host_claims.
CREATE TABLE migration_claims (
    vm_id      uuid PRIMARY KEY REFERENCES vms (id) ON DELETE RESTRICT,
    host_id    uuid NOT NULL REFERENCES hosts (id) ON DELETE RESTRICT,
    cpu_mhz    bigint NOT NULL CHECK (cpu_mhz >= 0),
    memory_mb  bigint NOT NULL CHECK (memory_mb >= 0),
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX migration_claims_host_idx ON migration_claims (host_id);
