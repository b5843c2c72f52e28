"""Run the blue/green example: its worker, or one redeploy.

    python examples/bluegreen/run.py worker [--app bluegreen]
    python examples/bluegreen/run.py redeploy SPEC.json [--app bluegreen] [--id ID]

The worker serves the app's task queue (``app-bluegreen``) until interrupted; a
redeploy starts a run (its id fixed by --id, so asking again joins the same run) and
prints the group it leaves serving, as JSON. The API and Temporal are found as the SDK
finds them (STRATO_API_URL / STRATO_API_KEY or ``strato up``'s client config;
STRATO_TEMPORAL_ADDRESS).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from temporalio.common import WorkflowIDConflictPolicy

sys.path.insert(0, str(Path(__file__).resolve().parent))

from flows import BlueGreenRedeploy

from strato.sdk import AsyncStratoClient
from strato.sdk.worker import connect, start, worker


async def serve(app: str) -> None:
    client = await connect()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    async with (
        AsyncStratoClient.from_env() as api,
        worker(client, api, app=app, workflows=[BlueGreenRedeploy]),
    ):
        print(f"serving app-{app}", flush=True)
        await stop.wait()


async def redeploy(spec: dict[str, Any], app: str, run_id: str | None) -> None:
    client = await connect()
    serving = [m["vm"] for m in spec.get("serving") or []]
    handle = await start(
        client,
        BlueGreenRedeploy.run,
        spec,
        app=app,
        id=run_id or f"bluegreen-{spec['group']}-g{spec['generation']}",
        resources=[spec["ip_id"], *serving],
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    print(json.dumps(await handle.result()), flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=["worker", "redeploy"])
    ap.add_argument("spec", nargs="?", type=Path)
    ap.add_argument("--app", default="bluegreen")
    ap.add_argument("--id", default=None)
    args = ap.parse_args()
    if args.command == "worker":
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(args.app))
        return 0
    if args.spec is None:
        ap.error("redeploy needs SPEC.json")
    asyncio.run(redeploy(json.loads(args.spec.read_text()), args.app, args.id))
    # A short-lived process that used a Temporal client may abort in the interpreter's
    # finalization (temporalio/sdk-python#300: "PyGILState_Release ... finalizing", seen
    # here with 1.35): the result is printed and flushed, so leave without finalizing.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
