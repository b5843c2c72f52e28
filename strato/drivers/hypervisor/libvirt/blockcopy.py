"""Live disk moves: the running guest's QEMU mirrors one disk into a file prepared on
another pool (libvirt ``blockCopy``, reusing that file: with ``shallow`` only the top
layer, the file having its own backing chain there), and pivots to it once the mirror is
in step; the guest never stops. Internal snapshots stay in the old file (the caller
refuses to move a disk that has any).

Idempotent: a disk already on ``dest`` is done; a mirror already running (a retried step
after the agent died) is waited for rather than started again.
"""

from __future__ import annotations

import contextlib
import time
import xml.etree.ElementTree as ET

import libvirt

from strato.drivers.hypervisor.base import HypervisorError, MoveUncertain

POLL_S = 0.1


def _disk(dom: libvirt.virDomain, device: str) -> ET.Element:
    root = ET.fromstring(dom.XMLDesc(0))
    for disk in root.iter("disk"):
        target = disk.find("target")
        if target is not None and target.get("dev") == device and disk.get("device") == "disk":
            return disk
    raise HypervisorError(f"the running domain has no disk at {device}")


def _source(disk: ET.Element) -> str:
    source = disk.find("source")
    return (source.get("file") or "") if source is not None else ""


def _mirror(dom: libvirt.virDomain, device: str) -> ET.Element | None:
    return _disk(dom, device).find("mirror")


def _copy_xml(dest: str) -> str:
    disk = ET.Element("disk", type="file", device="disk")
    ET.SubElement(disk, "source", file=dest)
    ET.SubElement(disk, "driver", name="qemu", type="qcow2")
    return ET.tostring(disk, encoding="unicode")


def move(
    dom: libvirt.virDomain, device: str, dest: str, *, shallow: bool, timeout_s: float
) -> None:
    """The running guest's disk at ``device`` served from ``dest`` (prepared by its pool:
    the right size, and with ``shallow`` the same backing content), its data copied
    there first; a persistent domain's definition names ``dest`` too. Raises
    HypervisorError with the mirror abandoned and the guest still on its old file, or
    MoveUncertain when it is on neither."""
    old = _source(_disk(dom, device))
    if old == dest:
        _persist(dom, device, dest)
        return
    if _mirror(dom, device) is None:
        flags = (
            libvirt.VIR_DOMAIN_BLOCK_COPY_REUSE_EXT | libvirt.VIR_DOMAIN_BLOCK_COPY_TRANSIENT_JOB
        )
        if shallow:
            flags |= libvirt.VIR_DOMAIN_BLOCK_COPY_SHALLOW
        try:
            dom.blockCopy(device, _copy_xml(dest), None, flags)
        except libvirt.libvirtError as err:
            raise HypervisorError(f"QEMU could not start copying {device}: {err}") from err
    try:
        _wait_ready(dom, device, time.monotonic() + timeout_s)
        dom.blockJobAbort(device, libvirt.VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT)
    except (libvirt.libvirtError, HypervisorError) as err:
        # The pivot may have happened (an earlier attempt's, or this one's before its
        # error): where the disk is decides, not the error.
        if _source(_disk(dom, device)) != dest:
            _abandon(dom, device)
            _still_on(dom, device, old, dest)
            raise HypervisorError(f"the live copy of {device} to {dest} failed: {err}") from err
    _still_on(dom, device, dest, dest)
    _persist(dom, device, dest)


def _still_on(dom: libvirt.virDomain, device: str, expected: str, dest: str) -> None:
    now = _source(_disk(dom, device))
    if now != expected:
        raise MoveUncertain(f"{device} is served from {now!r}, neither its old file nor {dest}")


def _persist(dom: libvirt.virDomain, device: str, dest: str) -> None:
    """A persistent domain's stored definition names the new file too (a pivot changes
    the running domain only)."""
    if not dom.isPersistent():
        return
    root = ET.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    for disk in root.iter("disk"):
        target, source = disk.find("target"), disk.find("source")
        if target is not None and target.get("dev") == device and source is not None:
            if source.get("file") == dest:
                return
            source.set("file", dest)
            dom.connect().defineXML(ET.tostring(root, encoding="unicode"))
            return


def _wait_ready(dom: libvirt.virDomain, device: str, deadline: float) -> None:
    while True:
        mirror = _mirror(dom, device)
        if mirror is None:
            raise HypervisorError("the copy ended before it was in step (or was pivoted)")
        if mirror.get("ready") == "yes":
            return
        if time.monotonic() > deadline:
            raise HypervisorError("the copy did not get in step in time")
        time.sleep(POLL_S)


def _abandon(dom: libvirt.virDomain, device: str) -> None:
    """Stop a mirror that will not be pivoted to; the guest keeps its old file."""
    if _mirror(dom, device) is None:
        return
    with contextlib.suppress(libvirt.libvirtError):  # it ended on its own meanwhile
        dom.blockJobAbort(device, 0)
