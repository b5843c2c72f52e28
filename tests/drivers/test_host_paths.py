"""Host paths refused on the host itself (issue #11, item 2), by the real drivers: the
qcow2 pool with qemu-img, and libvirt on qemu:///system. Paths are resolved (symlinks,
'..') before they are checked; devices, files inside the pool directories and anything
outside the allowed roots are refused with a permanent error, and nothing is made; a pool
directory QEMU cannot reach is refused without opening any directory on its way."""

from __future__ import annotations

import os
import stat
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from strato.domain.compute.specs import BootSpec, DiskSpec, VmSpec
from strato.domain.storage.specs import VolumeSpec
from strato.drivers.hypervisor.base import NotBootable
from strato.drivers.registry import load
from strato.drivers.storage.qcow2 import PoolUnusable, Qcow2PrimaryStorage, TemplateUnusable
from tests.helpers import TINY_GUEST
from tests.lab import Lab

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="makes device nodes / runs as root")


def _image(path: Path, size: str = "1M") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), size], check=True)
    return path


def _char_device(path: Path) -> Path:
    """A character device node like /dev/null, inside a directory we own."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 3))
    return path


def _pool(host_dir: Path, name: str = "p1", **kw: Any) -> Qcow2PrimaryStorage:
    kw.setdefault("image_roots", (str(host_dir / "images"),))
    kw.setdefault("pool_roots", (str(host_dir / "pools"),))
    kw.setdefault("path", f"file://{host_dir / 'pools' / name}")
    return Qcow2PrimaryStorage(name, **kw)


def _spec(template: str) -> VolumeSpec:
    return VolumeSpec(name=f"strato-vol-{uuid.uuid4()}", size_bytes=1 << 20, template_path=template)


async def test_a_template_inside_the_image_roots_backs_a_volume(host_dir: Path) -> None:
    template = _image(host_dir / "images" / "base.qcow2")
    pool = _pool(host_dir)
    vol = await pool.create_volume(_spec(f"file://{template}"))
    info = subprocess.run(
        ["qemu-img", "info", "--output=json", vol.path], capture_output=True, text=True
    )
    assert str(template) in info.stdout  # the real backing file


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda d: d / "images" / "shadow", id="symlink-out"),
        pytest.param(lambda d: d / "images" / ".." / "images" / "x.qcow2", id="dot-dot"),
        pytest.param(lambda d: d / "elsewhere" / "x.qcow2", id="outside"),
        pytest.param(lambda d: d / "pools" / "p2" / "disk.qcow2", id="in-a-pool"),
    ],
)
async def test_a_template_that_leads_outside_or_into_a_pool_is_refused(
    host_dir: Path, make: Any
) -> None:
    (host_dir / "images").mkdir()
    (host_dir / "images" / "shadow").symlink_to("/etc/shadow")
    _image(host_dir / "elsewhere" / "x.qcow2")
    _image(host_dir / "pools" / "p2" / "disk.qcow2")  # another pool's volume
    # image roots that contain the pool roots: only the pool rule keeps the disk out
    pool = _pool(host_dir, image_roots=(str(host_dir / "images"), str(host_dir / "pools")))
    with pytest.raises(TemplateUnusable) as err:
        await pool.create_volume(_spec(str(make(host_dir))))
    assert any(
        s in str(err.value)
        for s in ("leads to /etc/shadow", "'.', '..'", "outside the allowed", "inside the pool")
    ), err.value
    assert not list((host_dir / "pools" / "p1").glob("*.qcow2"))  # nothing was made


@root_only
async def test_a_device_as_template_is_refused(host_dir: Path) -> None:
    dev = _char_device(host_dir / "images" / "null")
    with pytest.raises(TemplateUnusable, match="is a device"):
        await _pool(host_dir).create_volume(_spec(str(dev)))


@pytest.mark.parametrize("where", ["outside", "symlink-out"])
async def test_a_pool_directory_outside_the_pool_roots_is_refused(
    host_dir: Path, where: str
) -> None:
    (host_dir / "pools").mkdir()
    if where == "outside":
        target = host_dir / "not-a-pool-root" / "p1"
        pool = _pool(host_dir, path=f"file://{target}")
    else:
        target = host_dir / "pools" / "p1"
        target.symlink_to("/etc")
        pool = _pool(host_dir)
    with pytest.raises(PoolUnusable):
        await pool.create_volume(VolumeSpec(name="strato-vol-x", size_bytes=1 << 20))
    with pytest.raises(PoolUnusable):
        await pool.list_volumes()
    assert not (host_dir / "not-a-pool-root").exists()
    assert not [n for n in os.listdir("/etc") if n.startswith("strato-vol-")]


@root_only
async def test_a_pool_qemu_cannot_reach_is_refused_and_no_mode_changes(tmp_path: Path) -> None:
    """pytest's own temporary directories are 0700: QEMU (libvirt-qemu) cannot pass. The
    old driver added o+x to every directory up to /; now nothing is opened."""
    try:
        import pwd

        pwd.getpwnam("libvirt-qemu")
    except KeyError:
        pytest.skip("no libvirt-qemu user on this machine")
    parents = [p for p in tmp_path.parents if p != Path("/")]
    before = {p: p.stat().st_mode for p in [tmp_path, *parents]}
    pool = Qcow2PrimaryStorage(
        "p1", path=f"file://{tmp_path / 'pool'}", pool_roots=(str(tmp_path),)
    )
    with pytest.raises(PoolUnusable, match=r"QEMU .* cannot reach"):
        await pool.create_volume(VolumeSpec(name="strato-vol-x", size_bytes=1 << 20))
    assert {p: p.stat().st_mode for p in before} == before


# -- libvirt on the real host -----------------------------------------------------------


def _driver(lab: Lab, images: Path) -> Any:
    return load("hypervisor", "libvirt")(
        lab.host(),
        uri="qemu:///system",
        console_dir=str(lab.dir / "console"),
        image_roots=(str(images),),
        pool_roots=(str(lab.dir / "pools"),),
    )


def _vm(lab: Lab, *, kernel: str | None = None, disk: str | None = None) -> VmSpec:
    return VmSpec(
        name=f"{lab.prefix}-vm",
        uuid=str(uuid.uuid4()),
        cpu_count=1,
        cpu_speed_mhz=1000,
        memory_mb=64,
        disks=[DiskSpec(path=disk)] if disk else [],
        boot=BootSpec(kernel=kernel),
    )


@pytest.mark.parametrize(
    "case", ["kernel-symlink-out", "kernel-device", "kernel-in-pool", "disk-out"]
)
async def test_libvirt_refuses_host_files_before_defining(lab: Lab, case: str) -> None:
    images = lab.dir / "images"
    images.mkdir()
    (images / "vmlinuz").symlink_to("/etc/shadow")
    disk = _image(lab.dir / "pools" / "p1" / "vol.qcow2")
    outside = _image(lab.dir / "outside.qcow2")
    if case == "kernel-device" and os.geteuid() != 0:
        pytest.skip("makes a device node")
    spec = {
        "kernel-symlink-out": lambda: _vm(lab, kernel=str(images / "vmlinuz")),
        "kernel-device": lambda: _vm(lab, kernel=str(_char_device(images / "null"))),
        "kernel-in-pool": lambda: _vm(lab, kernel=str(disk)),
        "disk-out": lambda: _vm(lab, kernel=str(TINY_GUEST / "vmlinuz"), disk=str(outside)),
    }[case]()
    roots = {"disk-out": TINY_GUEST.parent, "kernel-in-pool": lab.dir}.get(case, images)
    why = {
        "kernel-symlink-out": "leads to /etc/shadow",
        "kernel-device": "is a device",
        "kernel-in-pool": "inside the pool directories",
        "disk-out": "outside the allowed directories",
    }[case]
    driver = _driver(lab, roots)
    try:
        with pytest.raises(NotBootable, match=why):
            await driver.define_vm(spec)
        assert spec.name not in [d.name for d in await driver.list_vms()]
    finally:
        await driver.close()


async def test_a_volume_a_running_guest_holds_is_busy_for_snapshots(lab: Lab) -> None:
    """On the real host: while QEMU runs a guest from a qcow2 volume, a snapshot of it is
    VolumeBusy (the image's write lock), and the pool can still list it."""
    from strato.drivers.storage.base import VolumeBusy

    pools = lab.dir / "pools"
    pool = Qcow2PrimaryStorage("p1", path=f"file://{pools / 'p1'}", pool_roots=(str(pools),))
    vol = await pool.create_volume(VolumeSpec(name=f"strato-vol-{lab.prefix}", size_bytes=1 << 20))
    driver = _driver(lab, TINY_GUEST.parent)
    spec = _vm(lab, kernel=str(TINY_GUEST / "vmlinuz"), disk=vol.path)
    try:
        await driver.define_vm(spec)
        await driver.start_vm(spec.name)
        with pytest.raises(VolumeBusy):
            await pool.create_snapshot(vol.name, "s1")
        assert [v.name for v in await pool.list_volumes()] == [vol.name]
        await driver.stop_vm(spec.name, force=True)
        assert (await pool.create_snapshot(vol.name, "s1")).name == "s1"  # free again
    finally:
        await driver.close()
