"""The libvirt driver's connection and host: one connection per driver, reopened when
libvirtd goes away; every blocking libvirt call on the driver's own thread pool; libvirt's
event loop (one daemon thread per process) delivering lifecycle and reboot events; and what
the host has (facts, capabilities)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import libvirt

import strato.drivers.hostfs as hostfs
from strato.domain.fabric.payloads import HostFacts
from strato.domain.paths import DEFAULT_IMAGE_ROOTS, DEFAULT_POOL_ROOTS, PathRefused
from strato.drivers.hypervisor.base import (
    HypervisorDriver,
    HypervisorError,
    HypervisorUnreachable,
    NotBootable,
    VmNotFound,
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


class LibvirtConnection(HypervisorDriver):
    """Connection, events and host facts; the VM calls build on it."""

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
        image_roots: Sequence[str] = (DEFAULT_IMAGE_ROOTS,),
        pool_roots: Sequence[str] = (DEFAULT_POOL_ROOTS,),
    ) -> None:
        self.host_name = host_name
        # Kernels and initrds only from under the image roots, disks only from under the
        # pool roots (strato/drivers/hostfs.py): a spec cannot point a guest at any host file.
        self.image_roots = tuple(image_roots)
        self.pool_roots = tuple(pool_roots)
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

    def _allowed(self, path: str, what: str, *, image: bool) -> str:
        """``path`` resolved, if a guest may read it here (:mod:`strato.drivers.hostfs`): an image
        (kernel, initrd) under the image roots and outside the pools, or a disk under the
        pool roots. NotBootable (permanent) otherwise."""
        try:
            if image:
                return hostfs.allowed_file(
                    path,
                    roots=self.image_roots,
                    not_in=self.pool_roots,
                    what=what,
                    setting="STRATO_IMAGE_ROOTS",
                )
            return hostfs.allowed_file(
                path, roots=self.pool_roots, not_in=(), what=what, setting="STRATO_POOL_ROOTS"
            )
        except PathRefused as err:
            raise NotBootable(f"{err} (on {self.host_name})") from err

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
            "online_resize": real,
            "live_disk_snapshot": real,
            "live_scale": False,
            "snapshot_memory": real,
            "live_block_copy": real,
            "iso_media": real,
            "migration": real,
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


@functools.cache
def _cpu_has_virtualization() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "vmx" in flags or "svm" in flags


def _version(v: int) -> str:
    return f"{v // 1_000_000}.{v // 1000 % 1000}.{v % 1000}"
