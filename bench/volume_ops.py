"""Volume operations through Strato vs the same qemu-img / libvirt calls made directly, on
the real host (qemu:///system, TCG), side by side in one run.

1. A root disk from a cached template, on the agent: the qcow2 driver's create_volume
   (a thin clone: a qcow2 overlay on the template) vs ``qemu-img create -b`` of the same
   template, for a 64 MiB and a 1 GiB template with all their bytes written (the clone
   must not depend on the template's size).
2. The orchestration's overhead per operation: snapshot, revert, delete snapshot, attach
   (hot-plug into a running guest) and detach of a data volume through the REST API (from
   the request to the end of the operation's workflow run, awaited on the run itself; the
   agent in this process) vs the same action on a file of the same size with qemu-img /
   libvirt-python.

Runs alternate (Strato, direct, Strato, ...) so both see the same machine load.
Needs scripts/libvirt-host start and scripts/tiny-guest (make lab).
Run: python -m bench.volume_ops [N]   (default N=10)
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
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

# The bench's pool and images live in its own directory: allow them before Settings load.
WORK = Path(tempfile.mkdtemp(prefix="strato-bench-vol-", dir="/var/lib/strato"))
os.chmod(WORK, 0o711)
os.environ["STRATO_POOL_ROOTS"] = str(WORK / "pools")
os.environ.setdefault("STRATO_IMAGE_ROOTS", f"/var/lib/strato/images:{WORK / 'images'}")

import libvirt  # noqa: E402

from bench.stack import embedded_stack  # noqa: E402
from strato.domain.compute.specs import DiskSpec  # noqa: E402
from strato.domain.storage.specs import VolumeSpec  # noqa: E402
from strato.drivers.hypervisor.libvirt.domxml import disk_element  # noqa: E402
from strato.drivers.registry import load  # noqa: E402
from tests.helpers import ok  # noqa: E402
from tests.lab import GUEST_CMDLINE, TINY_GUEST  # noqa: E402
from tests.workers.agent_helpers import AgentTask, agent_config, kvm_zone  # noqa: E402

KERNEL, INITRD = str(TINY_GUEST / "vmlinuz"), str(TINY_GUEST / "initrd.img")
MiB, GiB = 1 << 20, 1 << 30
SETTLE_S = 1.5


def qemu_img(*args: str) -> None:
    subprocess.run(["qemu-img", *args], check=True, capture_output=True)


def full_template(path: Path, size: int) -> None:
    """A qcow2 template with every byte written (no sparse shortcut)."""
    qemu_img("create", "-q", "-f", "qcow2", str(path), str(size))
    chunk = 64 * MiB
    for off in range(0, size, chunk):
        subprocess.run(
            [
                "qemu-io",
                "-f",
                "qcow2",
                "-c",
                f"write -P 0x5a {off} {min(chunk, size - off)}",
                str(path),
            ],
            check=True,
            capture_output=True,
        )


async def clones(n: int) -> dict[str, list[float]]:
    """Part 1: thin clones on the agent's driver vs qemu-img directly."""
    pool_dir = WORK / "pools" / "clone-pool"
    images = WORK / "images"
    images.mkdir()
    pool = load("storage", "qcow2")(
        "bench",
        path=f"file://{pool_dir}",
        image_roots=(str(images),),
        pool_roots=(str(WORK / "pools"),),
    )
    out: dict[str, list[float]] = defaultdict(list)
    for size, label in ((64 * MiB, "64MiB"), (GiB, "1GiB")):
        tpl = images / f"tpl-{label}.qcow2"
        await asyncio.to_thread(full_template, tpl, size)
        for i in range(n + 1):
            name = f"strato-vol-{uuid.uuid4()}"
            t0 = time.perf_counter()
            await pool.create_volume(VolumeSpec(name=name, size_bytes=size, template_path=str(tpl)))
            took = time.perf_counter() - t0
            await pool.delete_volume(name)
            direct = WORK / f"direct-{i}.qcow2"
            t0 = time.perf_counter()
            await asyncio.to_thread(
                qemu_img,
                "create",
                "-q",
                "-f",
                "qcow2",
                "-b",
                str(tpl),
                "-F",
                "qcow2",
                str(direct),
                str(size),
            )
            raw = time.perf_counter() - t0
            direct.unlink()
            if i:
                out[f"clone {label} strato"].append(took)
                out[f"clone {label} direct"].append(raw)
    return out


async def timed(call: Awaitable[Any]) -> float:
    t0 = time.perf_counter()
    await call
    return time.perf_counter() - t0


