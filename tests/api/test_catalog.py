from __future__ import annotations

import httpx
import pytest

from strato.schema.db import Database
from tests.helpers import TINY_GUEST, ok, table_counts

IMAGES = TINY_GUEST.parent  # under the test settings' image roots


async def test_service_offering_round_trip(api: httpx.AsyncClient) -> None:
    off = await ok(
        await api.post(
            "/service-offerings",
            json={
                "name": "small",
                "cpu_count": 1,
                "cpu_speed_mhz": 1000,
                "memory_mb": 512,
                "host_tags": ["ssd"],
            },
        ),
        201,
    )
    assert off["state"] == "Active" and off["host_tags"] == ["ssd"]
    upd = await ok(await api.patch(f"/service-offerings/{off['id']}", json={"state": "Inactive"}))
    assert upd["state"] == "Inactive"
    # cpu and memory are immutable: the update model does not accept them
    r = await api.patch(f"/service-offerings/{off['id']}", json={"memory_mb": 1024})
    assert r.status_code == 422


async def test_disk_offering_needs_size_or_custom(api: httpx.AsyncClient, db: Database) -> None:
    before = await table_counts(db)
    r = await api.post("/disk-offerings", json={"name": "nosize"})
    assert r.status_code == 422 and "size_gb" in r.json()["detail"]
    assert await table_counts(db) == before
    await ok(await api.post("/disk-offerings", json={"name": "custom", "custom_size": True}), 201)
    await ok(await api.post("/disk-offerings", json={"name": "d20", "size_gb": 20}), 201)


async def test_template_metadata_and_filters(api: httpx.AsyncClient) -> None:
    zone = await ok(await api.post("/zones", json={"name": "tz"}), 201)
    t = await ok(
        await api.post(
            "/templates",
            json={
                "name": "tiny",
                "zone_id": zone["id"],
                "format": "raw",
                "boot": {"kernel": f"{IMAGES}/vmlinuz", "initrd": f"{IMAGES}/initrd.img"},
            },
        ),
        201,
    )
    assert t["boot"]["kernel"] == f"{IMAGES}/vmlinuz" and t["state"] == "Ready"
    page = await ok(await api.get("/templates", params={"format": "raw"}))
    assert [x["id"] for x in page["items"]] == [t["id"]]
    assert (await ok(await api.get("/templates", params={"format": "qcow2"})))["items"] == []


@pytest.mark.parametrize(
    ("boot", "why"),
    [
        ({"kernel": "vmlinuz"}, "boot.kernel must be an absolute path"),
        ({"initrd": "/i.img"}, "boot.initrd needs boot.kernel"),
        ({"kernel": "/k", "firmware": "uefi"}, "firmware"),
    ],
)
async def test_unbootable_template_definitions_rejected(
    api: httpx.AsyncClient, db: Database, boot: dict[str, str], why: str
) -> None:
    before = await table_counts(db)
    r = await api.post("/templates", json={"name": "bad", "boot": boot})
    assert r.status_code == 422 and why in r.text
    assert await table_counts(db) == before


@pytest.mark.parametrize(
    "body",
    [
        {"name": "z", "cpu_count": 0, "cpu_speed_mhz": 1000, "memory_mb": 512},
        {"name": "z", "cpu_count": -1, "cpu_speed_mhz": 1000, "memory_mb": 512},
        {"name": "z", "cpu_count": 1, "cpu_speed_mhz": 1000, "memory_mb": "lots"},
        {"name": "z", "cpu_count": 1, "cpu_speed_mhz": 1000},
        {"name": "z", "cpu_count": 1.5, "cpu_speed_mhz": 1000, "memory_mb": 512},
        {"name": "z", "cpu_count": 1, "cpu_speed_mhz": 1000, "memory_mb": 2**40},
    ],
)
async def test_bad_offerings_rejected(
    api: httpx.AsyncClient, db: Database, body: dict[str, object]
) -> None:
    before = await table_counts(db)
    r = await api.post("/service-offerings", json=body)
    assert r.status_code == 422, r.text
    assert await table_counts(db) == before
