"""Simulated primary pool with tunable capacity, latency and injected faults.

With a ``state_file`` its volumes outlive the agent (as files on a real pool do).
"""

from __future__ import annotations

from pathlib import Path

import strato.drivers.simstate as simstate
from strato.domain.storage.specs import PoolFacts, VolumeInfo, VolumeSpec
from strato.drivers.faults import FaultPlan
from strato.drivers.storage.base import PrimaryStorage


class PoolFull(RuntimeError):
    pass


class SimulatorPrimaryStorage(PrimaryStorage):
    name = "simulator"

    def __init__(
        self,
        pool_name: str,
        *,
        capacity_bytes: int = 10 << 40,
        faults: FaultPlan | None = None,
        state_file: Path | None = None,
    ) -> None:
        self.pool_name = pool_name
        self.capacity_bytes = capacity_bytes
        self.faults = faults or FaultPlan()
        self.state_file = state_file
        self.volumes: dict[str, VolumeInfo] = {
            name: VolumeInfo.model_validate(v)
            for name, v in (simstate.load(state_file) or {}).items()
        }

    def _save(self) -> None:
        simstate.save(self.state_file, {n: v.model_dump() for n, v in self.volumes.items()})

    async def pool_facts(self) -> PoolFacts:
        await self.faults.call("pool_facts", self.pool_name)
        used = sum(v.allocated_bytes for v in self.volumes.values())
        return PoolFacts(capacity_bytes=self.capacity_bytes, used_bytes=used)

    async def create_volume(self, spec: VolumeSpec) -> VolumeInfo:
        await self.faults.call("create_volume", self.pool_name)
        if spec.name in self.volumes:
            return self.volumes[spec.name]
        used = sum(v.size_bytes for v in self.volumes.values())
        if used + spec.size_bytes > self.capacity_bytes:
            raise PoolFull(f"pool {self.pool_name} cannot hold {spec.size_bytes} more bytes")
        info = VolumeInfo(
            name=spec.name,
            path=f"sim://{self.pool_name}/{spec.name}",
            size_bytes=spec.size_bytes,
            allocated_bytes=min(spec.size_bytes, 1 << 20),
        )
        self.volumes[spec.name] = info
        self._save()
        return info

    async def delete_volume(self, name: str) -> None:
        await self.faults.call("delete_volume", self.pool_name)
        if self.volumes.pop(name, None) is not None:
            self._save()

    async def list_volumes(self) -> list[VolumeInfo]:
        return [self.volumes[k] for k in sorted(self.volumes)]