async def operations(n: int) -> dict[str, list[float]]:
    """Part 2: volume operations through the API vs qemu-img / libvirt directly."""
    out: dict[str, list[float]] = defaultdict(list)
    conn = libvirt.open("qemu:///system")
    host = f"bench{uuid.uuid4().hex[:6]}"
    async with embedded_stack() as st:
        api = st.api
        fab = await kvm_zone(
            api,
            WORK / "pools" / "pool",
            boot={"kernel": KERNEL, "initrd": INITRD, "cmdline": GUEST_CMDLINE},
        )
        cfg = agent_config(
            fab,
            host,
            WORK / "agent",
            libvirt_uri="qemu:///system",
            console_dir=WORK / "console",
            heartbeat_s=5.0,
        )
        agent = await AgentTask(st.client, st.settings, cfg).start()
        try:
            while True:
                page = await ok(await api.get("/hosts", params={"name": host}))
                if page["items"] and page["items"][0]["status"] == "Up":
                    break
                await asyncio.sleep(0.1)

            async def op(method: str, path: str, body: Any = None) -> dict[str, Any]:
                """Accept through the API, then wait on the run itself (no polling)."""
                r = await ok(await api.request(method, path, json=body), 202)
                await st.client.get_workflow_handle(r["operation"]["workflow_id"]).result()
                return r

            body = {
                "name": "bench-vm",
                "zone_id": fab["zone"]["id"],
                "service_offering_id": fab["offering"]["id"],
                "template_id": fab["template"]["id"],
            }
            vm_id = (await op("POST", "/vms", body))["resource"]["id"]
            await asyncio.sleep(8)  # let the guest finish booting (ACPI ready for unplug)
            vol = await ok(
                await api.post(
                    "/volumes", json={"name": "bench", "zone_id": fab["zone"]["id"], "size_gb": 1}
                ),
                201,
            )
            await op("POST", f"/volumes/{vol['id']}/attach", {"vm_id": vm_id})
            await op("POST", f"/volumes/{vol['id']}/detach")
            dom = next(d for d in conn.listAllDomains() if d.UUIDString() == vm_id)
            direct = WORK / "direct.qcow2"
            qemu_img("create", "-q", "-f", "qcow2", str(direct), str(GiB))
            os.chmod(direct, 0o666)
            element = disk_element(DiskSpec(path=str(direct), device="vdc"))
            disk_xml = ET.tostring(element, encoding="unicode")
            live = libvirt.VIR_DOMAIN_AFFECT_LIVE

            def direct_detach() -> None:
                dom.detachDeviceFlags(disk_xml, live)
                while "vdc" in dom.XMLDesc(0):
                    time.sleep(0.02)

            steps: list[tuple[str, Callable[[], Awaitable[Any]], Callable[[], Any]]] = [
                (
                    "attach (hot-plug)",
                    lambda: op("POST", f"/volumes/{vol['id']}/attach", {"vm_id": vm_id}),
                    lambda: dom.attachDeviceFlags(disk_xml, live),
                ),
                (
                    "detach (guest lets go)",
                    lambda: op("POST", f"/volumes/{vol['id']}/detach"),
                    direct_detach,
                ),
            ]
            for i in range(n + 1):
                for label, strato, raw in steps:
                    # The guest handles one hot-plug event at a time (slowly, under TCG):
                    # let it settle before each timed change, or one waits on the other's.
                    await asyncio.sleep(SETTLE_S)
                    s = await timed(strato())
                    await asyncio.sleep(SETTLE_S)
                    d = await timed(asyncio.to_thread(raw))
                    if i:
                        out[f"{label} strato"].append(s)
                        out[f"{label} direct"].append(d)
                r = await op("POST", f"/volumes/{vol['id']}/snapshots")
                snap_id = r["resource"]["id"]
                t0 = time.perf_counter()
                await op("POST", f"/snapshots/{snap_id}/revert")
                rev = time.perf_counter() - t0
                t0 = time.perf_counter()
                await op("DELETE", f"/snapshots/{snap_id}")
                dele = time.perf_counter() - t0
                t0 = time.perf_counter()
                r2 = await op("POST", f"/volumes/{vol['id']}/snapshots")
                take = time.perf_counter() - t0
                await op("DELETE", f"/snapshots/{r2['resource']['id']}")
                name = f"s{i}"
                d_take = await timed(
                    asyncio.to_thread(qemu_img, "snapshot", "-c", name, str(direct))
                )
                d_rev = await timed(
                    asyncio.to_thread(qemu_img, "snapshot", "-a", name, str(direct))
                )
                d_del = await timed(
                    asyncio.to_thread(qemu_img, "snapshot", "-d", name, str(direct))
                )
                if i:
                    for label, s, d in (
                        ("snapshot", take, d_take),
                        ("revert", rev, d_rev),
                        ("delete snapshot", dele, d_del),
                    ):
                        out[f"{label} strato"].append(s)
                        out[f"{label} direct"].append(d)
                print(f"round {i} done", flush=True)
            await op("POST", f"/vms/{vm_id}/destroy", {"expunge": True})
        finally:
            await agent.close()
    conn.close()
    return out


def report(results: dict[str, list[float]], n: int) -> None:
    print(f"\nN={n} on {os.uname().nodename} (TCG), medians:")
    labels = sorted({k.rsplit(" ", 1)[0] for k in results})
    for label in labels:
        s = statistics.median(results[f"{label} strato"]) * 1000
        d = statistics.median(results[f"{label} direct"]) * 1000
        print(
            f"  {label:24} strato {s:8.1f} ms   direct {d:8.1f} ms   "
            f"overhead {s - d:7.1f} ms   ratio {s / d:5.2f}x"
        )
    print("  targets: a clone from a cached template < 50 ms whatever its size;")
    print("           orchestration overhead per operation < 100 ms")


async def main(n: int) -> None:
    try:
        results = await clones(n)
        results.update(await operations(n))
        report(results, n)
    finally:
        shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    asyncio.run(main(int(args[0]) if args else 10))
