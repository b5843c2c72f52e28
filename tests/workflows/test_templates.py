"""Templates registered from a URL, with real Temporal + PG, the template service's real
HTTP download into a directory image store (qemu-img checks), simulated hosts and pools:
register, refusals (sync and async), deploy from the pool's copy (20 concurrent deploys,
one copy), copy to another zone, delete, and the cache's garbage collection."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from strato.commands import templates as template_commands
from strato.doctor import examine
from strato.schema.db import Database
from strato.settings import Settings
from tests.conftest import Platform
from tests.helpers import ChildProcess, ok, table_counts, unique, wait_operation
from tests.images_http import ImageServer, serving
from tests.workflows.vm_helpers import deploy, vm_zone

MiB = 1 << 20


@pytest.fixture
def images(tmp_path: Path) -> Iterator[ImageServer]:
    with serving(tmp_path / "www") as server:
        yield server


def qcow2(server: ImageServer, name: str, size: str = "16M", backing: str | None = None) -> str:
    """A qcow2 image served as ``name``, with a known pattern written at its start."""
    out = server.root / name
    extra = ["-b", backing, "-F", "raw"] if backing else []
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", *extra, str(out), size], check=True)
    subprocess.run(
        ["qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 0 64k", str(out)],
        check=True,
        capture_output=True,
    )
    return out.name


def sha256(server: ImageServer, name: str) -> str:
    return "sha256:" + hashlib.sha256((server.root / name).read_bytes()).hexdigest()


async def store(api: httpx.AsyncClient, settings: Settings, zone_id: str) -> dict[str, Any]:
    root = settings.image_root_list[-1]  # this test's own images/ directory
    name = unique("sec")
    body = {"name": name, "zone_id": zone_id, "url": f"file://{root}/{name}"}
    got: dict[str, Any] = await ok(await api.post("/image-stores", json=body), 201)
    return got


async def register(
    api: httpx.AsyncClient, zone_id: str, url: str, want: str = "succeeded", **extra: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    body = {"name": unique("tpl"), "zone_id": zone_id, "url": url, **extra}
    r = await ok(await api.post("/templates", json=body), 202)
    assert r["resource"]["state"] == "Downloading"
    op = await wait_operation(api, r["operation"]["id"], timeout=90)
    assert op["state"] == want, op
    tpl = await ok(await api.get(f"/templates/{r['resource']['id']}"))
    return tpl, op


def store_files(settings: Settings) -> list[Path]:
    return [p for p in Path(settings.image_root_list[-1]).rglob("*") if p.is_file()]


def staged_files(settings: Settings) -> list[Path]:
    return [p for p in store_files(settings) if p.name.startswith(".")]


async def expunge(api: httpx.AsyncClient, db: Database, accepted: list[dict[str, Any]]) -> None:
    """Destroy and expunge the deployed VMs; wait until they are Expunged."""
    ids = [a["resource"]["id"] for a in accepted]
    for vm_id in ids:
        await ok(await api.post(f"/vms/{vm_id}/destroy", json={"expunge": True}), 202)
    async with asyncio.timeout(90):
        while True:
            async with db.conn() as conn:
                left = await conn.fetchval(
                    "SELECT count(*) FROM vms WHERE state <> 'Expunged' AND id = ANY($1::uuid[])",
                    ids,
                )
            if left == 0:
                return
            await asyncio.sleep(0.2)


async def doctor_clean(db: Database, platform: Platform, settings: Settings) -> None:
    """`strato doctor` finds nothing, image stores compared too."""
    report = await examine(
        db,
        platform.client,
        queue=settings.orchestration_queue,
        templates_queue=settings.templates_queue,
    )
    assert report.clean, report.as_dict()


async def pool_room(db: Database) -> Any:
    """The one pool's row (its allocated bytes)."""
    async with db.conn() as conn:
        return await conn.fetchrow("SELECT * FROM storage_pools")


def tpl_copy_bytes(files: list[Path], tpl: dict[str, Any]) -> int:
    """The size of the template's published image (what its pool copy claims)."""
    (image,) = [p for p in files if p.name == tpl["id"]]
    return image.stat().st_size


