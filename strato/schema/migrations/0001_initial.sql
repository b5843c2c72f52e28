-- Strato initial schema: fabric, catalog, resources, operations, events, API keys.
-- Every resource: uuid key, created/updated timestamps, version for optimistic
-- concurrency, and a CHECK-constrained state column. Foreign keys RESTRICT: Strato
-- never cascades a delete through the fabric.

CREATE TABLE zones (
    id            uuid PRIMARY KEY,
    name          text NOT NULL UNIQUE,
    description   text NOT NULL DEFAULT '',
    network_type  text NOT NULL DEFAULT 'Advanced' CHECK (network_type IN ('Basic', 'Advanced')),
    dns1          text,
    internal_dns1 text,
    state         text NOT NULL DEFAULT 'Enabled' CHECK (state IN ('Enabled', 'Disabled')),
    version       integer NOT NULL DEFAULT 1,
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE pods (
    id         uuid PRIMARY KEY,
    zone_id    uuid NOT NULL REFERENCES zones (id) ON DELETE RESTRICT,
    name       text NOT NULL,
    gateway    text,
    netmask    text,
    state      text NOT NULL DEFAULT 'Enabled' CHECK (state IN ('Enabled', 'Disabled')),
    version    integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (zone_id, name)
);

CREATE TABLE clusters (
    id                      uuid PRIMARY KEY,
    zone_id                 uuid NOT NULL REFERENCES zones (id) ON DELETE RESTRICT,
    pod_id                  uuid NOT NULL REFERENCES pods (id) ON DELETE RESTRICT,
    name                    text NOT NULL,
    hypervisor              text NOT NULL CHECK (hypervisor IN ('kvm', 'simulator')),
    cpu_overcommit_ratio    numeric(6, 2) NOT NULL DEFAULT 1 CHECK (cpu_overcommit_ratio >= 1),
    memory_overcommit_ratio numeric(6, 2) NOT NULL DEFAULT 1 CHECK (memory_overcommit_ratio >= 1),
    state                   text NOT NULL DEFAULT 'Enabled' CHECK (state IN ('Enabled', 'Disabled')),
    version                 integer NOT NULL DEFAULT 1,
    created_at              timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at              timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (pod_id, name)
);

CREATE TABLE hosts (
    id                 uuid PRIMARY KEY,
    zone_id            uuid NOT NULL REFERENCES zones (id) ON DELETE RESTRICT,
    pod_id             uuid NOT NULL REFERENCES pods (id) ON DELETE RESTRICT,
    cluster_id         uuid NOT NULL REFERENCES clusters (id) ON DELETE RESTRICT,
    -- Host names are global: they name the host's task queues (compute@<name>).
    name               text NOT NULL UNIQUE,
    hypervisor         text NOT NULL CHECK (hypervisor IN ('kvm', 'simulator')),
    url                text NOT NULL DEFAULT '',
    status             text NOT NULL DEFAULT 'Creating' CHECK (status IN (
                           'Creating', 'Connecting', 'Up', 'Alert', 'Disconnected',
                           'Down', 'Removed', 'Error')),
    resource_state     text NOT NULL DEFAULT 'Enabled' CHECK (resource_state IN (
                           'Enabled', 'Disabled', 'PrepareForMaintenance',
                           'ErrorInMaintenance', 'Maintenance')),
    cpu_sockets        integer NOT NULL DEFAULT 0 CHECK (cpu_sockets >= 0),
    cpu_cores          integer NOT NULL DEFAULT 0 CHECK (cpu_cores >= 0),
    cpu_speed_mhz      integer NOT NULL DEFAULT 0 CHECK (cpu_speed_mhz >= 0),
    memory_total_mb    bigint  NOT NULL DEFAULT 0 CHECK (memory_total_mb >= 0),
    cpu_used_mhz       bigint  NOT NULL DEFAULT 0 CHECK (cpu_used_mhz >= 0),
    memory_used_mb     bigint  NOT NULL DEFAULT 0 CHECK (memory_used_mb >= 0),
    cpu_reserved_mhz   bigint  NOT NULL DEFAULT 0 CHECK (cpu_reserved_mhz >= 0),
    memory_reserved_mb bigint  NOT NULL DEFAULT 0 CHECK (memory_reserved_mb >= 0),
    hypervisor_version text NOT NULL DEFAULT '',
    capabilities       jsonb NOT NULL DEFAULT '{}',
    tags               text[] NOT NULL DEFAULT '{}',
    last_error         text,
    last_heartbeat_at  timestamptz,
    version            integer NOT NULL DEFAULT 1,
    created_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at         timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX hosts_cluster_idx ON hosts (cluster_id);
CREATE INDEX hosts_zone_status_idx ON hosts (zone_id, status, resource_state);

CREATE TABLE storage_pools (
    id                      uuid PRIMARY KEY,
    zone_id                 uuid NOT NULL REFERENCES zones (id) ON DELETE RESTRICT,
    pod_id                  uuid REFERENCES pods (id) ON DELETE RESTRICT,
    cluster_id              uuid REFERENCES clusters (id) ON DELETE RESTRICT,
    name                    text NOT NULL UNIQUE,
    scope                   text NOT NULL DEFAULT 'cluster' CHECK (scope IN ('cluster', 'zone')),
    driver                  text NOT NULL CHECK (driver IN ('qcow2', 'simulator')),
    url                     text NOT NULL DEFAULT '',
    capacity_bytes          bigint NOT NULL DEFAULT 0 CHECK (capacity_bytes >= 0),
    allocated_bytes         bigint NOT NULL DEFAULT 0 CHECK (allocated_bytes >= 0),
    used_bytes              bigint NOT NULL DEFAULT 0 CHECK (used_bytes >= 0),
    overprovisioning_factor numeric(6, 2) NOT NULL DEFAULT 1 CHECK (overprovisioning_factor >= 1),
    tags                    text[] NOT NULL DEFAULT '{}',
    state                   text NOT NULL DEFAULT 'Up' CHECK (state IN (
                                'Up', 'Disabled', 'Maintenance', 'Down', 'Error')),
    version                 integer NOT NULL DEFAULT 1,
    created_at              timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at              timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK (scope = 'zone' OR cluster_id IS NOT NULL)
);

CREATE TABLE service_offerings (
    id            uuid PRIMARY KEY,
    name          text NOT NULL UNIQUE,
    display_text  text NOT NULL DEFAULT '',
    cpu_count     integer NOT NULL CHECK (cpu_count > 0),
    cpu_speed_mhz integer NOT NULL CHECK (cpu_speed_mhz > 0),
    memory_mb     integer NOT NULL CHECK (memory_mb > 0),
    ha            boolean NOT NULL DEFAULT false,
    host_tags     text[] NOT NULL DEFAULT '{}',
    storage_tags  text[] NOT NULL DEFAULT '{}',
    planner       text,
    state         text NOT NULL DEFAULT 'Active' CHECK (state IN ('Active', 'Inactive')),
    version       integer NOT NULL DEFAULT 1,
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE disk_offerings (
    id           uuid PRIMARY KEY,
    name         text NOT NULL UNIQUE,
    display_text text NOT NULL DEFAULT '',
    size_gb      integer CHECK (size_gb > 0),
    custom_size  boolean NOT NULL DEFAULT false,
    provisioning text NOT NULL DEFAULT 'thin' CHECK (provisioning IN ('thin', 'sparse', 'fat')),
    storage_tags text[] NOT NULL DEFAULT '{}',
    state        text NOT NULL DEFAULT 'Active' CHECK (state IN ('Active', 'Inactive')),
    version      integer NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK (custom_size OR size_gb IS NOT NULL)
);

CREATE TABLE templates (
    id           uuid PRIMARY KEY,
    name         text NOT NULL UNIQUE,
    display_text text NOT NULL DEFAULT '',
    zone_id      uuid REFERENCES zones (id) ON DELETE RESTRICT,
    format       text NOT NULL DEFAULT 'qcow2' CHECK (format IN ('qcow2', 'raw', 'vhd', 'iso')),
    os_type      text NOT NULL DEFAULT 'Other Linux (64-bit)',
    url          text NOT NULL DEFAULT '',
    checksum     text,
    size_bytes   bigint NOT NULL DEFAULT 0 CHECK (size_bytes >= 0),
    is_public    boolean NOT NULL DEFAULT true,
    featured     boolean NOT NULL DEFAULT false,
    boot         jsonb NOT NULL DEFAULT '{}',
    state        text NOT NULL DEFAULT 'Ready' CHECK (state IN (
                     'Registered', 'Downloading', 'Ready', 'Error', 'Inactive')),
    version      integer NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE networks (
    id         uuid PRIMARY KEY,
    zone_id    uuid NOT NULL REFERENCES zones (id) ON DELETE RESTRICT,
    name       text NOT NULL,
    kind       text NOT NULL DEFAULT 'shared' CHECK (kind IN ('shared', 'isolated', 'l2')),
    cidr       cidr,
    gateway    inet,
    segment    text,
    owner      text,
    state      text NOT NULL DEFAULT 'Allocated' CHECK (state IN (
                   'Allocated', 'Setup', 'Implementing', 'Implemented', 'Shutdown', 'Destroy')),
    version    integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (zone_id, name)
);

CREATE TABLE vms (
    id                  uuid PRIMARY KEY,
    name                text NOT NULL,
    display_name        text NOT NULL DEFAULT '',
    zone_id             uuid NOT NULL REFERENCES zones (id) ON DELETE RESTRICT,
    host_id             uuid REFERENCES hosts (id) ON DELETE RESTRICT,
    last_host_id        uuid REFERENCES hosts (id) ON DELETE SET NULL,
    service_offering_id uuid NOT NULL REFERENCES service_offerings (id) ON DELETE RESTRICT,
    template_id         uuid NOT NULL REFERENCES templates (id) ON DELETE RESTRICT,
    owner               text NOT NULL DEFAULT '',
    cpu_count           integer NOT NULL CHECK (cpu_count > 0),
    cpu_speed_mhz       integer NOT NULL CHECK (cpu_speed_mhz > 0),
    memory_mb           integer NOT NULL CHECK (memory_mb > 0),
    state               text NOT NULL DEFAULT 'Allocated' CHECK (state IN (
                            'Allocated', 'Starting', 'Running', 'Stopping', 'Stopped',
                            'Migrating', 'Destroyed', 'Expunging', 'Expunged', 'Error')),
    last_error          text,
    version             integer NOT NULL DEFAULT 1,
    created_at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at          timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX vms_host_idx ON vms (host_id);
CREATE INDEX vms_zone_state_idx ON vms (zone_id, state);
CREATE INDEX vms_owner_idx ON vms (owner, created_at, id);
CREATE INDEX vms_created_idx ON vms (created_at, id);

CREATE TABLE volumes (
    id               uuid PRIMARY KEY,
    name             text NOT NULL,
    zone_id          uuid NOT NULL REFERENCES zones (id) ON DELETE RESTRICT,
    pool_id          uuid REFERENCES storage_pools (id) ON DELETE RESTRICT,
    vm_id            uuid REFERENCES vms (id) ON DELETE RESTRICT,
    kind             text NOT NULL CHECK (kind IN ('ROOT', 'DATADISK')),
    size_bytes       bigint NOT NULL CHECK (size_bytes > 0),
    format           text NOT NULL DEFAULT 'qcow2',
    path             text,
    disk_offering_id uuid REFERENCES disk_offerings (id) ON DELETE RESTRICT,
    template_id      uuid REFERENCES templates (id) ON DELETE RESTRICT,
    owner            text NOT NULL DEFAULT '',
    state            text NOT NULL DEFAULT 'Allocated' CHECK (state IN (
                         'Allocated', 'Creating', 'Ready', 'Resizing', 'Migrating', 'Copying',
                         'Snapshotting', 'Destroy', 'Expunging', 'Expunged', 'Error')),
    version          integer NOT NULL DEFAULT 1,
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at       timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX volumes_vm_idx ON volumes (vm_id);
CREATE INDEX volumes_pool_idx ON volumes (pool_id);

CREATE TABLE nics (
    id         uuid PRIMARY KEY,
    vm_id      uuid NOT NULL REFERENCES vms (id) ON DELETE RESTRICT,
    network_id uuid NOT NULL REFERENCES networks (id) ON DELETE RESTRICT,
    mac        text NOT NULL UNIQUE,
    ip_address inet,
    device_id  integer NOT NULL DEFAULT 0,
    is_default boolean NOT NULL DEFAULT true,
    state      text NOT NULL DEFAULT 'Allocated' CHECK (state IN ('Allocated', 'Reserved', 'Released')),
    version    integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (vm_id, device_id)
);

CREATE TABLE ip_addresses (
    id         uuid PRIMARY KEY,
    network_id uuid NOT NULL REFERENCES networks (id) ON DELETE RESTRICT,
    address    inet NOT NULL,
    nic_id     uuid REFERENCES nics (id) ON DELETE SET NULL,
    state      text NOT NULL DEFAULT 'Free' CHECK (state IN ('Free', 'Allocating', 'Allocated', 'Releasing')),
    version    integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (network_id, address),
    CHECK ((state = 'Free') = (nic_id IS NULL) OR state IN ('Allocating', 'Releasing'))
);
CREATE INDEX ip_addresses_free_idx ON ip_addresses (network_id, state);

-- Operations index requests onto Temporal executions. Their state, step and error are
-- read from Temporal (describe / query), never stored here.
CREATE TABLE operations (
    id              uuid PRIMARY KEY,
    kind            text NOT NULL,
    resource_type   text NOT NULL,
    resource_id     uuid,
    workflow_id     text NOT NULL,
    -- The start request itself, so the orchestrator's starter sweep can start the
    -- workflow if the API died between committing the intent and starting it.
    workflow_type   text NOT NULL,
    task_queue      text NOT NULL DEFAULT 'orchestration',
    input           jsonb NOT NULL DEFAULT '{}',
    search_attributes jsonb NOT NULL DEFAULT '{}',
    run_id          text,
    idempotency_key text UNIQUE,
    request_hash    text,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX operations_resource_idx ON operations (resource_id, created_at);
CREATE INDEX operations_created_idx ON operations (created_at, id);
CREATE INDEX operations_unstarted_idx ON operations (created_at) WHERE run_id IS NULL;

-- Transactional outbox. Writers take an advisory transaction lock right before the
-- insert, so ids become visible in id order and a consumer resuming from its last
-- id never skips one (see strato/schema/events.py).
CREATE TABLE events (
    id            bigserial PRIMARY KEY,
    time          timestamptz NOT NULL DEFAULT clock_timestamp(),
    type          text NOT NULL,
    resource_type text NOT NULL,
    resource_id   uuid,
    old_state     text,
    new_state     text,
    operation_id  uuid,
    payload       jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX events_resource_idx ON events (resource_id, id);

CREATE TABLE api_keys (
    id           uuid PRIMARY KEY,
    name         text NOT NULL,
    prefix       text NOT NULL UNIQUE,
    secret_hash  text NOT NULL,
    scope        text NOT NULL CHECK (scope IN ('admin', 'read')),
    is_bootstrap boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    revoked_at   timestamptz,
    last_used_at timestamptz
);
CREATE UNIQUE INDEX api_keys_one_bootstrap ON api_keys (is_bootstrap) WHERE is_bootstrap;
