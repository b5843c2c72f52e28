"""Row locks: a writer that holds a host's row for a status change or a heartbeat must not
block (or deadlock with) an operation that points a VM at that host. Such a pair did
deadlock: the heartbeat locked the host FOR UPDATE and then the host's VMs, while a
finishing deploy held its VM and waited for the key-share lock its host_id takes."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx

from strato.domain.states import HostStatus
from strato.schema.db import Database
from strato.schema.fabric import hosts
from tests.conftest import Platform
from tests.helpers import ok, wait_operation
from tests.workflows.vm_helpers import deploy, vm_zone


async def test_a_locked_host_does_not_block_pointing_a_vm_at_it(
    api: httpx.AsyncClient, platform: Platform, db: Database
) -> None:
    fab = await vm_zone(api, hosts=1)
    accepted = await deploy(api, fab)
    assert (await wait_operation(api, accepted["operation"]["id"]))["state"] == "succeeded"
    vm = await ok(await api.get(f"/vms/{accepted['resource']['id']}"))
    async with db.tx() as conn:  # the key check happens only when host_id changes
        await conn.execute("UPDATE vms SET host_id = NULL WHERE id = $1", vm["id"])
    held = asyncio.Event()
    release = asyncio.Event()

    async def host_writer() -> None:
        async with db.tx() as conn:
            await hosts.transition(conn, vm["host_id"], HostStatus.UP)  # locks the row
            held.set()
            await release.wait()

    writer = asyncio.create_task(host_writer())
    await held.wait()
    try:
        async with db.tx() as conn:
            await conn.execute("SET LOCAL lock_timeout = '3s'")
            await conn.execute(
                "UPDATE vms SET host_id = $2, last_host_id = $2 WHERE id = $1",
                vm["id"],
                vm["host_id"],
            )
    except asyncpg.exceptions.LockNotAvailableError as err:
        raise AssertionError("a VM update waited for the host's row lock") from err
    finally:
        release.set()
        await writer
