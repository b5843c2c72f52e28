"""Developers' workflows for the SDK's tests: written only with temporalio and
strato.sdk, as a developer's own package would be."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from strato.sdk import workflow as strato


@workflow.defn
class Frontline:
    """A VM on a guest network, reachable through a public IP's port 8080."""

    @workflow.run
    async def run(self, inp: dict[str, Any]) -> dict[str, Any]:
        vm = await strato.deploy_vm(
            name=inp["name"],
            zone_id=inp["zone_id"],
            service_offering_id=inp["offering_id"],
            template_id=inp["template_id"],
            network_ids=[inp["network_id"]],
        )
        ip = await strato.allocate_public_ip(zone_id=inp["zone_id"], network_id=inp["network_id"])
        rule = await strato.create_port_forwarding_rule(
            ip["id"], vm_id=vm["id"], protocol="tcp", public_start=8080, private_start=80
        )
        running = await strato.wait_for("vms", vm["id"], "Running")
        return {"vm": vm["id"], "ip": ip["id"], "rule": rule["id"], "state": running["state"]}


@workflow.defn
class Teardown:
    """The reverse: the rule, the address, the VM (expunged)."""

    @workflow.run
    async def run(self, made: dict[str, Any]) -> dict[str, Any]:
        await strato.delete_port_forwarding_rule(made["rule"])
        await strato.release_public_ip(made["ip"])
        return await strato.destroy_vm(made["vm"], expunge=True)


@workflow.defn
class AwaitZone(strato.EventInbox):
    """Waits, without polling, for the zone of a name to be created."""

    @workflow.run
    async def run(self, name: str) -> dict[str, Any]:
        await strato.subscribe(["strato.zone.*"])
        while True:
            event = await self.next_event("strato.zone.created", timeout=timedelta(minutes=2))
            if event["data"].get("name") == name:
                return event