async def evict(db: Database, platform: Platform, settings: Settings) -> int:
    """One pass of the cache's garbage collection, with no idle time."""
    return await template_commands.evict_idle(db, platform.client, 0, settings.orchestration_queue)


async def test_register_deploy_copy_delete(
    api: httpx.AsyncClient,
    platform: Platform,
    db: Database,
    settings: Settings,
    images: ImageServer,
) -> None:
    fab = await vm_zone(api, hosts=2)
    zone = fab["zone"]["id"]
    sec = await store(api, settings, zone)
    name = qcow2(images, "disk.qcow2")
    tpl, _ = await register(api, zone, images.url(name), checksum=sha256(images, name))
    assert tpl["state"] == "Ready" and tpl["stored"] and tpl["format"] == "qcow2"
    assert tpl["size_bytes"] == 16 * MiB  # the virtual size
    assert tpl["physical_size_bytes"] == (images.root / name).stat().st_size
    assert tpl["checksum"] == sha256(images, name)
    published = Path(sec["url"].removeprefix("file://")) / "template" / tpl["id"]
    assert published.read_bytes() == (images.root / name).read_bytes()
    assert staged_files(settings) == []

    # Deploy from it: the pool gets one copy; the root disk is a clone of it.
    vm = await deploy(api, {**fab, "template": tpl})
    assert (await wait_operation(api, vm["operation"]["id"]))["state"] == "succeeded"
    (pool,) = platform.fleet.pools.values()
    names = {v.name for v in await pool.list_volumes()}
    assert f"strato-tpl-{tpl['id']}" in names
    async with db.conn() as conn:
        cache = await conn.fetchrow("SELECT * FROM template_pool_cache")
    assert (cache["state"], cache["copies"]) == ("Ready", 1)

    # A second zone with its own store: copy the template there, deploy there.
    fab2 = await vm_zone(api, hosts=1)
    await store(api, settings, fab2["zone"]["id"])
    refused = await api.post(
        "/vms",
        json={
            "name": unique("vm"),
            "zone_id": fab2["zone"]["id"],
            "service_offering_id": fab2["offering"]["id"],
            "template_id": tpl["id"],
        },
    )
    assert refused.status_code == 422 and "not in that zone" in refused.json()["detail"]
    r = await ok(
        await api.post(f"/templates/{tpl['id']}/copies", json={"zone_id": fab2["zone"]["id"]}),
        202,
    )
    assert (await wait_operation(api, r["operation"]["id"]))["state"] == "succeeded"
    again = await api.post(f"/templates/{tpl['id']}/copies", json={"zone_id": fab2["zone"]["id"]})
    assert again.status_code == 409 and "already in that zone" in again.json()["detail"]
    vm2 = await deploy(api, {**fab2, "template": tpl})
    assert (await wait_operation(api, vm2["operation"]["id"]))["state"] == "succeeded"

    # In use: refused with nothing changed.
    before = await table_counts(db)
    busy = await api.delete(f"/templates/{tpl['id']}")
    assert busy.status_code == 409 and "used by 2 VM(s)" in busy.json()["detail"]
    assert await table_counts(db) == before

    await expunge(api, db, [vm, vm2])

    # Deleted: its copies on pools and in both stores go; the record stays Inactive
    # (expunged VMs still name it).
    gone = await ok(await api.delete(f"/templates/{tpl['id']}"), 202)
    assert (await wait_operation(api, gone["operation"]["id"]))["state"] == "succeeded"
    assert f"strato-tpl-{tpl['id']}" not in {v.name for v in await pool.list_volumes()}
    assert not published.exists()
    after = await ok(await api.get(f"/templates/{tpl['id']}"))
    assert after["state"] == "Inactive"
    async with db.conn() as conn:
        assert await conn.fetchval("SELECT count(*) FROM template_stores") == 0
        assert await conn.fetchval("SELECT count(*) FROM template_pool_cache") == 0
    await doctor_clean(db, platform, settings)


