"""The real libvirt + QEMU host for tests: availability, unique names, guaranteed clean-up.

Tests that need ``qemu:///system`` skip with the reason (and the command that fixes it)
when the host is not prepared, unless ``STRATO_REQUIRE_LIBVIRT=1`` (CI sets it): then
they fail, so CI can never pass by skipping the real driver.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pytest

from tests.helpers import LAB_ROOT, TINY_GUEST

QEMU_URI = "qemu:///system"
GUEST_CMDLINE = "console=ttyS0 quiet panic=-1"
REQUIRE = os.environ.get("STRATO_REQUIRE_LIBVIRT") == "1"
STRATO_NS = "https://strato.cloud/xmlns/vm/1"


def unavailable(reason: str) -> NoReturn:
    if REQUIRE:
        pytest.fail(f"STRATO_REQUIRE_LIBVIRT=1 but {reason}")
    pytest.skip(reason)


def libvirt_module() -> Any:
    try:
        import libvirt
    except ImportError:
        unavailable("libvirt-python is not installed (scripts/libvirt-host install; make test)")
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)  # errors are raised anyway
    return libvirt


def qemu_connection() -> Any:
    libvirt = libvirt_module()
    try:
        return libvirt.open(QEMU_URI)
    except libvirt.libvirtError as err:
        unavailable(f"{QEMU_URI} is unreachable ({err}); run scripts/libvirt-host start")


@dataclass
class Lab:
    """One test's corner of the shared host: a name prefix and a directory (o+x, so QEMU
    running as libvirt-qemu can open files in it). ``cleanup`` removes every domain the
    test made, by name prefix or by the Strato host named in its metadata."""

    prefix: str
    dir: Path
    conn: Any
    kernel: str = str(TINY_GUEST / "vmlinuz")
    initrd: str = str(TINY_GUEST / "initrd.img")
    extra_names: set[str] = field(default_factory=set)

    def host(self, n: int = 1) -> str:
        return f"{self.prefix}-h{n}"

    def domains(self) -> list[Any]:
        mine = []
        for dom in self.conn.listAllDomains(0):
            host = ""
            with contextlib.suppress(Exception):
                meta = dom.metadata(2, STRATO_NS, 0)  # VIR_DOMAIN_METADATA_ELEMENT
                host = ET.fromstring(meta).findtext("host") or ""
            name = dom.name()
            ours = name.startswith(self.prefix) or host.startswith(self.prefix)
            if ours or name in self.extra_names:
                mine.append(dom)
        return mine

    def cleanup(self) -> list[str]:
        left = []
        for dom in self.domains():
            left.append(dom.name())
            with contextlib.suppress(Exception):
                dom.destroy()
            with contextlib.suppress(Exception):
                dom.undefineFlags(1 | 2 | 4)
        shutil.rmtree(self.dir, ignore_errors=True)
        return left


@pytest.fixture
def host_dir() -> Iterator[Path]:
    """A directory QEMU could reach (under LAB_ROOT, 0711 down the way), for a test's
    pools; removed afterwards."""
    LAB_ROOT.mkdir(parents=True, exist_ok=True)
    os.chmod(LAB_ROOT, 0o711)
    d = LAB_ROOT / f"stt{uuid.uuid4().hex[:8]}"
    d.mkdir(mode=0o711)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def lab() -> Any:
    conn = qemu_connection()
    if not (TINY_GUEST / "vmlinuz").exists():
        unavailable(f"the tiny guest is not built in {TINY_GUEST} (run scripts/tiny-guest)")
    prefix = f"stt{uuid.uuid4().hex[:8]}"
    root = LAB_ROOT
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o711)
    d = root / prefix
    d.mkdir(mode=0o711)
    os.chmod(d, 0o711)
    the_lab = Lab(prefix=prefix, dir=d, conn=conn)
    try:
        yield the_lab
    finally:
        the_lab.cleanup()
        conn.close()


async def wait_console(path: Path | str, marker: str, count: int = 1, timeout: float = 60) -> str:
    """Wait until ``marker`` appears ``count`` times in a serial console log."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        with contextlib.suppress(FileNotFoundError):
            text = await asyncio.to_thread(Path(path).read_text, errors="replace")
            if text.count(marker) >= count:
                return text
        await asyncio.sleep(0.2)
    raise AssertionError(f"{marker!r} x{count} not on {path} within {timeout}s; log:\n{text}")


async def rfb_banner(host: str, port: int) -> bytes:
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5)
    try:
        return await asyncio.wait_for(reader.readexactly(12), 5)
    finally:
        writer.close()


def qemu_io(path: str, command: str) -> subprocess.CompletedProcess[str]:
    """Run one qemu-io command on a qcow2 image (not in use by a running guest)."""
    return subprocess.run(
        ["qemu-io", "-f", "qcow2", "-c", command, path], capture_output=True, text=True
    )


def write_pattern(path: str, pattern: int, offset: int = 0, length: int = 64 << 10) -> None:
    done = qemu_io(path, f"write -P {pattern:#x} {offset} {length}")
    assert done.returncode == 0, done.stderr


def holds_pattern(path: str, pattern: int, offset: int = 0, length: int = 64 << 10) -> bool:
    done = qemu_io(path, f"read -P {pattern:#x} {offset} {length}")
    return done.returncode == 0 and "verification failed" not in done.stdout
