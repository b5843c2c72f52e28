"""The template service's download resumed at the very end, run as an activity against a
local HTTP server: an image whose length was unknown when it was all staged is asked from
its end, gets 416 with the image's length, and is complete (nothing fetched again); a
stage longer than the image (it changed) is fetched again whole."""

from __future__ import annotations

import dataclasses
import hashlib
import subprocess
import uuid
from pathlib import Path

from temporalio.testing import ActivityEnvironment

from strato.activities.storage.templates import TemplateActivities
from strato.domain.storage.payloads import StoreRef
from strato.domain.storage.templates import DownloadInput, TransferProgress, template_key
from tests.images_http import serving


def _image(root: Path) -> Path:
    path = root / "whole.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "4M"], check=True)
    return path


async def _resumed(tmp_path: Path, staged: bytes, done: int) -> tuple[int, list[tuple[int, int]]]:
    """Download with ``staged`` already in the stage and a heartbeat at ``done`` (length
    not known); the image's size, and (status, bytes sent) of each request."""
    images = tmp_path / "images"
    service = TemplateActivities((str(images),))
    ref = StoreRef(store_id=uuid.uuid4(), name="s1", driver="directory", url=f"file://{images}/s1")
    template_id = uuid.uuid4()
    writer = service.store(ref).stage(template_key(template_id), 0)
    writer.write(staged)
    writer.close()
    with serving(tmp_path / "www") as server:
        image = _image(server.root)
        st = image.stat()
        etag = f'"{int(st.st_mtime_ns)}-{st.st_size}"'
        env = ActivityEnvironment()
        prev = TransferProgress(done=done, total=None, validator=etag)
        env.info = dataclasses.replace(env.info, heartbeat_details=[prev.model_dump()])
        digest = hashlib.sha256(image.read_bytes()).hexdigest()
        inp = DownloadInput(
            template_id=template_id,
            store=ref,
            url=server.url("whole.qcow2"),
            format="qcow2",
            checksum=f"sha256:{digest}",
            max_bytes=1 << 30,
        )
        got = await env.run(service.download, inp)
        assert got.checksum == f"sha256:{digest}" and got.virtual_size == 4 << 20
        return got.size_bytes, [(s.status, s.sent) for s in server.log]


async def test_an_image_staged_whole_is_complete_on_a_416(tmp_path: Path) -> None:
    whole = _image(tmp_path).read_bytes()
    size, requests = await _resumed(tmp_path, whole, len(whole))
    assert size == len(whole)
    assert requests == [(416, 0)]  # asked from its end: nothing more to fetch


async def test_a_stage_longer_than_the_image_is_fetched_again(tmp_path: Path) -> None:
    whole = _image(tmp_path).read_bytes()
    longer = whole + b"\0" * 4096
    size, requests = await _resumed(tmp_path, longer, len(longer))
    assert size == len(whole)
    assert requests == [(416, 0), (200, len(whole))]
