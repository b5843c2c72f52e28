"""Deploy-to-running latency through Strato vs the same define+start done directly with
libvirt-python, on the same real host (qemu:///system, TCG), in one run.

Strato: POST /vms through the API (ASGI, in this process) to the DeployVm workflow's
end (the VM is Running: NIC and IP allocated, planned and claimed, root volume created
on a qcow2 pool by the agent, domain defined and started by the agent, all recorded).
The compute agent runs in this process too, as it would next to libvirtd.

Raw: qemu-img create of the root disk, then defineXML + create of the very same domain
XML with libvirt-python. Runs alternate (Strato, raw, Strato, ...) so both see the same
machine load; each guest is removed before the next run.

Needs scripts/libvirt-host start and scripts/tiny-guest (make lab).
Run: python -m bench.deploy_overhead [N] [--trace]   (default N=10; --trace prints the
last Strato deploy's workflow history with timestamps)
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import libvirt
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from bench.stack import embedded_stack
from strato.domain.compute.specs import BootSpec, DiskSpec, NicSpec, VmSpec
from strato.drivers.hypervisor.libvirt.domxml import domain_xml
from tests.helpers import ok, wait_operation
from tests.lab import GUEST_CMDLINE, TINY_GUEST
from tests.workers.agent_helpers import AgentTask, agent_config, kvm_zone

KERNEL, INITRD = str(TINY_GUEST / "vmlinuz"), str(TINY_GUEST / "initrd.img")


def raw_deploy(conn: libvirt.virConnect, work: Path, host: str) -> tuple[float, float, str]:
    """qemu-img + define + start; returns (total s, define+start s, domain name)."""
    name = f"{host}-raw{uuid.uuid4().hex[:6]}"
    disk = work / f"{name}.qcow2"
    t0 = time.perf_counter()
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "64M"], check=True)
    t1 = time.perf_counter()
    spec = VmSpec(
        name=name,
        uuid=str(uuid.uuid4()),
        cpu_count=1,
        cpu_speed_mhz=500,
        memory_mb=96,
        disks=[DiskSpec(path=str(disk))],
        nics=[NicSpec(mac="52:54:00:be:00:01")],
        boot=BootSpec(kernel=KERNEL, initrd=INITRD, cmdline=GUEST_CMDLINE),
    )
    xml = domain_xml(
        spec,
        host_name=host,
        domain_type="qemu",
        console_log=str(work / f"{name}.log"),
        vnc_listen="127.0.0.1",
    )
    conn.defineXML(xml).create()
    t2 = time.perf_counter()
    return t2 - t0, t2 - t1, name


def raw_remove(conn: libvirt.virConnect, name: str, work: Path) -> None:
    dom = conn.lookupByName(name)
    dom.destroy()
    dom.undefine()
    (work / f"{name}.qcow2").unlink()


async def trace(client: Client, workflow_id: str, t0: float) -> None:
    """Where the time of one deploy went: each history event, ms after the first."""
    events = [e async for e in client.get_workflow_handle(workflow_id).fetch_history_events()]
    first = events[0].event_time.ToDatetime()
    print(f"history of {workflow_id}:")
    for e in events:
        ms = (e.event_time.ToDatetime() - first).total_seconds() * 1000
        kind = EventType.Name(e.event_type).removeprefix("EVENT_TYPE_")
        what = ""
        if e.HasField("activity_task_scheduled_event_attributes"):
            what = e.activity_task_scheduled_event_attributes.activity_type.name
        elif e.HasField("marker_recorded_event_attributes"):
            what = "local activity"
        print(f"  {ms:8.1f} ms  {kind} {what}")


async def main(n: int) -> None:
    conn = libvirt.open("qemu:///system")
    work = Path(tempfile.mkdtemp(prefix="strato-bench-", dir="/var/lib/strato"))
    os.chmod(work, 0o711)
    host = f"bench{uuid.uuid4().hex[:6]}"
    strato_s: list[float] = []
    raw_s: list[float] = []
    raw_ds: list[float] = []
    async with embedded_stack() as st:
        fab = await kvm_zone(
            st.api,
            work / "pool",
            boot={"kernel": KERNEL, "initrd": INITRD, "cmdline": GUEST_CMDLINE},
        )
        cfg = agent_config(
            fab,
            host,
            work / "agent",
            libvirt_uri="qemu:///system",
            console_dir=work / "console",
            heartbeat_s=5.0,
        )
        agent = await AgentTask(st.client, st.settings, cfg).start()
        try:
            while True:
                page = await ok(await st.api.get("/hosts", params={"name": host}))
                if page["items"] and page["items"][0]["status"] == "Up":
                    break
                await asyncio.sleep(0.1)
            for i in range(n + 1):  # run 0 warms both paths up and is not counted
                body = {
                    "name": f"b{i}",
                    "zone_id": fab["zone"]["id"],
                    "service_offering_id": fab["offering"]["id"],
                    "template_id": fab["template"]["id"],
                }
                t0 = time.perf_counter()
                accepted = await ok(await st.api.post("/vms", json=body), 202)
                wf = accepted["operation"]["workflow_id"]
                await st.client.get_workflow_handle(wf).result()
                took = time.perf_counter() - t0
                if i == n and "--trace" in sys.argv:
                    await trace(st.client, wf, t0)
                vm_id = accepted["resource"]["id"]
                r = await st.api.post(f"/vms/{vm_id}/destroy", json={"expunge": True})
                await wait_operation(st.api, (await ok(r, 202))["operation"]["id"], 120)

                total, define_start, name = await asyncio.to_thread(raw_deploy, conn, work, host)
                await asyncio.to_thread(raw_remove, conn, name, work)
                if i == 0:
                    continue
                strato_s.append(took)
                raw_s.append(total)
                raw_ds.append(define_start)
                print(
                    f"run {i:2}: strato {took * 1000:7.1f} ms   raw {total * 1000:7.1f} ms "
                    f"(define+start {define_start * 1000:6.1f} ms)",
                    flush=True,
                )
        finally:
            await agent.close()
    conn.close()
    shutil.rmtree(work, ignore_errors=True)
    s, r, rd = (statistics.median(x) for x in (strato_s, raw_s, raw_ds))
    print(f"\nN={n} on {os.uname().nodename} (TCG), medians:")
    print(f"  Strato API -> Running          {s * 1000:7.1f} ms")
    print(f"  raw qemu-img + define + start  {r * 1000:7.1f} ms")
    print(f"  raw define + start only        {rd * 1000:7.1f} ms")
    print(f"  ratio Strato / raw             {s / r:5.2f}x  (target <= 1.2x)")
    print(f"  ratio Strato / define+start    {s / rd:5.2f}x")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    asyncio.run(main(int(args[0]) if args else 10))
