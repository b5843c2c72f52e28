"""Templates uploaded through the API (the image as the request body, streamed into the
zone's directory image store), then checked and published by the template service's
RegisterTemplate as a download is: real Temporal + PG, real qemu-img, simulated hosts.
The refusals leave nothing behind: no template row, no staged bytes."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from strato.schema.db import Database
from strato.settings import Settings
from tests.conftest import Platform
from tests.helpers import ok, table_counts, unique, wait_operation
from tests.workflows.test_templates import doctor_clean, staged_files, store, store_files
from tests.workflows.vm_helpers import deploy, vm_zone

MiB = 1 << 20


def image(tmp_path: Path, size: str = "16M") -> bytes:
    """A qcow2 image with a pattern written: over 1 MiB (the API's limit for other bodies)."""
    out = tmp_path / f"{unique('img')}.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(out), size], check=True)
    subprocess.run(
        ["qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 0 3M", str(out)],
        check=True,
        capture_output=True,
    )
    return out.read_bytes()


async def upload(
    api: httpx.AsyncClient, zone_id: str, content: Any, **params: Any
) -> httpx.Response:
    query = {"name": unique("up"), "zone_id": zone_id, **params}
    headers = {"Content-Type": "application/octet-stream"}
    return await api.post("/templates/upload", params=query, content=content, headers=headers)


async def test_an_uploaded_template_is_checked_published_and_deployed(
    api: httpx.AsyncClient, platform: Platform, db: Database, settings: Settings, tmp_path: Path
) -> None:
    fab = await vm_zone(api, hosts=1)
    zone = fab["zone"]["id"]
    await store(api, settings, zone)
    data = image(tmp_path)
    assert len(data) > settings.max_body_bytes
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    r = await ok(await upload(api, zone, data, checksum=digest), 202)
    op = await wait_operation(api, r["operation"]["id"], timeout=60)
    assert op["state"] == "succeeded", op
    tpl = await ok(await api.get(f"/templates/{r['resource']['id']}"))
    assert (tpl["state"], tpl["format"], tpl["size_bytes"]) == ("Ready", "qcow2", 16 * MiB)
    published = [p for p in store_files(settings) if p.name == tpl["id"]]
    assert [p.read_bytes() == data for p in published] == [True]
    assert staged_files(settings) == []
    vm = await deploy(api, {**fab, "template": tpl})
    assert (await wait_operation(api, vm["operation"]["id"]))["state"] == "succeeded"

    # The same Idempotency-Key and upload: the first operation, one template, no stray file.
    params = {"name": "once", "zone_id": zone}
    headers = {"Idempotency-Key": "up-1", "Content-Type": "application/octet-stream"}
    first = await ok(
        await api.post("/templates/upload", params=params, content=data, headers=headers), 202
    )
    again = await ok(
        await api.post("/templates/upload", params=params, content=data, headers=headers), 202
    )
    assert again["operation"]["id"] == first["operation"]["id"]
    assert (await wait_operation(api, first["operation"]["id"]))["state"] == "succeeded"
    page = await ok(await api.get("/templates", params={"name": "once"}))
    assert len(page["items"]) == 1
    assert staged_files(settings) == []
    await doctor_clean(db, platform, settings)


async def test_refused_uploads_leave_nothing_behind(
    api: httpx.AsyncClient, platform: Platform, db: Database, settings: Settings, tmp_path: Path
) -> None:
    fab = await vm_zone(api, hosts=1)
    zone = fab["zone"]["id"]
    await store(api, settings, zone)
    data = image(tmp_path, "4M")

    # Refused at once (nothing recorded, nothing staged): too large, empty, no zone, stalled.
    counts = await table_counts(db)
    big = await upload(api, zone, data, max_size_bytes=64 * 1024)
    assert big.status_code == 413 and "limit" in big.text, big.text
    empty = await upload(api, zone, b"")
    assert empty.status_code == 422 and "empty" in empty.text, empty.text
    nowhere = await upload(api, fab["template"]["id"], data)
    assert nowhere.status_code == 422 and "zone_id" in nowhere.text, nowhere.text
    settings.body_timeout_s = 0.5

    async def stalls() -> AsyncIterator[bytes]:
        yield data[:MiB]
        await asyncio.sleep(2)
        yield data[MiB:]

    slow = await upload(api, zone, stalls())
    assert slow.status_code == 408 and "no part of the upload" in slow.text, slow.text
    assert await table_counts(db) == counts
    assert staged_files(settings) == [] and store_files(settings) == []

    # Found by the template service (the template goes Error, saying why; nothing kept):
    # a wrong checksum, a text file said to be qcow2.
    wrong = "sha256:" + "0" * 64
    for content, params, why in (
        (data, {"checksum": wrong}, "checksum mismatch"),
        (b"just some text\n" * 100, {}, "is not a qcow2 image"),
    ):
        r = await ok(await upload(api, zone, content, **params), 202)
        op = await wait_operation(api, r["operation"]["id"], timeout=60)
        assert op["state"] == "failed", op
        tpl = await ok(await api.get(f"/templates/{r['resource']['id']}"))
        assert tpl["state"] == "Error" and why in (tpl["last_error"] or ""), tpl
    assert store_files(settings) == []
    await doctor_clean(db, platform, settings)
