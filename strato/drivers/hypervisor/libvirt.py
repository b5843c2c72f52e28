"""The libvirt hypervisor driver: QEMU (KVM or TCG) through ``qemu:///system``, and
libvirt's ``test:///`` driver for fast contract tests.

Every libvirt call is blocking, so each runs on this driver's own thread pool, never on the
event loop. libvirt's default event loop runs on one daemon thread per process: it keeps
connections alive (a dead libvirtd is noticed) and delivers domain lifecycle and reboot
events, which feed ``on_change`` and ``reboot_vm``.

Domains are named by the caller (``strato-<vm uuid>``) and carry Strato metadata (host,
VM name, owner) in ``<metadata>``, so the agent can tell its domains from anybody else's.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import libvirt

from strato.domain.compute.specs import (
    ConsoleInfo,
    DiskSpec,
    NicSpec,
    PowerState,
    VmPowerInfo,
    VmSpec,
    VmStats,
)
from strato.domain.fabric.payloads import HostFacts
from strato.drivers.hypervisor.base import (
    HypervisorDriver,
    HypervisorError,
    HypervisorUnreachable,
    NotBootable,
    VmNotFound,
)
from strato.drivers.hypervisor.libvirt_xml import (
    STRATO_NS,
    disk_element,
    domain_xml,
    nic_element,
    read_spec,
)

T = TypeVar("T")

_EVENT_LOOP_LOCK = threading.Lock()
_EVENT_LOOP_STARTED = False

# libvirt silently prints every error to stderr unless a handler is installed.
libvirt.registerErrorHandler(lambda _ctx, _err: None, None)


def _ensure_event_loop() -> None:
    """libvirt's event loop must be registered before the first connection opens."""
    global _EVENT_LOOP_STARTED
    with _EVENT_LOOP_LOCK:
        if _EVENT_LOOP_STARTED:
            return
        libvirt.virEventRegisterDefaultImpl()

        def run() -> None:
            while True:
                libvirt.virEventRunDefaultImpl()

        threading.Thread(target=run, name="libvirt-events", daemon=True).start()
        _EVENT_LOOP_STARTED = True


def _code(err: libvirt.libvirtError) -> int:
    return int(err.get_error_code() or 0)


_NOT_FOUND = {libvirt.VIR_ERR_NO_DOMAIN}
_CONNECTION_LOST = {libvirt.VIR_ERR_SYSTEM_ERROR, libvirt.VIR_ERR_INTERNAL_ERROR}

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


