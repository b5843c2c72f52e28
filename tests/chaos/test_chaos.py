"""A short, seeded chaos run in CI (``make chaos SECONDS=1800`` runs a long one)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.chaos.harness import run


@pytest.mark.system
def test_chaos_short_seeded_run(tmp_path: Path) -> None:
    seed = int(os.environ.get("STRATO_CHAOS_SEED", "20261121"))
    seconds = float(os.environ.get("STRATO_CHAOS_SECONDS", "30"))
    failures, report = run(tmp_path, seed=seed, seconds=seconds, kills_per_kind=3)
    print(report)
    assert not failures, "\n".join(failures) + "\n\n" + report
