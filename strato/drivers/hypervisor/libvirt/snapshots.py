"""Live snapshots of one disk of a running guest, taken by its QEMU.

The running QEMU holds the qcow2 image (locked), so ``qemu-img snapshot`` cannot touch
it; QEMU itself can. libvirt's snapshot API snapshots whole domains (with memory), so the
driver asks QEMU through libvirt's monitor pass-through for an internal snapshot of the
one block node behind the device: ``blockdev-snapshot-internal-sync`` and
``blockdev-snapshot-delete-internal-sync``. The snapshot is an ordinary internal snapshot
of the file: the pool lists, reverts and deletes it once the guest has let the disk go.
libvirt marks such a domain "tainted: custom-monitor" in its log; nothing else changes.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

import libvirt
import libvirt_qemu

from strato.drivers.hypervisor.base import HypervisorError


def _qmp(dom: libvirt.virDomain, command: str, **arguments: Any) -> Any:
    body = json.dumps({"execute": command, "arguments": arguments})
    try:
        reply = json.loads(libvirt_qemu.qemuMonitorCommand(dom, body, 0))
    except libvirt.libvirtError as err:
        raise QmpError(str(err)) from err
    if "error" in reply:
        raise QmpError(str(reply["error"].get("desc", reply["error"])))
    return reply.get("return")


class QmpError(HypervisorError):
    """QEMU refused a monitor command."""


def node_of(dom: libvirt.virDomain, device: str) -> str:
    """The block node QEMU serves the guest's ``device`` (vdb) from: the top of its
    chain, named by libvirt (``libvirt-<n>-format``)."""
    aliases = _aliases(dom)
    alias = aliases.get(device)
    if alias is None:
        raise HypervisorError(f"the running domain has no disk at {device}")
    for block in _qmp(dom, "query-block"):
        qdev = str(block.get("qdev", ""))
        inserted = block.get("inserted") or {}
        if f"/{alias}/" in f"{qdev}/" and inserted.get("node-name"):
            return str(inserted["node-name"])
    raise HypervisorError(f"QEMU serves no block node for {device} ({alias})")


def _aliases(dom: libvirt.virDomain) -> dict[str, str]:
    """Target device -> libvirt's device alias, from the live XML."""
    root = ET.fromstring(dom.XMLDesc(0))
    found: dict[str, str] = {}
    for disk in root.iter("disk"):
        target, alias = disk.find("target"), disk.find("alias")
        if target is not None and alias is not None:
            found[target.get("dev", "")] = alias.get("name", "")
    return found


def take(dom: libvirt.virDomain, device: str, snapshot: str) -> None:
    """Idempotent: a snapshot of that name already on the disk is left as it is."""
    node = node_of(dom, device)
    try:
        _qmp(dom, "blockdev-snapshot-internal-sync", device=node, name=snapshot)
    except QmpError as err:
        if "already exists" not in str(err):
            raise


def take_all(dom: libvirt.virDomain, devices: list[str], snapshot: str) -> None:
    """One snapshot of every disk in ``devices``, at one instant: a QMP ``transaction``
    (all taken, or none). Idempotent: a transaction that ran already left the name on
    every disk, so a second one is refused as existing, which is success."""
    actions = [
        {
            "type": "blockdev-snapshot-internal-sync",
            "data": {"device": node_of(dom, d), "name": snapshot},
        }
        for d in devices
    ]
    try:
        _qmp(dom, "transaction", actions=actions)
    except QmpError as err:
        if "already exists" not in str(err):
            raise


def delete(dom: libvirt.virDomain, device: str, snapshot: str) -> None:
    """Idempotent: deleting a snapshot the disk has not got succeeds."""
    node = node_of(dom, device)
    try:
        _qmp(dom, "blockdev-snapshot-delete-internal-sync", device=node, name=snapshot)
    except QmpError as err:
        if "does not exist" not in str(err) and "not found" not in str(err).lower():
            raise


def _hmp(dom: libvirt.virDomain, command: str) -> str:
    """A human-monitor command (``savevm`` and friends have no QMP twin before QEMU's
    snapshot-* jobs); its output, which is where HMP reports a failure."""
    flag = libvirt_qemu.VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP
    try:
        return str(libvirt_qemu.qemuMonitorCommand(dom, command, flag)).strip()
    except libvirt.libvirtError as err:
        raise QmpError(str(err)) from err


def vm_snapshots(dom: libvirt.virDomain) -> dict[str, int]:
    """The VM's whole-machine snapshots (loadable: on every disk, with its memory): tag ->
    VM state bytes. One disk's own snapshots (a live backup's) are listed apart, as
    partial, by QEMU: they are not these."""
    return _listed(dom)[0]


def _listed(dom: libvirt.virDomain) -> tuple[dict[str, int], set[str]]:
    """The whole-machine snapshots (tag -> VM state bytes), and the tags QEMU lists as
    partial: on some of the disks only."""
    whole: dict[str, int] = {}
    partial: set[str] = set()
    in_whole = False
    for line in _hmp(dom, "info snapshots").splitlines():
        if line.startswith("List of"):
            in_whole = "present on all disks" in line
            continue
        parts = line.split()
        # ID TAG VM-SIZE UNIT DATE TIME VM-CLOCK [ICOUNT]; the ID is "--" when it differs
        # from disk to disk.
        if len(parts) >= 4 and (parts[0].isdigit() or parts[0] == "--"):
            if in_whole:
                whole[parts[1]] = _size(parts[2], parts[3])
            else:
                partial.add(parts[1])
    return whole, partial


def _size(value: str, unit: str) -> int:
    units = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}
    try:
        return int(float(value) * units.get(unit, 1))
    except ValueError:
        return 0


def save_vm(dom: libvirt.virDomain, tag: str) -> None:
    """Every disk's internal snapshot ``tag`` plus the VM's memory and device state (in
    the first disk). Idempotent: an existing snapshot of that tag is left as it is."""
    if tag in vm_snapshots(dom):
        return
    out = _hmp(dom, f"savevm {tag}")
    if out or tag not in vm_snapshots(dom):
        raise QmpError(f"QEMU could not save the VM as {tag}: {out or 'no snapshot made'}")


def load_vm(dom: libvirt.virDomain, tag: str) -> None:
    """The running VM back at snapshot ``tag``: its disks, memory and devices."""
    if tag not in vm_snapshots(dom):
        raise HypervisorError(f"the VM has no snapshot {tag} with its memory")
    out = _hmp(dom, f"loadvm {tag}")
    if out:
        raise QmpError(f"QEMU could not load snapshot {tag}: {out}")


def delete_vm(dom: libvirt.virDomain, tag: str) -> None:
    """``tag`` off every disk that has it (a snapshot left on some disks only, by a
    failed take, too). Idempotent: deleting a snapshot the VM has not got succeeds."""
    whole, partial = _listed(dom)
    if tag not in whole and tag not in partial:
        return
    out = _hmp(dom, f"delvm {tag}")
    if out:
        raise QmpError(f"QEMU could not delete snapshot {tag}: {out}")
