"""The run's private RabbitMQ (:mod:`strato.embedded.rabbitmq`), for the AMQP tests."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import pytest

from strato.embedded.rabbitmq import Rabbit, available

__all__ = ["Rabbit", "rabbit"]


@pytest.fixture(scope="session")
def rabbit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rabbit]:
    """The run's RabbitMQ (skipped where rabbitmq-server is not installed, unless
    STRATO_REQUIRE_RABBITMQ=1, as CI sets)."""
    if not available():
        if os.environ.get("STRATO_REQUIRE_RABBITMQ") == "1":
            pytest.fail("rabbitmq-server is not installed (apt-get install rabbitmq-server)")
        pytest.skip("rabbitmq-server is not installed")
    r = Rabbit(tmp_path_factory.mktemp("rabbit"))
    r.start()
    try:
        asyncio.run(r.ready())
        yield r
    finally:
        r.stop()
