"""Latency and fault injection shared by the simulator drivers (never by real ones)."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field


class InjectedFault(RuntimeError):
    """A failure the simulator was told to produce."""


@dataclass
class FaultPlan:
    """What the simulator does to each call: delay it, fail it, or hang it.

    ``fail_targets`` / ``fail_ops`` restrict failures to those hosts/pools and operations
    (empty: all). ``fail_rate`` 1.0 with a target list makes those targets always fail.
    """

    latency_ms: float = 0.0
    fail_rate: float = 0.0
    hang_rate: float = 0.0
    fail_targets: frozenset[str] = frozenset()
    fail_ops: frozenset[str] = frozenset()
    seed: int | None = None
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    @classmethod
    def parse(
        cls,
        *,
        latency_ms: float = 0.0,
        fail_rate: float = 0.0,
        hang_rate: float = 0.0,
        fail_targets: str = "",
        fail_ops: str = "",
        seed: int | None = None,
    ) -> FaultPlan:
        def split(v: str) -> frozenset[str]:
            return frozenset(x.strip() for x in v.split(",") if x.strip())

        return cls(latency_ms, fail_rate, hang_rate, split(fail_targets), split(fail_ops), seed)

    def _applies(self, op: str, target: str) -> bool:
        return (not self.fail_targets or target in self.fail_targets) and (
            not self.fail_ops or op in self.fail_ops
        )

    async def call(self, op: str, target: str) -> None:
        """Await before performing ``op`` on ``target``; may sleep, raise, or hang."""
        if self.latency_ms:
            await asyncio.sleep(self.latency_ms / 1000.0)
        if not self._applies(op, target):
            return
        if self.hang_rate and self._rng.random() < self.hang_rate:
            await asyncio.Event().wait()  # never set: the caller's timeout must fire
        if self.fail_rate and self._rng.random() < self.fail_rate:
            raise InjectedFault(f"simulated failure of {op} on {target}")
