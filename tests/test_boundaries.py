"""ARCHITECTURE §3 boundaries, checked on the import graph of every module."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "strato"


def imports(path: Path, *, everything: bool = False) -> set[str]:
    """The strato modules ``path`` imports (``everything``: every module)."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found if everything else {m for m in found if m.startswith("strato")}


def modules(sub: str) -> list[Path]:
    return sorted((ROOT / sub).rglob("*.py"))


def test_domain_imports_only_domain() -> None:
    for path in modules("domain"):
        bad = {m for m in imports(path) if not m.startswith("strato.domain")}
        assert not bad, f"{path.name} imports {bad}"


def test_drivers_import_only_domain_and_own_family() -> None:
    for path in modules("drivers"):
        rel = path.relative_to(ROOT / "drivers")
        family = rel.parts[0] if len(rel.parts) > 1 else None
        for m in imports(path):
            if m.startswith("strato.domain") or m in (
                "strato.drivers.faults",
                "strato.drivers.hostfs",
                "strato.drivers.registry",
                "strato.drivers.simstate",
            ):
                continue
            if family == "backup" and m == "strato.drivers.storage.secondary":
                continue  # a backup provider keeps its images through secondary storage's contract
            assert family and m.startswith(f"strato.drivers.{family}"), f"{rel} imports {m}"


def test_workflows_do_no_io() -> None:
    allowed = ("strato.domain", "strato.workflows")
    for path in modules("workflows"):
        bad = {m for m in imports(path) if not m.startswith(allowed)}
        assert not bad, f"{path.name} imports {bad}"


def test_api_never_touches_drivers() -> None:
    for path in modules("api"):
        bad = {m for m in imports(path) if m.startswith(("strato.drivers", "strato.activities"))}
        assert not bad, f"{path.name} imports {bad}"


def test_sql_lives_in_schema() -> None:
    # embedded/postgres.py creates the database itself with psql, before any pool exists.
    allowed = {ROOT / "embedded" / "postgres.py"}
    for path in ROOT.rglob("*.py"):
        if "schema" in path.parts or path in allowed:
            continue
        text = path.read_text()
        for verb in ("INSERT INTO", "UPDATE ", "DELETE FROM", "SELECT ", ".fetchval(", ".execute("):
            assert verb not in text, f"{path.relative_to(ROOT)} builds SQL ({verb!r})"


# The layers, lowest first: a module imports only from its own layer or lower ones.
LAYERS = {
    "domain": 0,
    "drivers": 1,
    "schema": 1,
    "activities": 2,
    "workflows": 2,
    "services": 2,
    "doctor": 3,
    "commands": 3,
    "api": 4,
    "workers": 4,
    "cli": 5,
}


# A service's own package (strato/services/<name>/) stands on the whole core, as a
# service from another distribution would: only the seam (services/base.py, loader.py)
# is a layer of the core.
SERVICE = 6


def _layer(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) > 3 and parts[1] == "services":
        return SERVICE
    return LAYERS.get(parts[1]) if len(parts) > 1 else None


def test_imports_run_one_way() -> None:
    """domain <- schema/drivers <- activities/workflows <- commands <- api/workers <- cli."""
    for sub, layer in LAYERS.items():
        for path in modules(sub):
            in_service = sub == "services" and len(path.relative_to(ROOT / sub).parts) > 1
            rank = SERVICE if in_service else layer
            for m in imports(path):
                other = _layer(m)
                assert other is None or other <= rank, (
                    f"{path.relative_to(ROOT)} ({sub}) imports {m}, a higher layer"
                )


def test_front_doors_accept_operations_only_through_commands() -> None:
    """No router records or starts an operation itself: that logic lives once, in
    strato.commands (the API may only call commands and read views)."""
    for path in modules("api"):
        found = imports(path)
        assert "strato.commands.operations" not in found, f"{path.name} accepts operations itself"
        text = path.read_text()
        for token in ("workflow_id(", "start_workflow(", "vms.acquire("):
            assert token not in text, f"{path.relative_to(ROOT)} uses {token!r}"


SUBSYSTEMS = ("fabric", "compute", "storage", "network")
SUBSYSTEM_LAYERS = ("domain", "schema", "workflows", "activities", "api/routers", "api/schemas")


def test_every_layer_has_a_package_per_subsystem() -> None:
    for layer in SUBSYSTEM_LAYERS:
        for sub in SUBSYSTEMS:
            init = ROOT / layer / sub / "__init__.py"
            assert init.exists(), f"strato/{layer}/{sub}/ is missing"
            assert init.read_text().startswith('"""'), f"{init.relative_to(ROOT)} says nothing"


def test_subsystems_do_not_reach_into_each_other_sideways() -> None:
    """Within a layer, a subsystem may use fabric (the estate everything stands on) and its
    own package; compute, storage and network meet only through the domain payloads."""
    for layer in ("schema", "workflows", "activities"):
        for sub in ("storage", "network"):
            for path in sorted((ROOT / layer / sub).rglob("*.py")):
                for m in imports(path):
                    for other in SUBSYSTEMS:
                        if other in (sub, "fabric"):
                            continue
                        assert not m.startswith(f"strato.{layer}.{other}"), (
                            f"{path.relative_to(ROOT)} imports {m}"
                        )


def test_admin_commands_need_only_the_sdk() -> None:
    """strato/cli's admin command modules talk to a platform through strato.sdk alone, so
    the client works where none of the server is installed."""
    for name in ("admin.py", "storage.py", "network.py", "common.py", "output.py"):
        for m in imports(ROOT / "cli" / name):
            assert m.startswith(("strato.sdk", "strato.cli.output", "strato.cli.common")), (
                f"cli/{name} imports {m}"
            )


def test_modules_stay_small() -> None:
    """Split what will not scale: no module of strato/ grows past 450 lines."""
    big = {
        str(p.relative_to(ROOT)): n
        for p in ROOT.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 450
    }
    assert not big, f"modules over 450 lines: {big}"


SDK_MAY_IMPORT = ("strato.sdk", "httpx", "pydantic", "temporalio")


def test_the_sdk_stands_alone() -> None:
    """strato.sdk installs without the server (``pip install strato``, no extras): it
    imports only itself, its three dependencies and the standard library."""
    for path in sorted((ROOT / "sdk").rglob("*.py")):
        for m in imports(path, everything=True):
            top = m.split(".")[0]
            assert m.startswith(SDK_MAY_IMPORT) or (
                top != "strato" and top in sys.stdlib_module_names
            ), f"sdk/{path.relative_to(ROOT / 'sdk')} imports {m}"
