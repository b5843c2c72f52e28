"""``python -m tests.chaos [--seconds N] [--seed S] [--kills-per-kind K]`` (``make chaos``)."""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path

from tests.chaos.harness import run


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__)
    p.add_argument("--seconds", type=float, default=300)
    p.add_argument("--seed", type=int, default=None, help="default: a new random seed")
    p.add_argument("--kills-per-kind", type=int, default=None, help="default: one per 40s")
    p.add_argument("--workdir", type=Path, default=None, help="default: a temporary directory")
    args = p.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**9)
    per_kind = args.kills_per_kind or max(3, int(args.seconds // 40))
    with tempfile.TemporaryDirectory(prefix="strato-chaos-") as tmp:
        workdir = args.workdir or Path(tmp)
        failures, report = run(workdir, seed=seed, seconds=args.seconds, kills_per_kind=per_kind)
    print(report)
    if failures:
        print("\nFAILED:\n" + "\n".join(failures))
        return 1
    print("\nPASSED: every operation terminal, nothing transitional, doctor clean, events exact")
    return 0


if __name__ == "__main__":
    sys.exit(main())
