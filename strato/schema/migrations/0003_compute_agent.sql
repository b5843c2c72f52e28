-- Real hosts: the agent serving a host, and where a running VM's console listens.

-- The identity of the agent that registered the host (kept in the agent's state file).
-- A second agent claiming the same host name is refused while this is set.
ALTER TABLE hosts ADD COLUMN agent_id uuid;

-- {"protocol": "vnc", "host": ..., "port": ..., "serial_log": ...} while the VM runs.
ALTER TABLE vms ADD COLUMN console jsonb;
