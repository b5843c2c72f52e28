-- Since when a network has had no plugged port (its VMs all stopped): after the grace
-- period (settings.network_gc_wait_s, CloudStack's network.gc.wait) the orchestrator's
-- sweep shuts it down, giving its router and segment back.
ALTER TABLE networks ADD COLUMN idle_since timestamptz;
CREATE INDEX networks_idle_idx ON networks (idle_since) WHERE idle_since IS NOT NULL;