async def test_twenty_concurrent_deploys_make_one_copy(
    api: httpx.AsyncClient,
    platform: Platform,
    db: Database,
    settings: Settings,
    images: ImageServer,
) -> None:
    fab = await vm_zone(api, hosts=2, network=False)
    zone = fab["zone"]["id"]
    await store(api, settings, zone)
    tpl, _ = await register(api, zone, images.url(qcow2(images, "d.qcow2")))
    accepted = await asyncio.gather(*(deploy(api, {**fab, "template": tpl}) for _ in range(20)))
    ops = await asyncio.gather(
        *(wait_operation(api, a["operation"]["id"], timeout=120) for a in accepted)
    )
    assert [o["state"] for o in ops] == ["succeeded"] * 20
    (pool,) = platform.fleet.pools.values()
    copies = [v for v in await pool.list_volumes() if v.name.startswith("strato-tpl-")]
    assert [c.name for c in copies] == [f"strato-tpl-{tpl['id']}"]
    async with db.conn() as conn:
        row = await conn.fetchrow("SELECT state, copies FROM template_pool_cache")
        cached = await conn.fetchval(
            "SELECT count(*) FROM events WHERE type = 'strato.template.cached'"
        )
    assert (row["state"], row["copies"], cached) == ("Ready", 1, 1)
    # The copy takes room on the pool: counted beside the 20 root volumes' claims.
    claimed = (await pool_room(db))["allocated_bytes"]
    assert claimed == 20 * tpl["size_bytes"] + tpl_copy_bytes(store_files(settings), tpl)

    # The cache's garbage collection spares a copy in use, removes an unused one.
    assert await evict(db, platform, settings) == 0
    await expunge(api, db, accepted)
    assert await evict(db, platform, settings) == 1
    async with asyncio.timeout(30):
        while any(v.name.startswith("strato-tpl-") for v in await pool.list_volumes()):
            await asyncio.sleep(0.2)
    async with db.conn() as conn:
        assert await conn.fetchval("SELECT count(*) FROM template_pool_cache") == 0
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM events WHERE type = 'strato.template.evicted'"
            )
            == 1
        )
    assert (await pool_room(db))["allocated_bytes"] == 0  # its room given back


async def test_refusals_change_nothing(
    api: httpx.AsyncClient, platform: Platform, db: Database, settings: Settings
) -> None:
    fab = await vm_zone(api, hosts=0, network=False)
    zone = fab["zone"]["id"]
    before = await table_counts(db)
    cases = [
        ({"url": "http://127.0.0.1:9/x.qcow2"}, "zone_id"),  # no zone
        ({"zone_id": zone, "url": "http://127.0.0.1:9/x.qcow2"}, "no image store"),
        ({"zone_id": zone, "url": "http://x/y", "checksum": "sha256:abc"}, "checksum must be"),
        ({"zone_id": zone, "url": "http://x/y", "format": "vhd"}, "vhd"),
    ]
    for extra, why in cases:
        r = await api.post("/templates", json={"name": unique("tpl"), **extra})
        assert r.status_code == 422, r.text
        assert why in r.text
    assert await table_counts(db) == before


async def test_bad_images_end_in_error_with_the_reason(
    api: httpx.AsyncClient,
    platform: Platform,
    db: Database,
    settings: Settings,
    images: ImageServer,
) -> None:
    fab = await vm_zone(api, hosts=0, network=False)
    zone = fab["zone"]["id"]
    await store(api, settings, zone)
    good = qcow2(images, "good.qcow2")
    (images.root / "page.html").write_text("<html>not an image</html>\n" * 100)
    base = images.root / "base.raw"
    base.write_bytes(b"\0" * MiB)
    backed = qcow2(images, "backed.qcow2", size="1M", backing=str(base))
    cases = {
        "404": ({"url": images.url("missing.qcow2")}, "HTTP 404"),
        "checksum": (
            {"url": images.url(good), "checksum": "sha256:" + "0" * 64},
            "checksum mismatch",
        ),
        "text as qcow2": ({"url": images.url("page.html")}, "is not a qcow2 image"),
        "backing file": ({"url": images.url(backed)}, "has a backing file"),
        "too large": ({"url": images.url(good), "max_size_bytes": 4 * MiB}, "larger than"),
        "unreachable": ({"url": "http://127.0.0.1:9/x.qcow2"}, "fetching"),
    }
    results = await asyncio.gather(
        *(register(api, zone, want="failed", **extra) for extra, _ in cases.values())
    )
    for (case, (_, why)), (tpl, op) in zip(cases.items(), results, strict=True):
        assert tpl["state"] == "Error", case
        assert why in tpl["last_error"], (case, tpl["last_error"])
        assert why in op["error"]["message"], (case, op["error"])
    # Nothing half-made is left in the store, and nothing is in it at all.
    assert store_files(settings) == []
    await doctor_clean(db, platform, settings)


