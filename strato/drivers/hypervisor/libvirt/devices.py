"""The libvirt driver's devices: hot-plugging disks and NICs into a domain and waiting
until the guest lets a detached one go."""

from __future__ import annotations

import asyncio
import os
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable

import libvirt

from strato.domain.compute.specs import (
    DiskSpec,
    NicSpec,
    VmSpec,
)
from strato.drivers.hypervisor.base import (
    HypervisorError,
    NotBootable,
)
from strato.drivers.hypervisor.libvirt import blockcopy, migration, snapshots
from strato.drivers.hypervisor.libvirt.domxml import (
    cdrom_element,
    disk_element,
    nic_element,
    read_spec,
)
from strato.drivers.hypervisor.libvirt.lifecycle import LibvirtLifecycle

TRAY_ATTEMPTS = 60  # half a second apart: a slow (TCG, loaded) guest may take 30 s


class LibvirtHypervisor(LibvirtLifecycle):
    """The libvirt hypervisor driver (see :mod:`strato.drivers.hypervisor.libvirt`)."""

    def _change_device(
        self,
        conn: libvirt.virConnect,
        dom: libvirt.virDomain,
        device: ET.Element,
        *,
        attach: bool,
        capability: str,
        what: str,
    ) -> bool:
        """Add or remove ``device``; live too if the domain runs. Returns True if a live
        unplug was requested (the guest must still release the device)."""
        if not dom.isActive():
            # A stopped VM's definition is edited directly: works on every driver,
            # including libvirt's test driver, which has no device attach at all.
            root = ET.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
            devices = root.find("devices")
            assert devices is not None
            if attach:
                devices.append(device)
            else:
                for el in list(devices):
                    if _same_device(el, device):
                        devices.remove(el)
            conn.defineXML(ET.tostring(root, encoding="unicode"))
            return False
        self.require(capability, what)
        flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG | libvirt.VIR_DOMAIN_AFFECT_LIVE
        xml = ET.tostring(device, encoding="unicode")
        if attach:
            dom.attachDeviceFlags(xml, flags)
        else:
            dom.detachDeviceFlags(xml, flags)
        return not attach

    async def _attach(
        self,
        name: str,
        element: ET.Element,
        present: Callable[[VmSpec], bool],
        *,
        capability: str,
        what: str,
        file: str | None = None,
    ) -> None:
        """Attach ``element`` unless ``present`` says the VM already has it."""

        def attach(conn: libvirt.virConnect) -> None:
            dom = self._lookup(conn, name)
            if present(read_spec(dom.XMLDesc(0))):
                return
            if file is not None and not self._is_test(conn):
                self._allowed(file, "disk", image=False)
                if not os.access(file, os.R_OK):
                    raise NotBootable(f"disk {file} is missing or unreadable")
            self._change_device(
                conn,
                dom,
                element,
                attach=True,
                capability=capability,
                what=f"attaching {what} to running {name}",
            )

        await self._run(self._call, attach)

    async def _detach(
        self,
        name: str,
        element_of: Callable[[VmSpec], ET.Element | None],
        *,
        capability: str,
        what: str,
        label: str,
    ) -> None:
        """Detach the device ``element_of`` finds; a missing VM or device is success."""

        def detach(conn: libvirt.virConnect) -> bool:
            dom = self._find(conn, name)
            if dom is None:
                return False
            element = element_of(read_spec(dom.XMLDesc(0)))
            if element is None:
                return False
            return self._change_device(
                conn,
                dom,
                element,
                attach=False,
                capability=capability,
                what=f"detaching {what} from running {name}",
            )

        if await self._run(self._call, detach):
            await self._await_gone(name, lambda s: element_of(s) is not None, label)

    async def attach_disk(self, name: str, disk: DiskSpec) -> None:
        await self._attach(
            name,
            disk_element(disk),
            lambda s: any(d.device == disk.device for d in s.disks),
            capability="hotplug_disk",
            what="a disk",
            file=disk.path,
        )

    async def detach_disk(self, name: str, device: str) -> None:
        def element_of(spec: VmSpec) -> ET.Element | None:
            disk = next((d for d in spec.disks if d.device == device), None)
            return disk_element(disk) if disk is not None else None

        await self._detach(name, element_of, capability="hotplug_disk", what="a disk", label=device)

    async def resize_disk(self, name: str, device: str, size_bytes: int) -> None:
        def resize(conn: libvirt.virConnect) -> None:
            dom = self._lookup(conn, name)
            if not dom.isActive():
                raise HypervisorError(f"{name} is not running: resize its image on the pool")
            self.require("online_resize", f"resizing {device} of running {name}")
            if not any(d.device == device for d in read_spec(dom.XMLDesc(0)).disks):
                raise HypervisorError(f"{name} has no disk at {device}")
            # QEMU grows the image itself (the file is locked by the running guest).
            dom.blockResize(device, size_bytes, libvirt.VIR_DOMAIN_BLOCK_RESIZE_BYTES)

        await self._run(self._call, resize)

    async def snapshot_disk(self, name: str, device: str, snapshot: str) -> None:
        def run(conn: libvirt.virConnect) -> None:
            self.require("live_disk_snapshot", f"snapshotting {device} of running {name}")
            snapshots.take(self._running(conn, name), device, snapshot)

        await self._run(self._call, run)

    async def snapshot_disks(self, name: str, devices: list[str], snapshot: str) -> None:
        def run(conn: libvirt.virConnect) -> None:
            self.require("live_disk_snapshot", f"snapshotting the disks of running {name}")
            snapshots.take_all(self._running(conn, name), devices, snapshot)

        await self._run(self._call, run)

    async def delete_disk_snapshot(self, name: str, device: str, snapshot: str) -> None:
        def run(conn: libvirt.virConnect) -> None:
            self.require("live_disk_snapshot", f"deleting a snapshot of {device} of {name}")
            snapshots.delete(self._running(conn, name), device, snapshot)

        await self._run(self._call, run)

    async def change_media(self, name: str, path: str | None) -> None:
        def run(conn: libvirt.virConnect) -> None:
            self.require("iso_media", f"changing the CD-ROM of running {name}")
            dom = self._running(conn, name)
            root = ET.fromstring(dom.XMLDesc(0))
            if root.find("devices/disk[@device='cdrom']") is None:
                raise HypervisorError(
                    f"{name} has no CD-ROM drive (it was defined before VMs had one): "
                    "stop and start it"
                )
            if read_spec(dom.XMLDesc(0)).cdrom == path:
                return
            if path:
                self._allowed(path, "cdrom", image=False)
                if not os.access(path, os.R_OK):
                    raise NotBootable(f"ISO {path} is missing or unreadable on {self.host_name}")
            flags = libvirt.VIR_DOMAIN_AFFECT_LIVE | libvirt.VIR_DOMAIN_AFFECT_CONFIG
            xml = ET.tostring(cdrom_element(path), encoding="unicode")
            # QEMU opens the drive's tray before it swaps the medium; a guest that is just
            # booting may not have let it open yet ("Tray ... is not open"): ask again.
            for attempt in range(TRAY_ATTEMPTS):
                try:
                    dom.updateDeviceFlags(xml, flags)
                    return
                except libvirt.libvirtError as err:
                    message = str(err.get_error_message())
                    if "is not open" in message and attempt + 1 < TRAY_ATTEMPTS:
                        time.sleep(0.5)
                        continue
                    raise HypervisorError(
                        f"QEMU refused the CD-ROM change of {name}: {message}"
                    ) from err

        await self._run(self._call, run)

    async def snapshot_vm(self, name: str, snapshot: str) -> None:
        def run(conn: libvirt.virConnect) -> None:
            self.require("snapshot_memory", f"snapshotting running {name} with its memory")
            snapshots.save_vm(self._running(conn, name), snapshot)

        await self._run(self._call, run)

    async def revert_vm(self, name: str, snapshot: str) -> None:
        def run(conn: libvirt.virConnect) -> None:
            self.require("snapshot_memory", f"reverting running {name} to a snapshot")
            snapshots.load_vm(self._running(conn, name), snapshot)

        await self._run(self._call, run)

    async def delete_vm_snapshot(self, name: str, snapshot: str) -> None:
        def run(conn: libvirt.virConnect) -> None:
            self.require("snapshot_memory", f"deleting a snapshot of running {name}")
            snapshots.delete_vm(self._running(conn, name), snapshot)

        await self._run(self._call, run)

    async def move_disk(self, name: str, device: str, dest: str, *, shallow: bool) -> None:
        def run(conn: libvirt.virConnect) -> None:
            self.require("live_block_copy", f"moving {device} of running {name}")
            self._allowed(dest, f"the new file of {device}", image=False)
            blockcopy.move(
                self._running(conn, name), device, dest, shallow=shallow, timeout_s=4 * 3600
            )

        await self._run(self._call, run)

    async def migrate_vm(self, name: str, target_host: str, target_url: str) -> None:
        def run(conn: libvirt.virConnect) -> None:
            self.require("migration", "live migration")
            migration.migrate(conn, name, target_host, target_url)

        await self._run(self._call, run)

    def _running(self, conn: libvirt.virConnect, name: str) -> libvirt.virDomain:
        dom = self._lookup(conn, name)
        if not dom.isActive():
            raise HypervisorError(f"{name} is not running: its pool acts on its disks")
        return dom

    async def attach_nic(self, name: str, nic: NicSpec) -> None:
        await self._attach(
            name,
            nic_element(nic, self.bridge),
            lambda s: any(n.mac == nic.mac for n in s.nics),
            capability="hotplug_nic",
            what="a NIC",
        )

    async def detach_nic(self, name: str, mac: str) -> None:
        def element_of(spec: VmSpec) -> ET.Element | None:
            nic = next((n for n in spec.nics if n.mac == mac), None)
            return nic_element(nic, nic.bridge) if nic is not None else None

        await self._detach(name, element_of, capability="hotplug_nic", what="a NIC", label=mac)

    async def _await_gone(self, name: str, present: Callable[[VmSpec], bool], what: str) -> None:
        """Unplug needs the guest's cooperation (ACPI): wait until the device is gone."""
        deadline = time.monotonic() + self.detach_timeout_s
        while time.monotonic() < deadline:
            if not present(await self.vm_spec(name)):
                return
            # Short: the guest's release takes a few hundred ms under TCG, and every
            # poll is one XMLDesc (cheap); 0.2 s added 100 ms to a detach on average.
            await asyncio.sleep(0.05)
        raise HypervisorError(
            f"the guest of {name} did not release {what} within {self.detach_timeout_s:g}s"
        )


def _same_device(el: ET.Element, device: ET.Element) -> bool:
    """Is ``el`` (from a domain's XML) the disk or NIC that ``device`` describes?"""
    if el.tag != device.tag:
        return False
    if el.tag == "disk":
        target, want_target = el.find("target"), device.find("target")
        return (
            target is not None
            and want_target is not None
            and target.get("dev") == want_target.get("dev")
        )
    mac, want = el.find("mac"), device.find("mac")
    return mac is not None and want is not None and mac.get("address") == want.get("address")
