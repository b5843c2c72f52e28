"""The secondary-storage contract (strato/drivers/storage/secondary.py), one suite for every
implementation: the simulator and a directory (with the real qemu-img). Images are real
qcow2 and raw files built here with qemu-img."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from strato.drivers.registry import load
from strato.drivers.storage.secondary import (
    ImageNotFound,
    ImageUnreadable,
    SecondaryStorage,
    StageGap,
)

MiB = 1 << 20


@pytest.fixture(params=["simulator", "directory"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SecondaryStorage]:
    images = tmp_path / "images"
    yield load("secondary", request.param)(
        "s1", url=f"file://{images / 's1'}", image_roots=(str(images),)
    )


def _qcow2(tmp_path: Path, size: str = "8M", backing: Path | None = None) -> bytes:
    out = tmp_path / "built.qcow2"
    extra = ["-b", str(backing), "-F", "raw"] if backing else []
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", *extra, str(out), size], check=True)
    return out.read_bytes()


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


async def _stage(store: SecondaryStorage, key: str, data: bytes, offset: int = 0) -> None:
    writer = store.stage(key, offset)
    writer.write(data)
    writer.sync()
    writer.close()


async def _staged(store: SecondaryStorage, key: str) -> bytes:
    return b"".join([c async for c in store.read_staged(key, 1 << 40)])


async def test_stage_resume_inspect_publish(store: SecondaryStorage, tmp_path: Path) -> None:
    image = _qcow2(tmp_path)
    key = "template/t1"
    assert await store.staged_size(key) == 0
    half = len(image) // 2
    await _stage(store, key, image[:half] + b"garbage past the resume point")
    # A resume from the last durable position drops what came after it.
    await _stage(store, key, image[half:], offset=half)
    assert await store.staged_size(key) == len(image)
    assert await _staged(store, key) == image
    with pytest.raises(StageGap):
        store.stage(key, len(image) + 1)
    facts = await store.inspect(key, "qcow2")
    assert (facts.format, facts.virtual_size, facts.backing_file) == ("qcow2", 8 * MiB, None)
    with pytest.raises(ImageNotFound):
        await store.get(key)  # staged is not published
    published = await store.publish(key)
    assert (published.key, published.size_bytes) == (key, len(image))
    assert await store.staged_size(key) == 0
    assert await store.publish(key) == published  # idempotent
    assert [i.key for i in await store.list_images()] == [key]
    await store.delete(key)
    await store.delete(key)  # idempotent
    assert await store.list_images() == []
    with pytest.raises(ImageNotFound):
        await store.publish(key)


async def test_a_text_file_is_not_qcow2(store: SecondaryStorage) -> None:
    await _stage(store, "template/t2", b"<html>404 not found</html>\n" * 10)
    with pytest.raises(ImageUnreadable):
        await store.inspect("template/t2", "qcow2")
    raw = await store.inspect("template/t2", "raw")  # anything is a raw image
    assert (raw.format, raw.file_size) == ("raw", 270)  # qemu-img rounds the size up
    await store.discard("template/t2")
    assert await store.staged_size("template/t2") == 0


async def test_a_backing_file_is_reported(store: SecondaryStorage, tmp_path: Path) -> None:
    base = tmp_path / "base.raw"
    base.write_bytes(b"\0" * MiB)
    await _stage(store, "template/t3", _qcow2(tmp_path, "1M", backing=base))
    facts = await store.inspect("template/t3", "qcow2")
    assert facts.backing_file is not None and str(base) in facts.backing_file


async def test_convert_raw_to_qcow2(store: SecondaryStorage, tmp_path: Path) -> None:
    raw = bytes(range(256)) * 4096 * 2  # 2 MiB of raw image
    await _stage(store, "template/t4", raw)
    facts = await store.convert("template/t4", "raw", "qcow2")
    assert (facts.format, facts.virtual_size) == ("qcow2", len(raw))
    # The downloaded bytes stay as they came: a resumed transfer appends to, and
    # rebuilds its checksum from, them (converting again is the same).
    assert await store.staged_size("template/t4") == len(raw)
    assert await _staged(store, "template/t4") == raw
    await store.convert("template/t4", "raw", "qcow2")
    assert (await store.inspect("template/t4", "qcow2")).virtual_size == len(raw)
    published = await store.publish("template/t4")
    if store.capabilities["data"]:
        back = tmp_path / "back.raw"
        subprocess.run(
            ["qemu-img", "convert", "-f", "qcow2", "-O", "raw", published.path, str(back)],
            check=True,
        )
        assert back.read_bytes() == raw


async def test_import_from_another_store(
    store: SecondaryStorage, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    await _stage(store, "template/t5", _qcow2(tmp_path))
    source = await store.publish("template/t5")
    images = tmp_path / "images"
    other: SecondaryStorage = load("secondary", store.name)(
        "s2", url=f"file://{images / 's2'}", image_roots=(str(images),)
    )
    copied = await other.import_image("template/t5", source)
    assert (copied.key, copied.size_bytes) == ("template/t5", source.size_bytes)
    assert await other.import_image("template/t5", source) == copied  # idempotent
    if store.capabilities["data"]:
        assert _read(copied.path) == _read(source.path)


async def test_keys_cannot_climb_out(store: SecondaryStorage) -> None:
    for bad in ("../etc", "template/../../x", "template/.hidden", "a/b/c", "plain"):
        with pytest.raises(Exception, match="not <kind>/<name>"):
            await store.staged_size(bad)


async def test_a_published_image_can_be_inspected(store: SecondaryStorage, tmp_path: Path) -> None:
    await _stage(store, "template/t6", _qcow2(tmp_path, "2M"))
    await store.publish("template/t6")
    assert (await store.inspect("template/t6", "qcow2")).virtual_size == 2 * MiB
    with pytest.raises(ImageNotFound):
        await store.inspect("template/none", "qcow2")