class LibvirtHypervisor(HypervisorDriver):
    name = "libvirt"

    def __init__(
        self,
        host_name: str,
        *,
        uri: str = "qemu:///system",
        console_dir: str = "/var/lib/strato/console",
        vnc_listen: str = "127.0.0.1",
        vnc_address: str | None = None,
        domain_type: str = "auto",
        bridge: str = "",
        tcg_cache_mb: int = 32,
        reboot_timeout_s: float = 20.0,
        detach_timeout_s: float = 15.0,
    ) -> None:
        self.host_name = host_name
        self.uri = uri
        self.console_dir = Path(console_dir)
        self.vnc_listen = vnc_listen
        # Where clients reach VNC: the listen address unless it is a wildcard.
        self.vnc_address = vnc_address or (
            vnc_listen if vnc_listen not in ("0.0.0.0", "::") else host_name
        )
        self.domain_type_setting = domain_type
        # Guest NICs attach here until the network agent gives each network its own bridge;
        # empty means QEMU user-mode networking (no host setup at all).
        self.bridge = bridge
        self.tcg_cache_mb = tcg_cache_mb
        self.reboot_timeout_s = reboot_timeout_s
        self.detach_timeout_s = detach_timeout_s
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix=f"libvirt-{host_name}")
        self._conn: libvirt.virConnect | None = None
        self._conn_lock = threading.Lock()
        self._callbacks: list[tuple[asyncio.AbstractEventLoop, Callable[[str], None]]] = []
        self._reboots: dict[str, int] = {}
        self._event_ids: list[int] = []
        self._closed = False

    # -- plumbing -------------------------------------------------------------------------

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._closed:
            raise HypervisorError(f"the libvirt driver for {self.host_name} is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args))

    def _connect(self) -> libvirt.virConnect:
        """The open connection, reopened if libvirtd went away."""
        with self._conn_lock:
            if self._conn is not None:
                try:
                    if self._conn.isAlive():
                        return self._conn
                except libvirt.libvirtError:
                    pass
                self._drop_connection()
            _ensure_event_loop()
            try:
                conn = libvirt.open(self.uri)
            except libvirt.libvirtError as err:
                raise HypervisorUnreachable(
                    f"cannot connect to libvirt at {self.uri}: {err.get_error_message()}"
                ) from err
            if conn is None:  # pragma: no cover - old bindings returned None
                raise HypervisorUnreachable(f"cannot connect to libvirt at {self.uri}")
            with contextlib.suppress(libvirt.libvirtError):
                conn.setKeepAlive(5, 3)
            self._event_ids = [
                conn.domainEventRegisterAny(
                    None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, self._on_lifecycle, None
                ),
                conn.domainEventRegisterAny(
                    None, libvirt.VIR_DOMAIN_EVENT_ID_REBOOT, self._on_reboot, None
                ),
            ]
            self._conn = conn
            return conn

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        for eid in self._event_ids:
            with contextlib.suppress(libvirt.libvirtError):
                conn.domainEventDeregisterAny(eid)
        self._event_ids = []
        with contextlib.suppress(libvirt.libvirtError):
            conn.close()

    def _call(self, fn: Callable[[libvirt.virConnect], T]) -> T:
        """Run ``fn`` with a live connection; reconnect once if the connection broke."""
        try:
            return fn(self._connect())
        except libvirt.libvirtError as err:
            if _code(err) not in _CONNECTION_LOST or self._alive():
                raise
        with self._conn_lock:
            self._drop_connection()
        return fn(self._connect())

    def _alive(self) -> bool:
        try:
            return self._conn is not None and bool(self._conn.isAlive())
        except libvirt.libvirtError:
            return False

    def _on_lifecycle(self, _conn: Any, dom: Any, _event: int, _detail: int, _opaque: Any) -> None:
        self._notify(dom.name())

    def _on_reboot(self, _conn: Any, dom: Any, _opaque: Any) -> None:
        name = dom.name()
        self._reboots[name] = self._reboots.get(name, 0) + 1
        self._notify(name)

    def _notify(self, name: str) -> None:
        for loop, cb in list(self._callbacks):
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody listens
                loop.call_soon_threadsafe(cb, name)

    def on_change(self, callback: Callable[[str], None]) -> None:
        self._callbacks.append((asyncio.get_running_loop(), callback))

    def _is_test(self, conn: libvirt.virConnect) -> bool:
        return str(conn.getType()).upper() == "TEST"

    def _lookup(self, conn: libvirt.virConnect, name: str) -> libvirt.virDomain:
        try:
            return conn.lookupByName(name)
        except libvirt.libvirtError as err:
            if _code(err) in _NOT_FOUND:
                raise VmNotFound(f"VM {name} is not defined on {self.host_name}") from err
            raise

    def _find(self, conn: libvirt.virConnect, name: str) -> libvirt.virDomain | None:
        try:
            return self._lookup(conn, name)
        except VmNotFound:
            return None

    # -- contract -------------------------------------------------------------------------

    @property
    def capabilities(self) -> Mapping[str, bool]:
        # Decided by the URI, without a libvirt call (this is read on the event loop):
        # libvirt's test driver cannot hot-plug or give consoles.
        real = not self.uri.startswith("test:")
        return {
            "hotplug_disk": real,
            "hotplug_nic": real,
            "live_scale": False,
            "snapshot_memory": False,
            "migration": False,
            "console": real,
        }

    def _domain_type(self, conn: libvirt.virConnect) -> str:
        if self.domain_type_setting != "auto":
            return self.domain_type_setting
        if self._is_test(conn):
            return "test"
        # KVM only when libvirt offers it *and* the CPU has virtualization extensions:
        # nested hosts without vmx/svm expose a /dev/kvm whose guests never boot.
        caps = str(conn.getCapabilities())
        return "kvm" if "type='kvm'" in caps and _cpu_has_virtualization() else "qemu"

    async def host_facts(self) -> HostFacts:
        def facts(conn: libvirt.virConnect) -> HostFacts:
            _model, memory_mb, cpus, mhz, _nodes, sockets, _cores, _threads = conn.getInfo()
            version = int(conn.getVersion())
            kind = str(conn.getType())
            dtype = self._domain_type(conn)
            accel = {"kvm": "KVM", "qemu": "TCG", "test": "test"}.get(dtype, dtype)
            return HostFacts(
                hypervisor="kvm",
                hypervisor_version=(
                    f"{kind} {version // 1_000_000}.{version // 1000 % 1000}.{version % 1000}"
                    f" ({accel}), libvirt {_version(int(conn.getLibVersion()))}"
                ),
                cpu_sockets=max(int(sockets), 1),
                cpu_cores=int(cpus),
                cpu_speed_mhz=int(mhz),
                memory_total_mb=int(memory_mb),
                capabilities=dict(self.capabilities),
            )

        return await self._run(self._call, facts)

    def _check_bootable(self, spec: VmSpec) -> None:
        files = [("kernel", spec.boot.kernel), ("initrd", spec.boot.initrd)]
        files += [(f"disk {d.device}", d.path) for d in spec.disks]
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
            if file is not None and not self._is_test(conn) and not os.access(file, os.R_OK):
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
            await asyncio.sleep(0.2)
        raise HypervisorError(
            f"the guest of {name} did not release {what} within {self.detach_timeout_s:g}s"
        )

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

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._callbacks.clear()

        def drop() -> None:
            with self._conn_lock:
                self._drop_connection()

        await asyncio.get_running_loop().run_in_executor(self._pool, drop)
        self._pool.shutdown(wait=False)


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


@functools.cache
def _cpu_has_virtualization() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "vmx" in flags or "svm" in flags


def _version(v: int) -> str:
    return f"{v // 1_000_000}.{v // 1000 % 1000}.{v % 1000}"


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
