"""The primary-storage contract. Post-conditions and idempotency are stated per method."""

from __future__ import annotations

import abc

from strato.domain.storage.specs import PoolFacts, VolumeInfo, VolumeSpec


class PrimaryStorage(abc.ABC):
    name: str = "abstract"

    @abc.abstractmethod
    async def pool_facts(self) -> PoolFacts:
        """Capacity and usage as the pool itself reports them."""

    @abc.abstractmethod
    async def create_volume(self, spec: VolumeSpec) -> VolumeInfo:
        """Post-condition: a volume named ``spec.name`` exists (cloned from
        ``spec.template_path`` when given). Idempotent: an existing volume of that name is
        returned as it is."""

    @abc.abstractmethod
    async def delete_volume(self, name: str) -> None:
        """Post-condition: no volume named ``name``. Deleting a missing volume succeeds."""

    @abc.abstractmethod
    async def list_volumes(self) -> list[VolumeInfo]:
        """Every volume in the pool."""
