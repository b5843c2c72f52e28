"""Asking a guest whether it serves, from its host: a TCP connect to its port, or an
HTTP GET of a path answered 2xx/3xx. The managed services' health checks (the agent of
the instance's host runs them, so they cross no network the guest's host could not)."""

from __future__ import annotations

import asyncio
import contextlib

from strato.domain.fleet.flows import GuestProbe, ProbeOutcome


def _target(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


async def probe_address(probe: GuestProbe) -> ProbeOutcome:
    """The probe's outcome; never raises (a refusal, a timeout and an HTTP error are
    outcomes, with what happened in ``detail``)."""
    if not probe.address:
        return ProbeOutcome(ok=False, detail="the instance has no address to check")
    target = _target(probe.address, probe.port)
    try:
        async with asyncio.timeout(probe.timeout_s):
            reader, writer = await asyncio.open_connection(probe.address, probe.port)
            try:
                if probe.kind != "http":
                    return ProbeOutcome(ok=True, detail=f"{target} accepts connections")
                host = target.rsplit(":", 1)[0]
                writer.write(
                    f"GET {probe.path} HTTP/1.0\r\nHost: {host}\r\n"
                    "User-Agent: strato-health\r\nConnection: close\r\n\r\n".encode()
                )
                await writer.drain()
                line = (await reader.readline()).decode("latin-1").strip()
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
    except TimeoutError:
        return ProbeOutcome(ok=False, detail=f"{target}: no answer in {probe.timeout_s:g} s")
    except OSError as err:
        return ProbeOutcome(ok=False, detail=f"{target}: {err.strerror or err}")
    parts = line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        return ProbeOutcome(ok=False, detail=f"GET {probe.path} at {target}: not HTTP ({line!r})")
    ok = 200 <= int(parts[1]) < 400
    return ProbeOutcome(ok=ok, detail=f"GET {probe.path} at {target}: {line}")
