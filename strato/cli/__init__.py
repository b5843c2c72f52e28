"""The ``strato`` command: run the platform's processes and manage it from a shell.

Human tables and live progress by default, ``--json`` for scripts. The API URL and key
come from STRATO_API_URL / STRATO_API_KEY or the client config that ``strato up`` writes.

- ``server.py``: up, api, worker, agent, migrate, doctor (the server's processes and tools);
- ``admin.py``, ``storage.py``, ``network.py``, ``fabric.py``, ``webhooks.py``: everything
  else, over the REST API through :mod:`strato.sdk` only (``common.py``: what they share);
- ``output.py``: tables, progress bars, JSON (rich);
- switched-on optional services add their own commands (:mod:`strato.services`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """The console entry: the command needs the platform's packages (the ``server``
    extra); with the SDK alone it says so instead of failing on an import."""
    try:
        from strato.cli.app import run
    except ModuleNotFoundError as err:
        print(
            f"error: the strato command needs the platform's packages ({err.name} is not "
            "installed): pip install 'strato[server]'",
            file=sys.stderr,
        )
        return 2
    return run(argv)
