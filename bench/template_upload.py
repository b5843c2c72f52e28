"""A template uploaded through the API: Strato's path vs copying the same file into the
store and checking it by hand, side by side in one run.

Strato: ``POST /templates/upload`` with the image streamed as the body (1 MiB chunks read
from disk), through the API's handler (in-process over ASGI: no socket) into the stage of
a directory image store, then RegisterTemplate on the template service (sha256 of the
staged bytes, ``qemu-img info`` with the format pinned, publish by rename), until the
operation has succeeded. Direct: ``cp`` of the file into the store directory, then
``sha256sum`` and ``qemu-img info`` of the copy (what an operator would run).

The image is a qcow2 of SIZE with every byte written (random data: nothing sparse).
Runs alternate (Strato, direct, ...) so both see the same machine load. Needs root (the
store lies under /var/lib/strato/images, the default image root).
Run: python -m bench.template_upload [N] [SIZE_MIB]   (default N=3, SIZE_MIB=1024)
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from bench.stack import embedded_stack
from bench.template_copy import build_image
from strato.domain.paths import DEFAULT_IMAGE_ROOTS

MiB = 1 << 20


async def chunks(path: Path) -> AsyncIterator[bytes]:
    f = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(f.read, MiB):
            yield chunk
    finally:
        f.close()


async def wait(api: httpx.AsyncClient, op_id: str) -> dict[str, object]:
    while True:
        op: dict[str, object] = (await api.get(f"/operations/{op_id}")).json()
        if op["state"] in ("succeeded", "failed", "cancelled"):
            return op
        await asyncio.sleep(0.05)


async def strato_run(api: httpx.AsyncClient, zone: str, image: Path, digest: str) -> float:
    params = {"name": f"up-{uuid.uuid4().hex[:8]}", "zone_id": zone, "checksum": digest}
    headers = {"Content-Type": "application/octet-stream"}
    t0 = time.perf_counter()
    r = await api.post("/templates/upload", params=params, content=chunks(image), headers=headers)
    assert r.status_code == 202, r.text
    op = await wait(api, r.json()["operation"]["id"])
    elapsed = time.perf_counter() - t0
    assert op["state"] == "succeeded", op
    gone = await api.delete(f"/templates/{r.json()['resource']['id']}")
    await wait(api, gone.json()["operation"]["id"])
    return elapsed


def direct_run(store: Path, image: Path) -> float:
    dest = store / "direct" / image.name
    dest.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    subprocess.run(["cp", str(image), str(dest)], check=True)
    subprocess.run(["sha256sum", str(dest)], check=True, capture_output=True)
    subprocess.run(
        ["qemu-img", "info", "-f", "qcow2", "--output=json", str(dest)],
        check=True,
        capture_output=True,
    )
    elapsed = time.perf_counter() - t0
    shutil.rmtree(dest.parent)
    return elapsed


async def main(n: int, size_mib: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="strato-upload-bench-"))
    store = Path(DEFAULT_IMAGE_ROOTS) / f"bench-{uuid.uuid4().hex[:8]}"
    store.mkdir(parents=True)
    try:
        image = work / "image.qcow2"
        build_image(image, size_mib)
        digest = "sha256:" + hashlib.sha256(image.read_bytes()).hexdigest()
        async with embedded_stack() as stack:
            api = stack.api
            zone = (await api.post("/zones", json={"name": "bench"})).json()["id"]
            body = {"name": "bench", "zone_id": zone, "url": f"file://{store}"}
            assert (await api.post("/image-stores", json=body)).status_code == 201
            times: dict[str, list[float]] = {"strato": [], "direct": []}
            for _ in range(n):
                times["strato"].append(await strato_run(api, zone, image, digest))
                times["direct"].append(direct_run(store, image))
        size = image.stat().st_size
        print(f"upload of a {size / MiB:.0f} MiB qcow2 (random data), {n} runs each")
        for name, ts in times.items():
            med = statistics.median(ts)
            print(f"  {name:7s} median {med:6.2f} s  ({size / MiB / med:6.0f} MiB/s)  {ts}")
        ratio = statistics.median(times["strato"]) / statistics.median(times["direct"])
        print(f"  ratio strato/direct: {ratio:.2f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(store, ignore_errors=True)


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    asyncio.run(main(*(args + [3, 1024][len(args) :])))
