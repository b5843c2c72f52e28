"""The primary-storage contract (strato/drivers/storage/base.py), one suite for every
implementation: the simulator, and qcow2 files with the real qemu-img. Where a pool holds
real bytes ("data" capability), they are written and read back with qemu-io: a revert
must bring back the snapshot's bytes, a resize must keep them."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from strato.domain.storage.specs import VolumeSpec
from strato.drivers.registry import load
from strato.drivers.storage.base import (
    PrimaryStorage,
    ShrinkRefused,
    SnapshotNotFound,
    TemplateUnusable,
    VolumeNotFound,
)
from tests.lab import holds_pattern, write_pattern

MiB = 1 << 20


async def _path(storage: PrimaryStorage, volume: str) -> str:
    return next(v.path for v in await storage.list_volumes() if v.name == volume)


def _data(storage: PrimaryStorage) -> bool:
    return bool(storage.capabilities.get("data"))


@pytest.fixture(params=["simulator", "qcow2"])
async def pool(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[PrimaryStorage]:
    if request.param == "simulator":
        yield load("storage", "simulator")("p1")
        return
    root = tmp_path / "pools"
    yield load("storage", "qcow2")(
        "p1",
        path=f"file://{root / 'p1'}",
        image_roots=(str(tmp_path / "images"),),
        pool_roots=(str(root),),
    )


def _name() -> str:
    return f"strato-vol-{uuid.uuid4()}"


async def _volume(s: PrimaryStorage, size: int, pattern: int, offset: int = 0) -> str:
    """A new volume of ``size`` bytes, ``pattern`` written at ``offset`` if it holds data."""
    name = _name()
    await s.create_volume(VolumeSpec(name=name, size_bytes=size))
    if _data(s):
        write_pattern(await _path(s, name), pattern, offset=offset)
    return name


@pytest.fixture(autouse=True)
def _local_pools(monkeypatch: pytest.MonkeyPatch) -> None:
    """qcow2 pools in pytest's 0700 directories: QEMU need not reach them here (no guest
    reads these volumes), so the reach check is not asked."""
    import strato.drivers.storage.qcow2 as qcow2

    monkeypatch.setattr(qcow2, "_qemu_user", lambda: None)


async def test_snapshot_revert_brings_the_bytes_back(
    pool: PrimaryStorage,
) -> None:
    s = pool
    name = await _volume(s, 4 * MiB, 0xAB)
    first = await s.create_snapshot(name, "before")
    assert (first.name, first.volume) == ("before", name)
    assert await s.create_snapshot(name, "before") == first  # idempotent, not retaken
    if _data(s):
        write_pattern(await _path(s, name), 0xCD)
        assert holds_pattern(await _path(s, name), 0xCD)
    await s.revert_snapshot(name, "before")
    await s.revert_snapshot(name, "before")  # twice is once
    if _data(s):
        assert holds_pattern(await _path(s, name), 0xAB), "the revert did not bring the bytes back"
    assert [x.name for x in await s.list_snapshots(name)] == ["before"]
    await s.delete_snapshot(name, "before")
    await s.delete_snapshot(name, "before")  # a missing snapshot: done already
    assert await s.list_snapshots(name) == []
    if _data(s):
        assert holds_pattern(await _path(s, name), 0xAB), "deleting the snapshot changed the volume"


async def test_snapshots_are_listed_oldest_first_and_go_with_their_volume(
    pool: PrimaryStorage,
) -> None:
    s = pool
    name = _name()
    await s.create_volume(VolumeSpec(name=name, size_bytes=MiB))
    for snap in ("a", "b", "c"):
        await s.create_snapshot(name, snap)
    assert [x.name for x in await s.list_snapshots(name)] == ["a", "b", "c"]
    await s.delete_volume(name)
    await s.create_volume(VolumeSpec(name=name, size_bytes=MiB))  # a new one, same name
    assert await s.list_snapshots(name) == []


async def test_resize_grows_keeps_the_data_and_refuses_a_silent_shrink(
    pool: PrimaryStorage,
) -> None:
    s = pool
    name = await _volume(s, 2 * MiB, 0x5A, offset=MiB)
    grown = await s.resize_volume(name, 8 * MiB)
    assert grown.size_bytes == 8 * MiB
    assert (await s.resize_volume(name, 8 * MiB)).size_bytes == 8 * MiB  # idempotent
    if _data(s):
        assert holds_pattern(await _path(s, name), 0x5A, offset=MiB)
        assert holds_pattern(await _path(s, name), 0x00, offset=7 * MiB)  # the new end reads zeros
    with pytest.raises(ShrinkRefused):
        await s.resize_volume(name, MiB)
    assert [v.size_bytes for v in await s.list_volumes() if v.name == name] == [8 * MiB]
    if s.capabilities.get("shrink"):
        assert (await s.resize_volume(name, 4 * MiB, shrink_ok=True)).size_bytes == 4 * MiB
        if _data(s):
            assert holds_pattern(await _path(s, name), 0x5A, offset=MiB)


async def test_missing_volumes_and_snapshots_are_clear_errors(
    pool: PrimaryStorage,
) -> None:
    s = pool
    name = _name()
    for call in (
        s.resize_volume(name, MiB),
        s.create_snapshot(name, "x"),
        s.list_snapshots(name),
        s.revert_snapshot(name, "x"),
        s.volume_info(name),
    ):
        with pytest.raises(VolumeNotFound, match=name):
            await call
    await s.delete_snapshot(name, "x")  # nothing to delete: done already
    await s.create_volume(VolumeSpec(name=name, size_bytes=MiB))
    with pytest.raises(SnapshotNotFound, match="nope"):
        await s.revert_snapshot(name, "nope")


async def test_a_snapshot_copied_to_a_new_volume_holds_its_data(pool: PrimaryStorage) -> None:
    source = await _volume(pool, 8 * MiB, 0xAB)
    await pool.create_snapshot(source, "s1")
    if _data(pool):
        write_pattern(await _path(pool, source), 0x11)  # the source moves on
    new = _name()
    info = await pool.copy_snapshot(source, "s1", new)
    assert info.name == new and info.size_bytes == 8 * MiB
    assert await pool.copy_snapshot(source, "s1", new) == info  # idempotent
    if _data(pool):
        assert holds_pattern(info.path, 0xAB) and holds_pattern(await _path(pool, source), 0x11)
        assert await pool.list_snapshots(new) == []  # standalone: no snapshots, no backing
    with pytest.raises(SnapshotNotFound):
        await pool.copy_snapshot(source, "nope", _name())
    with pytest.raises(VolumeNotFound):
        await pool.copy_snapshot(_name(), "s1", _name())


async def test_a_cached_template_backs_thin_clones(pool: PrimaryStorage, tmp_path: Path) -> None:
    """cache_template copies a published image onto the pool once; clones of it share its
    bytes (a clone reads the template's data) and writing a clone leaves it alone."""
    published = tmp_path / "images" / "store" / "template" / "t1"
    published.parent.mkdir(parents=True)
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", str(published), str(4 * MiB)], check=True
    )
    if _data(pool):
        write_pattern(str(published), 0x5A)
    size = published.stat().st_size
    with pytest.raises(TemplateUnusable):
        await pool.create_volume(
            VolumeSpec(name=_name(), size_bytes=8 * MiB, template_name="strato-tpl-t1")
        )
    cached = await pool.cache_template("strato-tpl-t1", str(published), size)
    assert await pool.cache_template("strato-tpl-t1", str(published), size) == cached
    a, b = _name(), _name()
    for n in (a, b):
        await pool.create_volume(VolumeSpec(name=n, size_bytes=8 * MiB, template_name=cached.name))
    if _data(pool):
        assert holds_pattern(await _path(pool, a), 0x5A)
        write_pattern(await _path(pool, a), 0x11)
        assert holds_pattern(await _path(pool, b), 0x5A)
        assert holds_pattern(cached.path, 0x5A)
    names = {v.name for v in await pool.list_volumes()}
    assert {a, b, cached.name} <= names
    assert await pool.volume_info(cached.name) == cached


