"""Blue/green redeploy of a VM group behind port-forwarding rules, written only with
Strato's SDK (``strato.sdk.workflow``).

A group is ``size`` VMs, member ``i`` reached through the public IP's port
``base_port + i``. A redeploy (a new template, a new offering) deploys the next
generation beside the serving one, waits until every new VM runs, moves each member's
rule to its new VM, and only then expunges the old generation. If the new generation
cannot be brought up, what was deployed of it is expunged and the old one keeps serving
untouched: the group is always one whole generation behind its rules.

Every step is a Strato operation made through the API with an idempotency key fixed for
the step, so the run survives kill -9 of its own worker and of Strato's orchestrator at
any moment: a repeated step is the same request, never a second VM or rule.
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from strato.sdk import workflow as strato


@workflow.defn
class BlueGreenRedeploy:
    @workflow.run
    async def run(self, spec: dict[str, Any]) -> dict[str, Any]:
        """``spec``: group, generation, size, zone_id, service_offering_id, template_id,
        network_id, ip_id, base_port, private_port, and ``serving``: the members now
        (``[{"vm": id, "rule": id}]``, empty for a first deploy). Returns the group as
        it serves after the run."""
        gen = int(spec["generation"])
        names = [f"{spec['group']}-g{gen}-{i}" for i in range(int(spec["size"]))]
        deployed = await asyncio.gather(
            *(self._deploy(spec, n) for n in names), return_exceptions=True
        )
        fresh = [vm for vm in deployed if isinstance(vm, dict)]
        try:
            failed = next((e for e in deployed if isinstance(e, BaseException)), None)
            if failed is not None:
                raise failed
            for vm in fresh:
                await strato.wait_for("vms", vm["id"], "Running")
        except ActivityError:
            # The new generation did not come up: take away what did, keep serving.
            for vm in fresh:
                await strato.destroy_vm(vm["id"], expunge=True)
            raise
        serving = list(spec.get("serving") or [])
        members = []
        for i, vm in enumerate(fresh):
            if i < len(serving) and serving[i].get("rule"):
                await strato.delete_port_forwarding_rule(serving[i]["rule"])
            rule = await strato.create_port_forwarding_rule(
                spec["ip_id"],
                vm_id=vm["id"],
                protocol="tcp",
                public_start=int(spec["base_port"]) + i,
                private_start=int(spec["private_port"]),
            )
            members.append({"vm": vm["id"], "rule": rule["id"], "name": vm["name"]})
        # Members beyond the new size: their rules go too.
        for old in serving[len(fresh) :]:
            if old.get("rule"):
                await strato.delete_port_forwarding_rule(old["rule"])
        for old in serving:
            await strato.destroy_vm(old["vm"], expunge=True)
        return {"group": spec["group"], "generation": gen, "serving": members}

    @staticmethod
    async def _deploy(spec: dict[str, Any], name: str) -> dict[str, Any]:
        return await strato.deploy_vm(
            name=name,
            zone_id=spec["zone_id"],
            service_offering_id=spec["service_offering_id"],
            template_id=spec["template_id"],
            network_ids=[spec["network_id"]],
        )
