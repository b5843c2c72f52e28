-- VM lifecycle: one mutating operation per VM, capacity claims, affinity groups, IPAM.

-- The operation currently mutating the VM. Set when a request is accepted (guarded:
-- only if NULL), cleared in the same transaction as the workflow's final transition.
ALTER TABLE vms ADD COLUMN current_operation_id uuid;
ALTER TABLE vms ADD COLUMN current_operation_kind text;
ALTER TABLE vms ADD COLUMN root_volume_id uuid;
ALTER TABLE vms ADD COLUMN destroyed_at timestamptz;
ALTER TABLE vms ADD COLUMN expunge_at timestamptz;

-- A VM's claim on a host's capacity. hosts.cpu_used_mhz / memory_used_mb are always the
-- sum of their claims; the claim row makes claiming and releasing idempotent.
CREATE TABLE host_claims (
    vm_id      uuid PRIMARY KEY REFERENCES vms (id) ON DELETE RESTRICT,
    host_id    uuid NOT NULL REFERENCES hosts (id) ON DELETE RESTRICT,
    cpu_mhz    bigint NOT NULL CHECK (cpu_mhz >= 0),
    memory_mb  bigint NOT NULL CHECK (memory_mb >= 0),
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX host_claims_host_idx ON host_claims (host_id);

-- Likewise for primary storage: storage_pools.allocated_bytes = sum of claims.
CREATE TABLE pool_claims (
    volume_id  uuid PRIMARY KEY REFERENCES volumes (id) ON DELETE RESTRICT,
    pool_id    uuid NOT NULL REFERENCES storage_pools (id) ON DELETE RESTRICT,
    bytes      bigint NOT NULL CHECK (bytes >= 0),
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX pool_claims_pool_idx ON pool_claims (pool_id);

CREATE TABLE affinity_groups (
    id         uuid PRIMARY KEY,
    name       text NOT NULL,
    owner      text NOT NULL DEFAULT '',
    kind       text NOT NULL CHECK (kind IN ('host-affinity', 'host-anti-affinity')),
    strict     boolean NOT NULL DEFAULT true,
    version    integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (owner, name)
);

CREATE TABLE vm_affinity_groups (
    vm_id    uuid NOT NULL REFERENCES vms (id) ON DELETE CASCADE,
    group_id uuid NOT NULL REFERENCES affinity_groups (id) ON DELETE RESTRICT,
    PRIMARY KEY (vm_id, group_id)
);
CREATE INDEX vm_affinity_groups_group_idx ON vm_affinity_groups (group_id);

-- A zone's default shared network, with the range its addresses come from.
ALTER TABLE networks ADD COLUMN is_default boolean NOT NULL DEFAULT false;
ALTER TABLE networks ADD COLUMN ip_start inet;
ALTER TABLE networks ADD COLUMN ip_end inet;
CREATE UNIQUE INDEX networks_one_default_per_zone ON networks (zone_id) WHERE is_default;
ALTER TABLE ip_addresses ADD COLUMN vm_id uuid;
ALTER TABLE ip_addresses ADD COLUMN allocated_at timestamptz;
CREATE INDEX ip_addresses_vm_idx ON ip_addresses (vm_id);

-- VM lists are filtered by these; keyset pagination uses (created_at, id).
CREATE INDEX vms_zone_created_idx ON vms (zone_id, created_at, id);
CREATE INDEX vms_state_created_idx ON vms (state, created_at, id);
CREATE INDEX vms_host_created_idx ON vms (host_id, created_at, id);

-- Cluster-wide settings users expect (CloudStack global settings, scoped where it matters).
ALTER TABLE zones ADD COLUMN planner text NOT NULL DEFAULT 'first_fit'
    CHECK (planner IN ('first_fit', 'user_dispersing', 'random'));
