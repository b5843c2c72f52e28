"""How the CLI shows things: rich tables and live progress on a terminal, plain lines
when piped, JSON with ``--json``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

# Piped output is read by scripts and tests: no colour, no wrapping of long rows.
console = Console(highlight=False, soft_wrap=True)
errors = Console(stderr=True, highlight=False, soft_wrap=True)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> Table:
    t = Table(box=None, pad_edge=False, header_style="bold")
    for c in columns:
        t.add_column(c.upper(), overflow="fold")
    for r in rows:
        t.add_row(*(_cell(r.get(c)) for c in columns))
    return t


def emit(data: Any, as_json: bool, columns: Sequence[str] | None = None) -> None:
    if as_json:
        print(json.dumps(data, indent=2, default=str))
    elif isinstance(data, list):
        console.print(table(data, columns or sorted({k for r in data for k in r})))
    else:
        t = Table(box=None, show_header=False, pad_edge=False)
        t.add_column(style="bold")
        t.add_column(overflow="fold")
        for k, v in data.items():
            t.add_row(k, _cell(v))
        console.print(t)


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB"


def transfer(op: dict[str, Any]) -> str:
    """`` - 120.0 of 512.0 MiB`` while a step moves bytes (a download), else ""."""
    done = op.get("bytes_done")
    if done is None:
        return ""
    total = op.get("bytes_total")
    return f" - {_mib(done)}" + (f" of {_mib(total)}" if total else "")


def percent(op: dict[str, Any]) -> int:
    """The operation's progress; a transfer's own while bytes move."""
    done, total = op.get("bytes_done"), op.get("bytes_total")
    if done is not None and total:
        return min(99, int(100 * done / total))
    return int(op["progress"])


def progress_line(op: dict[str, Any]) -> str:
    detail = f" - {op['detail']}" if op.get("detail") else ""
    return f"  [{percent(op):3d}%] {op['state']}: {op['step']}{detail}{transfer(op)}"


def _bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=console,
    )


@contextmanager
def byte_progress(title: str, total: int) -> Iterator[Callable[[int], None]]:
    """A callback counting bytes sent: a live bar on a terminal, one line at the end
    otherwise."""
    if not console.is_terminal:
        sent = [0]
        yield lambda n: sent.__setitem__(0, sent[0] + n)
        console.print(f"{title}: {sent[0] / 2**20:.1f} MiB sent")
        return
    bar = _bar()
    task = bar.add_task(title, total=total)
    with bar:
        yield lambda n: bar.advance(task, n)


@contextmanager
def operation_progress(title: str) -> Iterator[Callable[[dict[str, Any]], None]]:
    """A callback for each change of an operation: a live bar on a terminal, one line per
    change otherwise."""
    if not console.is_terminal:
        console.print(title)
        yield lambda op: console.print(progress_line(op))
        return
    bar = _bar()
    task = bar.add_task(title, total=100)

    def show(op: dict[str, Any]) -> None:
        detail = f" - {op['detail']}" if op.get("detail") else ""
        bar.update(
            task,
            completed=percent(op),
            description=f"{title}  {op['state']}: {op['step']}{detail}{transfer(op)}",
        )

    with bar:
        yield show


def show_processes(instances: list[dict[str, Any]]) -> None:
    """Each kind with its counts by health; the unhealthy ones named."""
    for kind in sorted({i["kind"] for i in instances}):
        mine = [i for i in instances if i["kind"] == kind]
        counts = {
            h: sum(1 for i in mine if i["health"] == h) for h in ("passing", "warning", "critical")
        }
        shown = ", ".join(f"{n} {h}" for h, n in counts.items() if n)
        console.print(f"{kind:<20} {shown}")
        for i in mine:
            if i["health"] != "passing":
                console.print(f"  {i['name']}: {i['health']} ({i.get('health_detail') or ''})")
    if not instances:
        console.print("no process is registered in the services directory")
