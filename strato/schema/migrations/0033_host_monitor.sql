-- The monitor that watches each host (the workflow id of its HostMonitors shard, or of
-- the per-host HostMonitor of before): written by the heartbeat it records, so a monitor
-- that no longer watches a host (its agent moved it) never investigates its silence.
ALTER TABLE hosts ADD COLUMN monitor_id text;
