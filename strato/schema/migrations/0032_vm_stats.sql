-- Each VM's last two samples of its hypervisor counters, from its host's heartbeats (the
-- agent reads them with the VM report): CPU use is the CPU time between the two over the
-- wall time between them. Disk and network are cumulative counters.
CREATE TABLE vm_stats (
    vm_id            uuid PRIMARY KEY REFERENCES vms (id) ON DELETE CASCADE,
    host_id          uuid NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    sampled_at       timestamptz NOT NULL,
    cpu_time_ns      bigint NOT NULL,
    vcpus            integer NOT NULL,
    memory_mb        integer NOT NULL,
    disk_read_bytes  bigint NOT NULL DEFAULT 0,
    disk_write_bytes bigint NOT NULL DEFAULT 0,
    net_rx_bytes     bigint NOT NULL DEFAULT 0,
    net_tx_bytes     bigint NOT NULL DEFAULT 0,
    prev_sampled_at  timestamptz,
    prev_cpu_time_ns bigint
);
CREATE INDEX vm_stats_host_idx ON vm_stats (host_id);
