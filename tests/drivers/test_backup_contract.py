"""The backup-provider contract (strato/drivers/backup/base.py), one suite for every
implementation: the image-store provider over a directory store (the real qemu-img) and
over the simulated store. Images are real qcow2 files built here with qemu-img, put in the
store the way a pool's export lands there."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from strato.domain.storage.backups import BackupImage
from strato.drivers.backup.base import BackupIncomplete, BackupProvider
from strato.drivers.registry import load
from strato.drivers.storage.secondary import SecondaryStorage

MiB = 1 << 20


@pytest.fixture(params=["simulator", "directory"])
async def provider(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BackupProvider]:
    images = tmp_path / "images"
    store = load("secondary", request.param)(
        "s1", url=f"file://{images / 's1'}", image_roots=(str(images),)
    )
    yield load("backup", "image-store")(store)


def _qcow2(tmp_path: Path, size: int, backing: Path | None = None) -> bytes:
    out = tmp_path / f"built-{uuid.uuid4().hex[:6]}.qcow2"
    extra = ["-b", str(backing), "-F", "raw"] if backing else []
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", *extra, str(out), str(size)], check=True
    )
    return out.read_bytes()


async def _land(provider: BackupProvider, backup: uuid.UUID, vol: uuid.UUID, data: bytes) -> None:
    """An image arrives under the provider's key, as a pool's export publishes it."""
    store: SecondaryStorage = provider.store  # type: ignore[attr-defined]
    key = provider.key(backup, vol)
    writer = store.stage(key, 0)
    writer.write(data)
    writer.sync()
    writer.close()
    await store.publish(key)


async def test_keys_and_targets_are_pure_and_distinct(provider: BackupProvider) -> None:
    b, v, w = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    assert provider.key(b, v) == provider.key(b, v) != provider.key(b, w)
    assert provider.target(b, v) == provider.target(b, v) != provider.target(b, w)
    assert str(b) in provider.target(b, v) and str(v) in provider.target(b, v)


async def test_whole_images_pass_and_are_listed(provider: BackupProvider, tmp_path: Path) -> None:
    b, root, data = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await _land(provider, b, root, _qcow2(tmp_path, 4 * MiB))
    await _land(provider, b, data, _qcow2(tmp_path, 8 * MiB))
    asked = [
        BackupImage(volume_id=root, size_bytes=4 * MiB),
        BackupImage(volume_id=data, size_bytes=8 * MiB),
    ]
    held = await provider.verify(b, asked)
    assert [i.volume_id for i in held] == [root, data]
    assert all(i.stored_bytes > 0 and i.path for i in held)
    assert held == await provider.verify(b, asked)  # read-only: the same again
    assert (await provider.held())[b] == {root, data}


async def test_what_a_restore_cannot_use_is_refused(
    provider: BackupProvider, tmp_path: Path
) -> None:
    b = uuid.uuid4()
    missing, short, text, chained = (uuid.uuid4() for _ in range(4))
    with pytest.raises(BackupIncomplete, match=f"volume {missing}: no image"):
        await provider.verify(b, [BackupImage(volume_id=missing, size_bytes=MiB)])
    await _land(provider, b, short, _qcow2(tmp_path, MiB))
    with pytest.raises(BackupIncomplete, match="short of the volume's"):
        await provider.verify(b, [BackupImage(volume_id=short, size_bytes=2 * MiB)])
    await _land(provider, b, text, b"not an image at all\n" * 100)
    with pytest.raises(BackupIncomplete, match=f"volume {text}"):
        await provider.verify(b, [BackupImage(volume_id=text, size_bytes=1)])
    base = tmp_path / "base.raw"
    base.write_bytes(b"\0" * MiB)
    await _land(provider, b, chained, _qcow2(tmp_path, MiB, backing=base))
    with pytest.raises(BackupIncomplete, match="not standalone"):
        await provider.verify(b, [BackupImage(volume_id=chained, size_bytes=MiB)])


async def test_delete_is_idempotent_and_leaves_other_backups(
    provider: BackupProvider, tmp_path: Path
) -> None:
    b, other, v, w = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await _land(provider, b, v, _qcow2(tmp_path, MiB))
    await _land(provider, b, w, _qcow2(tmp_path, MiB))
    await _land(provider, other, v, _qcow2(tmp_path, MiB))
    await provider.delete(b, [v, w])
    await provider.delete(b, [v, w])  # again: nothing there, still fine
    assert await provider.held() == {other: {v}}
    with pytest.raises(BackupIncomplete):
        await provider.verify(b, [BackupImage(volume_id=v, size_bytes=MiB)])
