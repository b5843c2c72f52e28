"""The libvirt driver's VM lifecycle: define, start, stop, reboot, suspend, resume, scale,
undefine, and what a domain is (power state, listing, spec, stats, console)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import libvirt

from strato.domain.compute.specs import (
    ConsoleInfo,
    PowerState,
    VmPowerInfo,
    VmSpec,
    VmStats,
)
from strato.drivers.hypervisor.base import (
    HypervisorError,
    NotBootable,
)
from strato.drivers.hypervisor.libvirt.connection import (
    _NOT_FOUND,
    LibvirtConnection,
    _code,
)
from strato.drivers.hypervisor.libvirt.domxml import (
    STRATO_NS,
    domain_xml,
    read_spec,
)

_POWER = {
    libvirt.VIR_DOMAIN_NOSTATE: PowerState.RUNNING,
    libvirt.VIR_DOMAIN_RUNNING: PowerState.RUNNING,
    libvirt.VIR_DOMAIN_BLOCKED: PowerState.RUNNING,
    libvirt.VIR_DOMAIN_SHUTDOWN: PowerState.RUNNING,  # shutting down, still running
    libvirt.VIR_DOMAIN_PAUSED: PowerState.PAUSED,
    libvirt.VIR_DOMAIN_PMSUSPENDED: PowerState.PAUSED,
    libvirt.VIR_DOMAIN_SHUTOFF: PowerState.STOPPED,
    libvirt.VIR_DOMAIN_CRASHED: PowerState.STOPPED,
}


class LibvirtLifecycle(LibvirtConnection):
    def _check_bootable(self, spec: VmSpec) -> None:
        """Every file the guest would read: allowed (kernels and initrds under the image
        roots and outside the pools, disks under the pool roots, no devices, symlinks
        resolved) and readable. NotBootable (permanent) otherwise."""
        images = [("kernel", spec.boot.kernel), ("initrd", spec.boot.initrd)]
        for what, path in images:
            if path:
                self._allowed(path, what, image=True)
        for d in spec.disks:
            self._allowed(d.path, f"disk {d.device}", image=False)
        files = [*images, *((f"disk {d.device}", d.path) for d in spec.disks)]
        if spec.cdrom:  # an ISO: a pool's copy of it, like a disk
            self._allowed(spec.cdrom, "cdrom", image=False)
            files.append(("cdrom", spec.cdrom))
        for what, path in files:
            if path and not os.access(path, os.R_OK):
                raise NotBootable(f"{what} {path} is missing or unreadable on {self.host_name}")
        if not spec.boot.kernel and not spec.disks:
            raise NotBootable(f"VM {spec.name} has neither a kernel nor a disk to boot from")

    async def define_vm(self, spec: VmSpec) -> None:
        def define(conn: libvirt.virConnect) -> None:
            test = self._is_test(conn)
            if not test:
                self._check_bootable(spec)
                self.console_dir.mkdir(parents=True, exist_ok=True)
            xml = domain_xml(
                spec,
                host_name=self.host_name,
                domain_type=self._domain_type(conn),
                console_log=None if test else str(self._console_log(spec.name)),
                vnc_listen=None if test else self.vnc_listen,
                tcg_cache_mb=self.tcg_cache_mb,
                bridge=self.bridge,
            )
            try:
                conn.defineXML(xml)
            except libvirt.libvirtError as err:
                raise HypervisorError(
                    f"libvirt refused the definition of {spec.name}: {err.get_error_message()}"
                ) from err

        await self._run(self._call, define)

    def _console_log(self, name: str) -> Path:
        return self.console_dir / f"{name}.log"

    async def start_vm(self, name: str) -> None:
        def start(conn: libvirt.virConnect) -> None:
            dom = self._lookup(conn, name)
            if dom.isActive():
                if dom.state()[0] == libvirt.VIR_DOMAIN_PAUSED:
                    dom.resume()
                return
            try:
                dom.create()
            except libvirt.libvirtError as err:
                if _code(err) == libvirt.VIR_ERR_OPERATION_INVALID and dom.isActive():
                    return  # started concurrently: the post-condition holds
                raise HypervisorError(f"{name} did not start: {err.get_error_message()}") from err

        await self._run(self._call, start)

    async def stop_vm(self, name: str, *, timeout_s: float = 30.0, force: bool = False) -> bool:
        def request(conn: libvirt.virConnect) -> bool | None:
            dom = self._find(conn, name)
            if dom is None or not dom.isActive():
                return True
            if force or self._is_test(conn):
                self._destroy(dom)
                return not force
            try:
                dom.shutdownFlags(libvirt.VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN)
            except libvirt.libvirtError as err:
                if _code(err) != libvirt.VIR_ERR_OPERATION_INVALID:
                    raise
            return None

        done = await self._run(self._call, request)
        if done is not None:
            return bool(done)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if await self.power_state(name) in (PowerState.STOPPED, PowerState.MISSING):
                return True
            await asyncio.sleep(0.2)

        def destroy(conn: libvirt.virConnect) -> None:
            dom = self._find(conn, name)
            if dom is not None:
                self._destroy(dom)

        await self._run(self._call, destroy)
        return False

    @staticmethod
    def _destroy(dom: libvirt.virDomain) -> None:
        try:
            dom.destroy()
        except libvirt.libvirtError as err:
            if _code(err) != libvirt.VIR_ERR_OPERATION_INVALID:  # already off
                raise

    async def reboot_vm(self, name: str) -> None:
        def request(conn: libvirt.virConnect) -> int | None:
            dom = self._lookup(conn, name)
            if not dom.isActive():
                dom.create()
                return None
            if self._is_test(conn):
                dom.reboot(0)
                return None
            before = self._reboots.get(name, 0)
            dom.reboot(libvirt.VIR_DOMAIN_REBOOT_ACPI_POWER_BTN)
            return before

        before = await self._run(self._call, request)
        if before is None:
            return
        deadline = time.monotonic() + self.reboot_timeout_s
        while time.monotonic() < deadline:
            if self._reboots.get(name, 0) > before:
                return
            await asyncio.sleep(0.1)

        # The guest ignored the request: reset it, like pressing the reset button.
        def reset(conn: libvirt.virConnect) -> None:
            self._lookup(conn, name).reset(0)

        await self._run(self._call, reset)

    async def suspend_vm(self, name: str) -> None:
        def suspend(conn: libvirt.virConnect) -> None:
            dom = self._lookup(conn, name)
            state = dom.state()[0]
            if state == libvirt.VIR_DOMAIN_PAUSED:
                return
            if not dom.isActive():
                raise HypervisorError(f"{name} is not running; only a running VM can be paused")
            dom.suspend()

        await self._run(self._call, suspend)

    async def resume_vm(self, name: str) -> None:
        def resume(conn: libvirt.virConnect) -> None:
            dom = self._lookup(conn, name)
            if dom.state()[0] == libvirt.VIR_DOMAIN_PAUSED:
                dom.resume()

        await self._run(self._call, resume)

    async def scale_vm(self, name: str, cpu_count: int, memory_mb: int) -> None:
        def scale(conn: libvirt.virConnect) -> None:
            dom = self._lookup(conn, name)
            xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
            spec = read_spec(xml)
            if spec.cpu_count == cpu_count and spec.memory_mb == memory_mb:
                return
            if dom.isActive():
                self.require("live_scale", f"changing the size of running VM {name}")
            root = ET.fromstring(xml)
            for tag in ("memory", "currentMemory"):
                el = root.find(tag)
                if el is not None:
                    el.text = str(memory_mb * 1024)
                    el.set("unit", "KiB")
            vcpu = root.find("vcpu")
            if vcpu is not None:
                vcpu.text = str(cpu_count)
                vcpu.attrib.pop("current", None)
            conn.defineXML(ET.tostring(root, encoding="unicode"))

        await self._run(self._call, scale)

    async def undefine_vm(self, name: str) -> None:
        def undefine(conn: libvirt.virConnect) -> None:
            dom = self._find(conn, name)
            if dom is not None:
                if dom.isActive():
                    self._destroy(dom)
                flags = (
                    libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
                    | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
                )
                if not self._is_test(conn):  # the test driver rejects the NVRAM flag
                    flags |= libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
                try:
                    dom.undefineFlags(flags)
                except libvirt.libvirtError as err:
                    if _code(err) not in _NOT_FOUND:
                        raise
            with contextlib.suppress(FileNotFoundError):
                self._console_log(name).unlink()

        await self._run(self._call, undefine)

    async def power_state(self, name: str) -> PowerState:
        def state(conn: libvirt.virConnect) -> PowerState:
            dom = self._find(conn, name)
            if dom is None:
                return PowerState.MISSING
            return _POWER.get(dom.state()[0], PowerState.RUNNING)

        return await self._run(self._call, state)

    async def list_vms(self) -> list[VmPowerInfo]:
        def listing(conn: libvirt.virConnect) -> list[VmPowerInfo]:
            result = []
            for dom in conn.listAllDomains(0):
                try:
                    owner = _metadata_host(dom)
                    if owner is not None and owner != self.host_name:
                        continue  # another Strato agent's domain on a shared libvirtd
                    info = VmPowerInfo(
                        name=dom.name(),
                        uuid=dom.UUIDString(),
                        power=_POWER.get(dom.state()[0], PowerState.RUNNING),
                        managed=owner is not None,
                    )
                except libvirt.libvirtError as err:
                    if _code(err) in _NOT_FOUND:
                        continue  # undefined while we listed: it is not there
                    raise
                result.append(info)
            return sorted(result, key=lambda v: v.name)

        return await self._run(self._call, listing)

    async def vm_spec(self, name: str) -> VmSpec:
        def spec(conn: libvirt.virConnect) -> VmSpec:
            return read_spec(self._lookup(conn, name).XMLDesc(0))

        return await self._run(self._call, spec)

    async def stats(self, name: str) -> VmStats:
        def stats(conn: libvirt.virConnect) -> VmStats:
            dom = self._lookup(conn, name)
            _state, _max_kib, mem_kib, vcpus, cpu_time = dom.info()
            result = VmStats(cpu_time_ns=int(cpu_time), vcpus=int(vcpus), memory_mb=mem_kib // 1024)
            if not dom.isActive():
                return result
            root = ET.fromstring(dom.XMLDesc(0))
            for target in root.findall("devices/disk/target"):
                with contextlib.suppress(libvirt.libvirtError):
                    _rq, rd, _wq, wr, _errs = dom.blockStats(target.get("dev", ""))
                    result.disk_read_bytes += int(rd)
                    result.disk_write_bytes += int(wr)
            for target in root.findall("devices/interface/target"):
                with contextlib.suppress(libvirt.libvirtError):
                    rx, _rp, _re, _rd, tx, _tp, _te, _td = dom.interfaceStats(target.get("dev"))
                    result.net_rx_bytes += int(rx)
                    result.net_tx_bytes += int(tx)
            return result

        return await self._run(self._call, stats)

    async def console(self, name: str) -> ConsoleInfo:
        self.require("console", "a console")

        def console(conn: libvirt.virConnect) -> ConsoleInfo:
            dom = self._lookup(conn, name)
            if not dom.isActive():
                raise HypervisorError(f"{name} is not running: it has no console")
            graphics = ET.fromstring(dom.XMLDesc(0)).find("devices/graphics[@type='vnc']")
            port = int(graphics.get("port", "-1")) if graphics is not None else -1
            if port <= 0:
                raise HypervisorError(f"{name} has no VNC console")
            log = self._console_log(name)
            return ConsoleInfo(
                host=self.vnc_address, port=port, serial_log=str(log) if log.exists() else None
            )

        return await self._run(self._call, console)


def _metadata_host(dom: libvirt.virDomain) -> str | None:
    """The Strato host named in the domain's metadata, or None if it has none."""
    try:
        xml = dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, STRATO_NS, 0)
    except libvirt.libvirtError as err:
        if _code(err) in _NOT_FOUND:
            raise
        return None
    host = ET.fromstring(xml).findtext("host")
    return host or ""
