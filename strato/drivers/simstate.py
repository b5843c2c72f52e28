"""Where a simulator driver keeps its state between agent restarts (never used by real ones).

A simulated host outlives its agent like a real one: libvirt keeps its domains when the
agent dies, so the simulator writes its state to a small JSON file after every change
(before the call returns, so a completed activity's effect is never forgotten).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def load(path: Path | None) -> Any:
    """The saved state, or None when there is none (or no file is configured)."""
    if path is None:
        return None
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


def save(path: Path | None, data: Any) -> None:
    """Replace the saved state atomically (write a temporary file, then rename).

    Synchronous on purpose: one small file, and two saves handed to threads could land
    out of order and leave an older state behind."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, separators=(",", ":")))
    os.replace(tmp, path)
