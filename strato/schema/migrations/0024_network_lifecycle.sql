-- Guest networks implemented on hosts: where their router runs, and a generation counted
-- up on every change to what the network's devices should be (ports, leases, rules).
-- Every spec sent to a host carries the generation it was read at: a host that has
-- applied a newer one ignores an older one arriving late, so concurrent changes, each
-- applying the network whole, converge on the newest.
ALTER TABLE networks ADD COLUMN generation bigint NOT NULL DEFAULT 0;
ALTER TABLE networks ADD COLUMN router_host_id uuid REFERENCES hosts (id) ON DELETE SET NULL;
ALTER TABLE networks ADD COLUMN implemented_at timestamptz;
-- The host a NIC's port is plugged on (none while its VM is stopped).
ALTER TABLE nics ADD COLUMN host_id uuid REFERENCES hosts (id) ON DELETE SET NULL;
CREATE INDEX nics_network_host_idx ON nics (network_id, host_id);
-- A host's underlay address: VXLAN tunnels of other hosts end there.
ALTER TABLE hosts ADD COLUMN tunnel_ip inet;