async def test_a_template_outside_the_image_roots_is_refused(
    pool: PrimaryStorage, tmp_path: Path
) -> None:
    if not _data(pool):
        pytest.skip("the simulator reads no source")
    outside = tmp_path / "elsewhere.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(outside), "1M"], check=True)
    with pytest.raises(TemplateUnusable, match="outside"):
        await pool.cache_template("strato-tpl-x", str(outside), 1)
    assert "strato-tpl-x" not in {v.name for v in await pool.list_volumes()}


async def test_a_snapshot_exported_to_secondary_storage(
    pool: PrimaryStorage, tmp_path: Path
) -> None:
    """export_snapshot: a standalone image of the snapshot's content at the destination,
    the volume untouched; idempotent; a missing snapshot is a clear error."""
    name = await _volume(pool, 4 * MiB, 0x3C)
    await pool.create_snapshot(name, "s")
    if _data(pool):
        write_pattern(await _path(pool, name), 0x11)
    dest = str(tmp_path / "images" / "store" / "snapshot" / "s1")
    with pytest.raises(SnapshotNotFound):
        await pool.export_snapshot(name, "nope", dest)
    out = await pool.export_snapshot(name, "s", dest)
    assert (out.path, out.size_bytes) == (dest, 4 * MiB)
    assert await pool.export_snapshot(name, "s", dest) == out  # idempotent
    if _data(pool):
        assert holds_pattern(dest, 0x3C) and holds_pattern(await _path(pool, name), 0x11)
        info = subprocess.run(
            ["qemu-img", "info", "--output=json", dest], capture_output=True, text=True
        )
        assert "backing-filename" not in info.stdout
        assert not [p for p in Path(dest).parent.iterdir() if p.name.startswith(".")]
