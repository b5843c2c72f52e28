"""The ``strato`` command's parser and dispatch (see :mod:`strato.cli`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from strato.cli import admin, directory, fabric, network, server, storage, webhooks
from strato.sdk.client import StratoApiError, StratoClient
from strato.services import loader
from strato.services.base import Service
from strato.settings import Settings

DESCRIPTION = "The ``strato`` command: run the platform's processes and manage it from a shell."


def build_parser(services: Sequence[Service] = ()) -> argparse.ArgumentParser:
    """The core's commands, then those of the switched-on ``services``."""
    p = argparse.ArgumentParser(prog="strato", description=DESCRIPTION)
    sub = p.add_subparsers(dest="command", required=True)
    server.add_commands(sub)
    admin.add_commands(sub)
    storage.add_commands(sub)
    network.add_commands(sub)
    fabric.add_commands(sub)
    webhooks.add_commands(sub)
    directory.add_commands(sub)
    for service in services:
        service.add_commands(sub)
    return p


def run(argv: Sequence[str] | None = None) -> int:
    try:
        services = loader.enabled(Settings())
    except loader.ServiceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    args = build_parser(services).parse_args(argv)
    if args.command in server.SERVER_COMMANDS or getattr(args, "server", False):
        return server.run(args)
    api = StratoClient.from_env(Settings().data_dir)
    try:
        code: int = args.handler(args, api)
        return code
    except StratoApiError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        api.close()
