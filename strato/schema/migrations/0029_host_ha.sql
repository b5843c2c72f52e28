-- Host investigation and HA (#14).
-- Where a neighbour (or the orchestrator) asks a host's agent whether it is alive:
-- http://<address>:<port>/health for a real agent, sim://<host> for a simulated one.
ALTER TABLE hosts ADD COLUMN agent_endpoint text;
-- Each time a host goes from Up to Alert a new outage begins: its investigation and HA
-- run once per outage (workflow id host-ha:<host>:<outage>), however the host flaps.
ALTER TABLE hosts ADD COLUMN outage integer NOT NULL DEFAULT 0;
-- The VMs a Down host must not run any more (fenced when it was declared Down): its
-- agent, when it returns, destroys their domains before the host is Up again.
CREATE TABLE vm_fences (
    host_id    uuid NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    vm_id      uuid NOT NULL REFERENCES vms (id) ON DELETE CASCADE,
    outage     integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (host_id, vm_id)
);
