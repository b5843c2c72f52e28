"""Inventory: ask every host's and pool's agent what it really holds (for `strato doctor`).

Repairs first (undefine domains, delete volumes that nothing owns), then the listings,
all in parallel. An agent that does not pick its task up within ``reach_s`` counts as
unreachable: its host is reported, not compared, and the workflow still completes.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from strato.domain.compute.payloads import ComputeVmInput
    from strato.domain.compute.steps import LIST_VMS, UNDEFINE_VM
    from strato.domain.fabric import flows
    from strato.domain.fabric.payloads import (
        HostInventory,
        InventoryInput,
        InventoryResult,
        PoolInventory,
        StoreInventory,
    )
    from strato.domain.ids import compute_queue, network_queue, storage_queue
    from strato.domain.network.payloads import NetworkInventory, NetworkProbe
    from strato.domain.network.steps import LIST_PORTS, ROUTER_STATUS
    from strato.domain.steps import Step
    from strato.domain.storage.payloads import StoreRef
    from strato.domain.storage.steps import DELETE_STORED, DELETE_VOLUME, LIST_IMAGES, LIST_VOLUMES
    from strato.workflows.common import calls
    from strato.workflows.common.failures import failure_reason

I = TypeVar("I")  # noqa: E741 - a step's input type
R = TypeVar("R")
_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=500), maximum_attempts=2)


@workflow.defn(name=flows.INVENTORY.name)
class InventoryWorkflow:
    @workflow.run
    async def run(self, inp: InventoryInput) -> InventoryResult:
        reach = timedelta(seconds=inp.reach_s)

        async def call(step: Step[I, R], queue: str, arg: I) -> R:
            return await calls.remote(
                step,
                arg,
                queue=queue,
                reach=reach,
                timeout=timedelta(seconds=60),
                heartbeat=timedelta(seconds=10),
                retry=_RETRY,
            )

        async def attempt(what: str, coro: Any) -> str | None:
            try:
                await coro
                return None
            except FailureError as err:
                return f"could not {what}: {failure_reason(err)}"

        repairs = [
            attempt(
                f"undefine {r.name} on {r.host}",
                call(UNDEFINE_VM, compute_queue(r.host), ComputeVmInput(name=r.name)),
            )
            for r in inp.undefine
        ] + [
            attempt(
                f"delete {r.name} on {r.pool}",
                call(DELETE_VOLUME, storage_queue(r.pool), r.name),
            )
            for r in inp.delete
        ]
        failed = [note for note in await asyncio.gather(*repairs) if note]

        async def host(name: str) -> HostInventory:
            try:
                vms = await call(LIST_VMS, compute_queue(name), None)
                return HostInventory(host=name, vms=vms)
            except FailureError as err:
                return HostInventory(host=name, error=failure_reason(err))

        async def pool(name: str) -> PoolInventory:
            try:
                vols = await call(LIST_VOLUMES, storage_queue(name), None)
                return PoolInventory(pool=name, volumes=vols)
            except FailureError as err:
                return PoolInventory(pool=name, error=failure_reason(err))

        async def network(probe: NetworkProbe) -> NetworkInventory:
            queue = network_queue(probe.host)
            try:
                ports = await call(LIST_PORTS, queue, probe.network)
                router = await call(ROUTER_STATUS, queue, probe.network) if probe.router else None
                return NetworkInventory(
                    host=probe.host,
                    network=probe.network,
                    router=router,
                    ports=[p.mac for p in ports],
                )
            except FailureError as err:
                return NetworkInventory(
                    host=probe.host, network=probe.network, error=failure_reason(err)
                )

        hosts = await asyncio.gather(*(host(h) for h in inp.hosts))
        pools = await asyncio.gather(*(pool(p) for p in inp.pools))
        networks = await asyncio.gather(*(network(n) for n in inp.networks))
        stores: list[StoreInventory] = []
        if inp.stores or inp.drop_images:  # image stores: the template service's
            failed += await self._stores(inp, call, attempt, stores)
        return InventoryResult(
            hosts=list(hosts),
            pools=list(pools),
            stores=stores,
            networks=list(networks),
            failed_repairs=failed,
        )

    async def _stores(
        self, inp: InventoryInput, call: Any, attempt: Any, stores: list[StoreInventory]
    ) -> list[str]:
        """Delete the images nothing records, then list every store."""
        queue = inp.templates_queue
        drops = [
            attempt(f"delete {d.key} in {d.store.name}", call(DELETE_STORED, queue, d))
            for d in inp.drop_images
        ]
        failed = [note for note in await asyncio.gather(*drops) if note]

        async def store(ref: StoreRef) -> StoreInventory:
            try:
                return StoreInventory(store=ref.name, images=await call(LIST_IMAGES, queue, ref))
            except FailureError as err:
                return StoreInventory(store=ref.name, error=failure_reason(err))

        stores.extend(await asyncio.gather(*(store(s) for s in inp.stores)))
        return failed
