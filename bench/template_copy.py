"""A template fetched over HTTP and copied to a pool: Strato's path vs curl + qemu-img
convert of the same file, side by side in one run.

Strato: the template service's download activity (its own code, run in Temporal's
ActivityEnvironment: no server round trips) into a directory image store (HTTP GET with
the sha256 computed on the way, qemu-img info checks, publish by rename), then the qcow2
pool's cache_template (the one copy a first deploy makes on the pool; every root disk is
then a thin clone of it). Direct: ``curl -o`` of the same URL, then ``qemu-img convert
-O qcow2`` of the file into the pool. Both read the same local HTTP server (127.0.0.1, a
process of its own).

The image is a qcow2 of SIZE with every byte written (random data: nothing sparse).
With a checksum, each side verifies it while the bytes arrive (Strato's sha256 in a
thread beside the transfer; ``curl | tee | sha256sum`` directly).
Runs alternate (Strato, direct, ...) so both see the same machine load.
Run: python -m bench.template_copy [N] [SIZE_MIB]   (default N=3, SIZE_MIB=1024)
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from temporalio.testing import ActivityEnvironment

from strato.activities.storage.templates import TemplateActivities
from strato.domain.storage.templates import DownloadInput, StoreRef
from strato.drivers.storage.qcow2 import Qcow2PrimaryStorage

MiB = 1 << 20


def build_image(path: Path, size_mib: int) -> None:
    raw = path.with_suffix(".raw")
    with open(raw, "wb") as f:
        for _ in range(size_mib):
            f.write(os.urandom(MiB))
    subprocess.run(
        ["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(path)], check=True
    )
    raw.unlink()


async def strato_run(work: Path, url: str, checksum: str | None) -> float:
    images, pools = work / "images", work / "pools"
    store = StoreRef(
        store_id=uuid.uuid4(), name="bench", driver="directory", url=f"file://{images}/store"
    )
    service = TemplateActivities((str(images),))
    pool = Qcow2PrimaryStorage(
        "bench", path=f"file://{pools}/p1", image_roots=(str(images),), pool_roots=(str(pools),)
    )
    inp = DownloadInput(
        template_id=uuid.uuid4(),
        store=store,
        url=url,
        format="qcow2",
        checksum=checksum,
        max_bytes=1 << 40,
    )
    t0 = time.perf_counter()
    image = await ActivityEnvironment().run(service.download, inp)
    await pool.cache_template(f"strato-tpl-{inp.template_id}", image.path, image.size_bytes)
    elapsed = time.perf_counter() - t0
    shutil.rmtree(images / "store")
    shutil.rmtree(pools / "p1")
    return elapsed


def direct_run(work: Path, url: str, checksum: bool = False) -> float:
    pool = work / "direct"
    pool.mkdir(exist_ok=True)
    t0 = time.perf_counter()
    if checksum:  # verified on the way, as an operator would: curl | tee | sha256sum
        subprocess.run(
            f"set -o pipefail; curl -sSf {url} | tee {pool / 'dl.qcow2'} | sha256sum >/dev/null",
            shell=True,
            check=True,
            executable="/bin/bash",
        )
    else:
        subprocess.run(["curl", "-sSf", "-o", str(pool / "dl.qcow2"), url], check=True)
    subprocess.run(
        [
            "qemu-img",
            "convert",
            "-f",
            "qcow2",
            "-O",
            "qcow2",
            str(pool / "dl.qcow2"),
            str(pool / "t.qcow2"),
        ],
        check=True,
    )
    elapsed = time.perf_counter() - t0
    shutil.rmtree(pool)
    return elapsed


async def measure(work: Path, url: str, digest: str, n: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {
        "strato": [],
        "direct": [],
        "strato + sha256": [],
        "direct + sha256": [],
    }
    for i in range(n):
        times["strato"].append(await strato_run(work, url, None))
        times["direct"].append(direct_run(work, url))
        times["strato + sha256"].append(await strato_run(work, url, digest))
        times["direct + sha256"].append(direct_run(work, url, checksum=True))
        print(f"run {i + 1}/{n}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()))
    return times


def main(n: int, size_mib: int) -> None:
    import strato.drivers.storage.qcow2 as qcow2

    qcow2._qemu_user = lambda: None  # no guest reads these: QEMU's reach is not asked
    work = Path(tempfile.mkdtemp(prefix="strato-bench-tpl-", dir="/var/tmp"))
    try:
        www = work / "www"
        www.mkdir()
        print(f"building a {size_mib} MiB qcow2 of random data ...", flush=True)
        build_image(www / "t.qcow2", size_mib)
        digest = "sha256:" + hashlib.sha256((www / "t.qcow2").read_bytes()).hexdigest()
        # The server in a process of its own, as a real one would be (in this process it
        # would share the interpreter with the download it serves).
        server = subprocess.Popen(
            [sys.executable, "-m", "tests.images_http", str(www)], stdout=subprocess.PIPE, text=True
        )
        try:
            assert server.stdout is not None
            url = f"http://127.0.0.1:{int(server.stdout.readline())}/t.qcow2"
            times = asyncio.run(measure(work, url, digest, n))
        finally:
            server.kill()
            server.wait()
        print(f"\ntemplate of {size_mib} MiB, HTTP -> image store -> pool, median of {n}:")
        for name, xs in times.items():
            med = statistics.median(xs)
            base = statistics.median(times[name.replace("strato", "direct")])
            ratio = f"   {med / base:.2f}x its direct twin" if name.startswith("strato") else ""
            print(f"  {name:<16} {med:7.2f} s  {size_mib / med:7.1f} MiB/s{ratio}")
        print("  target: strato <= 1.10x direct (curl + qemu-img convert)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 1024
    main(runs, size)
