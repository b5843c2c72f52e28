-- Physical networks of a zone (CloudStack's physical_network): an isolation method and the
-- traffic types they carry, and the segment ids (VLAN or VXLAN VNI, "vnets") guest networks
-- get on them; public IP ranges (CloudStack's vlan table) and their addresses.
--
-- Segments and public addresses are one row each, as CloudStack's op_dc_vnet_alloc and
-- user_ip_address: an allocation locks one Free row (FOR UPDATE SKIP LOCKED), so concurrent
-- allocations never hand out the same id or address and never wait on each other.
CREATE TABLE physical_networks (
    id            uuid PRIMARY KEY,
    zone_id       uuid NOT NULL REFERENCES zones (id) ON DELETE RESTRICT,
    name          text NOT NULL,
    isolation     text NOT NULL DEFAULT 'VLAN' CHECK (isolation IN ('VLAN', 'VXLAN')),
    traffic_types text[] NOT NULL DEFAULT '{guest}'
                  CHECK (traffic_types <@ ARRAY['guest', 'public', 'management']::text[]
                         AND cardinality(traffic_types) > 0),
    state         text NOT NULL DEFAULT 'Enabled' CHECK (state IN ('Enabled', 'Disabled')),
    version       integer NOT NULL DEFAULT 1,
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (zone_id, name)
);

CREATE TABLE segments (
    physical_network_id uuid NOT NULL REFERENCES physical_networks (id) ON DELETE CASCADE,
    vnet                integer NOT NULL CHECK (vnet > 0),
    network_id          uuid REFERENCES networks (id) ON DELETE RESTRICT,
    allocated_at        timestamptz,
    PRIMARY KEY (physical_network_id, vnet)
);
CREATE INDEX segments_free_idx ON segments (physical_network_id, vnet) WHERE network_id IS NULL;
CREATE UNIQUE INDEX segments_network_idx ON segments (network_id) WHERE network_id IS NOT NULL;

CREATE TABLE public_ip_ranges (
    id                  uuid PRIMARY KEY,
    zone_id             uuid NOT NULL REFERENCES zones (id) ON DELETE RESTRICT,
    physical_network_id uuid REFERENCES physical_networks (id) ON DELETE RESTRICT,
    vlan                text NOT NULL DEFAULT 'untagged',
    gateway             inet NOT NULL,
    cidr                cidr NOT NULL,
    ip_start            inet NOT NULL,
    ip_end              inet NOT NULL,
    version             integer NOT NULL DEFAULT 1,
    created_at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK (ip_start <= ip_end)
);
CREATE INDEX public_ip_ranges_zone_idx ON public_ip_ranges (zone_id);

CREATE TABLE public_ips (
    id           uuid PRIMARY KEY,
    zone_id      uuid NOT NULL REFERENCES zones (id) ON DELETE RESTRICT,
    range_id     uuid NOT NULL REFERENCES public_ip_ranges (id) ON DELETE CASCADE,
    address      inet NOT NULL,
    state        text NOT NULL DEFAULT 'Free' CHECK (state IN ('Free', 'Allocated')),
    network_id   uuid REFERENCES networks (id) ON DELETE RESTRICT,
    owner        text,
    source_nat   boolean NOT NULL DEFAULT false,
    allocated_at timestamptz,
    version      integer NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (zone_id, address),
    CHECK ((state = 'Free') = (allocated_at IS NULL))
);
CREATE INDEX public_ips_free_idx ON public_ips (zone_id, address) WHERE state = 'Free';