@pytest.fixture
async def platform_without_service(
    settings: Settings, db: Database, temporal_client: Any
) -> AsyncIterator[Platform]:
    """The platform with no template service of its own: the test runs it as a process."""
    p = Platform(settings, db, temporal_client)
    await p.start(templates=False)
    try:
        yield p
    finally:
        await p.stop()


def service_process(settings: Settings, log: Path) -> ChildProcess:
    return ChildProcess(
        ["service", "templates"],
        {
            "STRATO_TEMPORAL_ADDRESS": str(settings.temporal_address),
            "STRATO_TEMPLATES_QUEUE": settings.templates_queue,
            "STRATO_IMAGE_ROOTS": settings.image_roots,
        },
        log,
    )


async def test_a_killed_service_resumes_the_download(
    api: httpx.AsyncClient,
    platform_without_service: Platform,
    db: Database,
    settings: Settings,
    tmp_path: Path,
) -> None:
    """kill -9 of the template service mid-download: the restarted service asks for the
    rest (a Range request from where the last heartbeat was), the checksum of the whole
    matches, and nothing is Ready before it is all there."""
    fab = await vm_zone(api, hosts=0, network=False)
    zone = fab["zone"]["id"]
    await store(api, settings, zone)
    with serving(tmp_path / "www", rate=MiB) as images:
        name = images.root / "big.raw"
        name.write_bytes(bytes(range(256)) * (16 * MiB // 256))  # 16 MiB: ~16 s at 1 MiB/s
        service = service_process(settings, tmp_path / "service.log").start()
        try:
            body = {
                "name": unique("tpl"),
                "zone_id": zone,
                "url": images.url("big.raw"),
                "format": "raw",
                "checksum": "sha256:" + hashlib.sha256(name.read_bytes()).hexdigest(),
            }
            r = await ok(await api.post("/templates", json=body), 202)
            op_id, tpl_id = r["operation"]["id"], r["resource"]["id"]
            async with asyncio.timeout(30):  # progress is shown while it downloads
                while True:
                    op = await ok(await api.get(f"/operations/{op_id}"))
                    assert op["state"] == "running", op
                    if (op.get("bytes_done") or 0) >= 2 * MiB:
                        break
                    await asyncio.sleep(0.2)
            assert op["bytes_total"] == 16 * MiB and op["step"] == "download"
            service.kill9()
            got = await ok(await api.get(f"/templates/{tpl_id}"))
            assert got["state"] == "Downloading"
            service = service_process(settings, tmp_path / "service.log").start()
            op = await wait_operation(api, op_id, timeout=120)
            assert op["state"] == "succeeded", op
        finally:
            service.stop()
        ranges = [s.range for s in images.log if s.path == "/big.raw"]
        assert ranges[0] is None and ranges[-1] is not None, ranges
        resumed_from = int(ranges[-1].removeprefix("bytes=").rstrip("-"))
        assert resumed_from >= 2 * MiB, ranges
        assert images.sent("big.raw") < 16 * MiB + resumed_from  # not fetched twice whole
    tpl = await ok(await api.get(f"/templates/{tpl_id}"))
    assert (tpl["state"], tpl["format"], tpl["size_bytes"]) == ("Ready", "qcow2", 16 * MiB)
    published = next(p for p in store_files(settings) if p.name == tpl_id)
    back = tmp_path / "back.raw"
    subprocess.run(
        ["qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(published), str(back)], check=True
    )
    assert back.read_bytes() == name.read_bytes()
    assert staged_files(settings) == []


async def test_the_doctor_knows_template_copies(
    api: httpx.AsyncClient,
    platform: Platform,
    db: Database,
    settings: Settings,
    images: ImageServer,
) -> None:
    """A copy file nothing records (deleted), a recorded copy whose file is gone
    (forgotten: the next deploy copies again), an unused copy the garbage collection
    missed (handed back to it)."""
    fab = await vm_zone(api, hosts=1, network=False)
    zone = fab["zone"]["id"]
    await store(api, settings, zone)
    tpl, _ = await register(api, zone, images.url(qcow2(images, "d.qcow2")))
    vm = await deploy(api, {**fab, "template": tpl})
    assert (await wait_operation(api, vm["operation"]["id"]))["state"] == "succeeded"
    (pool,) = platform.fleet.pools.values()
    queue = settings.orchestration_queue

    async def checks(repair: bool = False) -> dict[str, bool]:
        report = await examine(db, platform.client, queue=queue, repair=repair)
        return {f.check: f.repaired for f in report.findings}

    assert await checks() == {}
    stray = f"strato-tpl-{uuid.uuid4()}"
    await pool.cache_template(stray, "sim://elsewhere", MiB)
    assert await checks(repair=True) == {"orphan-template-copy": True}
    assert stray not in {v.name for v in await pool.list_volumes()}

    copy = f"strato-tpl-{tpl['id']}"
    await pool.delete_volume(copy)
    assert await checks(repair=True) == {"template-copy-missing": True}
    again = await deploy(api, {**fab, "template": tpl})
    assert (await wait_operation(api, again["operation"]["id"]))["state"] == "succeeded"
    assert copy in {v.name for v in await pool.list_volumes()}
    async with db.conn() as conn:
        assert await conn.fetchval("SELECT copies FROM template_pool_cache") == 1

    await expunge(api, db, [vm, again])
    async with db.tx() as conn:
        await conn.execute("UPDATE template_pool_cache SET used_at = now() - interval '3 hours'")
    assert await checks(repair=True) == {"template-copy-unused": True}
    assert await evict(db, platform, settings) == 1
    async with asyncio.timeout(30):
        while copy in {v.name for v in await pool.list_volumes()}:
            await asyncio.sleep(0.2)
    assert await checks() == {}


async def test_the_doctor_compares_image_stores(
    api: httpx.AsyncClient,
    platform: Platform,
    db: Database,
    settings: Settings,
    images: ImageServer,
) -> None:
    """An image nothing records (deleted through the template service), a template copy
    recorded Ready whose image is gone (marked Error)."""
    fab = await vm_zone(api, hosts=0, network=False)
    sec = await store(api, settings, fab["zone"]["id"])
    tpl, _ = await register(api, fab["zone"]["id"], images.url(qcow2(images, "d.qcow2")))
    root = Path(sec["url"].removeprefix("file://"))

    async def checks(repair: bool = False) -> dict[str, bool]:
        report = await examine(
            db,
            platform.client,
            queue=settings.orchestration_queue,
            repair=repair,
            templates_queue=settings.templates_queue,
        )
        return {f.check: f.repaired for f in report.findings}

    assert await checks() == {}
    stray = root / "template" / str(uuid.uuid4())
    await asyncio.to_thread(stray.write_bytes, b"left behind")
    assert await checks(repair=True) == {"orphan-image": True}
    assert not await asyncio.to_thread(stray.exists)

    await asyncio.to_thread((root / "template" / tpl["id"]).unlink)
    assert await checks(repair=True) == {"image-missing": True}
    async with db.conn() as conn:
        state = await conn.fetchval("SELECT state FROM template_stores")
    assert state == "Error"
    assert await checks() == {}
