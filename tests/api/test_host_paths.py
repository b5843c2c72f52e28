"""Host paths in templates and pools (issue #11, item 2), as the API sees them: a path
outside the allowed directories, with '.'/'..'/empty segments, or (for an image) inside
the pool directories is a 422 naming the field, and nothing is written. The same paths
refused again on the host, once resolved: tests/drivers/test_host_paths.py."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from strato.domain import paths
from strato.settings import Settings
from tests.conftest import TEST_POOL_ROOT
from tests.helpers import make_fabric, ok, pool_body, table_counts, unique

IMAGE = "/var/lib/strato/images/tiny-guest/vmlinuz"  # under the test image root

BAD_IMAGE_PATHS = [
    "/etc/shadow",
    "/dev/sda",
    "/var/lib/strato/images/../../../etc/shadow",
    "/var/lib/strato/images/./x",
    "/var/lib/strato/images//x",
    "/var/lib/strato/imagesX/vmlinuz",  # a sibling named like a root is not under it
    f"{TEST_POOL_ROOT}/x/pool/strato-vol-1.qcow2",  # another VM's disk
    "/",
]


def _template(**extra: Any) -> dict[str, Any]:
    return {"name": unique("tpl"), "size_bytes": 1 << 20, **extra}


@pytest.mark.parametrize("path", BAD_IMAGE_PATHS)
@pytest.mark.parametrize("field", ["url", "boot.kernel", "boot.initrd"])
async def test_a_template_naming_a_host_file_outside_the_image_roots_is_422(
    api: httpx.AsyncClient, db: Any, field: str, path: str
) -> None:
    before = await table_counts(db)
    if field == "url":
        body = _template(url=f"file://{path}")
    elif field == "boot.kernel":
        body = _template(boot={"kernel": path})
    else:
        body = _template(boot={"kernel": IMAGE, "initrd": path})
    r = await api.post("/templates", json=body)
    assert r.status_code == 422, (field, path, r.text)
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert field in problem["detail"], problem
    assert await table_counts(db) == before


async def test_a_template_under_the_image_roots_is_accepted(api: httpx.AsyncClient) -> None:
    created = await ok(
        await api.post(
            "/templates",
            json=_template(url=f"file://{IMAGE}", boot={"kernel": IMAGE, "initrd": IMAGE}),
        ),
        201,
    )
    assert created["boot"]["kernel"] == IMAGE
    # Not a host path: fetched by the template service into a zone's image store, never
    # opened as a file; what it needs is a zone.
    r = await api.post("/templates", json=_template(url="https://example.org/x.qcow2"))
    assert r.status_code == 422 and r.json()["field"] == "zone_id", r.text


@pytest.mark.parametrize(
    "url",
    [
        "file:///",
        "file:///etc",
        "/etc",
        f"file://{TEST_POOL_ROOT}/../../../etc",
        f"file://{TEST_POOL_ROOT}X/pool",
        "file:///var/lib/strato/images/pool",  # the image roots are not pool roots
    ],
)
async def test_a_pool_directory_outside_the_pool_roots_is_422(
    api: httpx.AsyncClient, db: Any, url: str
) -> None:
    fab = await make_fabric(api, hypervisor="kvm")
    before = await table_counts(db)
    r = await api.post("/storage-pools", json=pool_body(fab["cluster"]["id"], "qcow2", url))
    assert r.status_code == 422, (url, r.text)
    assert r.json()["detail"].startswith("url:"), r.json()
    assert await table_counts(db) == before


async def test_a_pool_under_the_pool_roots_is_accepted(api: httpx.AsyncClient) -> None:
    fab = await make_fabric(api, hypervisor="kvm")
    url = f"file://{TEST_POOL_ROOT}/somewhere/pool"
    pool = await ok(
        await api.post("/storage-pools", json=pool_body(fab["cluster"]["id"], "qcow2", url)),
        201,
    )
    assert pool["url"].endswith("/somewhere/pool")


def test_roots_settings_refuse_slash_and_unclean_paths() -> None:
    for bad in ("/", "relative", "/a/../b", "/a//b", ""):
        with pytest.raises(ValueError):
            Settings(image_roots=bad)
        with pytest.raises(ValueError):
            Settings(pool_roots=bad)
    assert Settings(pool_roots="/srv/pools:/mnt/nfs").pool_root_list == ("/srv/pools", "/mnt/nfs")


def test_the_lexical_rules() -> None:
    roots = ("/srv/images",)
    assert paths.within("/srv/images/a/b.qcow2", roots, "x", "S") == "/srv/images/a/b.qcow2"
    for bad in ("/srv/images/../x", "/srv/imagesX/a", "srv/images/a", "/srv/images/a\x00"):
        with pytest.raises(paths.PathRefused):
            paths.within(bad, roots, "x", "S")
    assert paths.local_path("file:///a/b") == "/a/b"
    assert paths.local_path("/a") == "/a"
    assert paths.local_path("https://h/a") is None and paths.local_path("") is None
    assert paths.inside_any("/p/q/r", ["/x", "/p/q"]) == "/p/q"


async def test_one_location_has_one_pool_and_one_image_store(
    api: httpx.AsyncClient, db: Any, settings: Settings
) -> None:
    """A second pool or image store on a location already taken (a trailing slash is the
    same place) is a 409 naming the url, and nothing is written."""
    fab = await make_fabric(api, hypervisor="kvm")
    url = f"file://{TEST_POOL_ROOT}/{unique('shared')}/pool"
    await ok(
        await api.post("/storage-pools", json=pool_body(fab["cluster"]["id"], "qcow2", url)), 201
    )
    root = settings.image_root_list[-1]
    store = {"name": unique("sec"), "zone_id": fab["zone"]["id"], "url": f"file://{root}/s1"}
    await ok(await api.post("/image-stores", json=store), 201)
    before = await table_counts(db)
    for path, body in (
        ("/storage-pools", pool_body(fab["cluster"]["id"], "qcow2", url + "/")),
        ("/image-stores", {**store, "name": unique("sec"), "url": store["url"] + "/"}),
    ):
        r = await api.post(path, json=body)
        assert r.status_code == 409, r.text
        problem = r.json()
        assert problem["type"].endswith("location-taken") and problem["detail"].startswith("url:")
    assert await table_counts(db) == before
