"""docker-compose.yml is validated statically (no Docker engine runs on these machines)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from strato.cli.app import build_parser
from strato.embedded.temporal import SEARCH_ATTRIBUTES
from strato.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def test_production_services_exist(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in (
        "postgres",
        "temporal",
        "temporal-db",
        "temporal-ui",
        "strato-api",
        "strato-orchestrator",
        "strato-migrate",
        "strato-event-relay",
        "strato-template-service",
    ):
        assert name in services, name
    # Temporal keeps its own database, never Strato's.
    assert services["temporal"]["environment"]["POSTGRES_SEEDS"] == "temporal-db"


def test_images_are_pinned(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        image = svc.get("image", "")
        assert image and ":" in image and not image.endswith(":latest"), name


def test_depends_on_reference_real_services_with_valid_conditions(compose: dict[str, Any]) -> None:
    services = compose["services"]
    valid = {"service_started", "service_healthy", "service_completed_successfully"}
    for name, svc in services.items():
        for dep, spec in (svc.get("depends_on") or {}).items():
            assert dep in services, f"{name} depends on unknown {dep}"
            assert spec["condition"] in valid
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in services[dep], f"{dep} has no healthcheck"
            if spec["condition"] == "service_completed_successfully":
                assert services[dep].get("restart") == "no", f"{dep} must be a one-shot job"


def test_strato_commands_parse_with_our_cli(compose: dict[str, Any]) -> None:
    parser = build_parser()
    for name, svc in compose["services"].items():
        if not name.startswith("strato-"):
            continue
        args = parser.parse_args(svc["command"])
        assert args.command in ("api", "worker", "agent", "migrate", "events", "service")
        env = svc["environment"]
        assert "@postgres:5432/" in env["STRATO_DATABASE_URL"]
        assert env["STRATO_TEMPORAL_ADDRESS"] == "temporal:7233"


def test_api_port_and_healthcheck_agree(compose: dict[str, Any]) -> None:
    api = compose["services"]["strato-api"]
    port = api["command"][api["command"].index("--port") + 1]
    assert f"{port}:{port}" in api["ports"]
    assert f":{port}/api/v1/health" in " ".join(api["healthcheck"]["test"])


def test_search_attributes_match_the_embedded_server(compose: dict[str, Any]) -> None:
    script = compose["services"]["temporal-search-attributes"]["command"][0]
    for attr, kind in SEARCH_ATTRIBUTES.items():
        assert re.search(rf"\b{attr}\b.*--type {kind}\b", script) or (
            kind == "Keyword" and attr in script.split(";")[0]
        ), attr


def test_dockerfile_installs_the_cli() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert (
        'ENTRYPOINT ["strato"]' in text and ".[server]" in text
    )  # the platform, not the SDK alone


def test_nothing_that_drives_workflows_is_published_beyond_the_host(
    compose: dict[str, Any],
) -> None:
    """Temporal's frontend and UI can start and terminate any workflow: the frontend is not
    published at all, the UI only on loopback; database passwords are not in the file."""
    services = compose["services"]
    assert "ports" not in services["temporal"]
    assert all(p.startswith("127.0.0.1:") for p in services["temporal-ui"]["ports"])
    text = (ROOT / "docker-compose.yml").read_text()
    assert "${STRATO_DB_PASSWORD:?" in text and "${TEMPORAL_DB_PASSWORD:?" in text
    for svc in ("postgres", "temporal-db"):
        assert services[svc]["environment"]["POSTGRES_PASSWORD"].startswith("${")


def test_host_queues_get_one_partition_and_the_shared_queues_four(
    compose: dict[str, Any],
) -> None:
    """The dynamic config the Temporal service mounts: one partition by default (every
    host and pool queue), four for the orchestration and templates queues."""
    svc = compose["services"]["temporal"]
    mount = next(v for v in svc["volumes"] if v.startswith("./deploy/temporal/"))
    source, target = mount.split(":")[:2]
    # The image resolves the path from its working directory, /etc/temporal.
    assert target == "/etc/temporal/" + svc["environment"]["DYNAMIC_CONFIG_FILE_PATH"]
    config = yaml.safe_load((ROOT / source).read_text())
    settings = Settings()
    shared = {settings.orchestration_queue, settings.templates_queue}
    for key in ("matching.numTaskqueueReadPartitions", "matching.numTaskqueueWritePartitions"):
        rules = config[key]
        assert [r["value"] for r in rules if "constraints" not in r] == [1]
        assert {r["constraints"]["taskQueueName"]: r["value"] for r in rules[1:]} == {
            q: 4 for q in shared
        }
