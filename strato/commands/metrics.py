"""``GET /api/v1/metrics``: the platform's state in Prometheus' text format, read from the
database at each scrape (the names are documented in ``docs/metrics.md``). Workers and
agents serve Temporal's own metrics (step latencies, schedule-to-start, pollers) on
their ``--metrics-listen`` address."""

from __future__ import annotations

import time
from collections.abc import Iterable

from strato.commands.auth import Action
from strato.commands.context import CommandContext
from strato.schema import metrics
from strato.schema.fabric import usage

# (name, type, help): the catalog of what /metrics serves.
METRICS = (
    (
        "strato_operations_total",
        "counter",
        "Operations recorded, by kind and outcome state (running: no outcome yet).",
    ),
    ("strato_hosts", "gauge", "Hosts by connection status and resource state."),
    ("strato_vms", "gauge", "VMs by state (expunged ones are not counted)."),
    ("strato_alerts_active", "gauge", "Active alerts by kind."),
    (
        "strato_capacity_total",
        "gauge",
        "Capacity of each zone, cluster and pool by kind (MHz, MiB, bytes, addresses, segments).",
    ),
    ("strato_capacity_allocated", "gauge", "Allocated capacity, as strato_capacity_total."),
    ("strato_metrics_scrape_seconds", "gauge", "How long this scrape took to read."),
)


def _label(value: object) -> str:
    text = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{text}"'


def _sample(name: str, labels: dict[str, object], value: float) -> str:
    inner = ",".join(f"{k}={_label(v)}" for k, v in labels.items())
    return f"{name}{{{inner}}} {value:g}" if inner else f"{name} {value:g}"


async def render(ctx: CommandContext) -> str:
    await ctx.authorize(Action("metrics.read", "metrics", None, mutating=False))
    started = time.perf_counter()
    samples: dict[str, list[str]] = {name: [] for name, _, _ in METRICS}
    async with ctx.db.conn() as conn:
        for r in await metrics.operations(conn):
            samples["strato_operations_total"].append(
                _sample("strato_operations_total", {"kind": r["kind"], "state": r["state"]}, r["n"])
            )
        for r in await metrics.hosts(conn):
            labels = {"status": r["status"], "resource_state": r["resource_state"]}
            samples["strato_hosts"].append(_sample("strato_hosts", labels, r["n"]))
        for r in await metrics.vms(conn):
            samples["strato_vms"].append(_sample("strato_vms", {"state": r["state"]}, r["n"]))
        for r in await metrics.alerts(conn):
            samples["strato_alerts_active"].append(
                _sample("strato_alerts_active", {"kind": r["kind"]}, r["n"])
            )
        for e in await usage.summary(conn):
            if e.scope not in ("zone", "cluster", "pool"):
                continue  # per host and per network: the API's /capacity
            labels = {"scope": e.scope, "name": e.name, "kind": e.kind}
            samples["strato_capacity_total"].append(
                _sample("strato_capacity_total", labels, e.total)
            )
            samples["strato_capacity_allocated"].append(
                _sample("strato_capacity_allocated", labels, e.allocated)
            )
    took = time.perf_counter() - started
    samples["strato_metrics_scrape_seconds"].append(
        _sample("strato_metrics_scrape_seconds", {}, round(took, 6))
    )
    return "".join(_family(name, kind, text, samples[name]) for name, kind, text in METRICS)


def _family(name: str, kind: str, text: str, lines: Iterable[str]) -> str:
    body = "".join(f"{line}\n" for line in lines)
    return f"# HELP {name} {text}\n# TYPE {name} {kind}\n{body}"
