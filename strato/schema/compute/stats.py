"""VM counters from the hosts' heartbeats: each VM's last two samples, and what they say
(CPU use between them; disk and network totals), per VM and summed per host."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from strato.domain.fabric.payloads import VmStatSample

# CPU used between a VM's last two samples, in cores (NULL with one sample).
_CORES = """CASE WHEN s.prev_sampled_at IS NOT NULL AND s.sampled_at > s.prev_sampled_at
              THEN (s.cpu_time_ns - s.prev_cpu_time_ns)
                   / (extract(epoch FROM s.sampled_at - s.prev_sampled_at) * 1e9) END"""


async def record(conn: Any, host_id: UUID, samples: list[VmStatSample]) -> int:
    """Keep each sample of a VM recorded on this host (others are ignored); the sample
    it replaces becomes the previous one, unless the VM moved or its counters restarted
    (a new boot). Returns how many were kept."""
    rows: list[tuple[UUID, VmStatSample]] = []
    for sample in samples:
        try:
            rows.append((UUID(sample.uuid), sample))
        except ValueError:
            continue
    if not rows:
        return 0
    cols = list(
        zip(
            *(
                (
                    vid,
                    s.stats.cpu_time_ns,
                    s.stats.vcpus,
                    s.stats.memory_mb,
                    s.stats.disk_read_bytes,
                    s.stats.disk_write_bytes,
                    s.stats.net_rx_bytes,
                    s.stats.net_tx_bytes,
                )
                for vid, s in rows
            ),
            strict=True,
        )
    )
    kept: int = await conn.fetchval(
        """WITH kept AS (
             INSERT INTO vm_stats AS s (vm_id, host_id, sampled_at, cpu_time_ns, vcpus,
                                        memory_mb, disk_read_bytes, disk_write_bytes,
                                        net_rx_bytes, net_tx_bytes)
             SELECT u.id, $1, clock_timestamp(), u.cpu, u.vcpus, u.mem, u.dr, u.dw, u.rx, u.tx
             FROM unnest($2::uuid[], $3::bigint[], $4::int[], $5::int[], $6::bigint[],
                         $7::bigint[], $8::bigint[], $9::bigint[])
                  AS u(id, cpu, vcpus, mem, dr, dw, rx, tx)
             JOIN vms v ON v.id = u.id AND v.host_id = $1
             ON CONFLICT (vm_id) DO UPDATE SET
               prev_sampled_at = CASE WHEN s.host_id = EXCLUDED.host_id
                                       AND EXCLUDED.cpu_time_ns >= s.cpu_time_ns
                                      THEN s.sampled_at END,
               prev_cpu_time_ns = CASE WHEN s.host_id = EXCLUDED.host_id
                                        AND EXCLUDED.cpu_time_ns >= s.cpu_time_ns
                                       THEN s.cpu_time_ns END,
               host_id = EXCLUDED.host_id, sampled_at = EXCLUDED.sampled_at,
               cpu_time_ns = EXCLUDED.cpu_time_ns, vcpus = EXCLUDED.vcpus,
               memory_mb = EXCLUDED.memory_mb, disk_read_bytes = EXCLUDED.disk_read_bytes,
               disk_write_bytes = EXCLUDED.disk_write_bytes,
               net_rx_bytes = EXCLUDED.net_rx_bytes, net_tx_bytes = EXCLUDED.net_tx_bytes
             RETURNING 1)
           SELECT count(*) FROM kept""",
        host_id,
        *(list(c) for c in cols),
    )
    return kept


async def vm(conn: Any, vm_id: UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        f"""SELECT s.vm_id, s.host_id, s.sampled_at, s.vcpus, s.memory_mb,
                   s.disk_read_bytes, s.disk_write_bytes, s.net_rx_bytes, s.net_tx_bytes,
                   {_CORES} AS cores
            FROM vm_stats s WHERE s.vm_id = $1""",
        vm_id,
    )
    if row is None:
        return None
    out = dict(row)
    cores = out.pop("cores")
    out["cpu_percent"] = (
        None if cores is None else round(100.0 * float(cores) / max(out["vcpus"], 1), 1)
    )
    return out


async def host(conn: Any, host_id: UUID, fresh_s: float) -> dict[str, Any]:
    """The host's running VMs' last samples (those fresher than ``fresh_s``), summed."""
    row = await conn.fetchrow(
        f"""SELECT count(s.vm_id) AS vms, max(s.sampled_at) AS sampled_at,
                   coalesce(sum({_CORES}), 0) AS cores,
                   coalesce(sum(s.memory_mb), 0) AS memory_mb,
                   coalesce(sum(s.disk_read_bytes), 0) AS disk_read_bytes,
                   coalesce(sum(s.disk_write_bytes), 0) AS disk_write_bytes,
                   coalesce(sum(s.net_rx_bytes), 0) AS net_rx_bytes,
                   coalesce(sum(s.net_tx_bytes), 0) AS net_tx_bytes,
                   (SELECT cpu_cores FROM hosts WHERE id = $1) AS host_cores
            FROM vm_stats s JOIN vms v ON v.id = s.vm_id
            WHERE s.host_id = $1 AND v.host_id = $1 AND v.state = 'Running'
              AND s.sampled_at > clock_timestamp() - make_interval(secs => $2)""",
        host_id,
        fresh_s,
    )
    out = dict(row)
    cores = float(out.pop("cores"))
    host_cores = out.pop("host_cores") or 0
    out["host_id"] = host_id
    out["cpu_cores_used"] = round(cores, 3)
    out["cpu_percent"] = round(100.0 * cores / host_cores, 1) if host_cores else None
    for key in ("memory_mb", "disk_read_bytes", "disk_write_bytes", "net_rx_bytes"):
        out[key] = int(out[key])
    out["net_tx_bytes"] = int(out["net_tx_bytes"])
    return out
