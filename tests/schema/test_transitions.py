"""The one guarded state writer: legal moves write the state and one event together;
illegal ones, and moves from a state the caller did not expect, write nothing."""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path

import pytest

from strato.domain.errors import IllegalTransition, NotFound
from strato.domain.states import HOST_STATUS, HostStatus, StateMachine
from strato.schema import events, repository
from strato.schema.db import Database
from strato.schema.tables import CLUSTERS, HOSTS, PODS, ZONES
from strato.schema.transitions import HOST, transition

STRATO = Path(__file__).resolve().parents[2] / "strato"


async def _host(db: Database) -> uuid.UUID:
    async with db.tx() as conn:
        zone = await repository.insert(conn, ZONES, {"name": f"z-{uuid.uuid4().hex[:6]}"})
        pod = await repository.insert(conn, PODS, {"zone_id": zone.id, "name": "p"})
        cluster = await repository.insert(
            conn,
            CLUSTERS,
            {"zone_id": zone.id, "pod_id": pod.id, "name": "c", "hypervisor": "simulator"},
        )
        host = await repository.insert(
            conn,
            HOSTS,
            {
                "zone_id": zone.id,
                "pod_id": pod.id,
                "cluster_id": cluster.id,
                "name": f"h-{uuid.uuid4().hex[:8]}",
                "hypervisor": "simulator",
            },
        )
    return host.id


async def _row_and_events(db: Database, host_id: uuid.UUID) -> tuple[str, int, list[str]]:
    async with db.conn() as conn:
        row = await conn.fetchrow("SELECT status, version FROM hosts WHERE id = $1", host_id)
        evs = [e for e in await events.list_after(conn, 0, 1000) if e.resource_id == host_id]
    return row["status"], row["version"], [f"{e.type}:{e.old_state}->{e.new_state}" for e in evs]


async def test_a_legal_move_writes_state_columns_and_one_event(db: Database) -> None:
    host_id = await _host(db)
    op = uuid.uuid4()
    async with db.tx() as conn:
        moved = await transition(
            conn,
            HOST,
            host_id,
            HostStatus.CONNECTING,
            operation_id=op,
            reason="asked",
            columns={"last_error": "asked"},
        )
    assert (moved.old, moved.new, moved.changed) == ("Creating", "Connecting", True)
    status, version, evs = await _row_and_events(db, host_id)
    assert (status, version) == ("Connecting", 2)
    assert evs[-1] == "strato.host.state_changed:Creating->Connecting"
    async with db.conn() as conn:
        last = (await events.list_after(conn, 0, 1000))[-1]
    assert last.operation_id == op and last.payload == {"reason": "asked"}


async def test_an_illegal_move_writes_nothing(db: Database) -> None:
    host_id = await _host(db)
    before = await _row_and_events(db, host_id)
    with pytest.raises(IllegalTransition, match="cannot go from Creating to Up"):
        async with db.tx() as conn:
            await transition(conn, HOST, host_id, HostStatus.UP)
    assert await _row_and_events(db, host_id) == before


async def test_an_unexpected_current_state_writes_nothing(db: Database) -> None:
    host_id = await _host(db)
    before = await _row_and_events(db, host_id)
    with pytest.raises(IllegalTransition, match="is Creating, not Alert"):
        async with db.tx() as conn:
            await transition(
                conn, HOST, host_id, HostStatus.CONNECTING, expected={HostStatus.ALERT}
            )
    assert await _row_and_events(db, host_id) == before


async def test_a_narrower_machine_is_enforced(db: Database) -> None:
    host_id = await _host(db)
    only_error = StateMachine[HostStatus](
        "host (test)", {HostStatus.ERROR: frozenset({HostStatus.CREATING})}
    )
    assert HOST_STATUS.can(HostStatus.CREATING, HostStatus.CONNECTING)
    with pytest.raises(IllegalTransition):
        async with db.tx() as conn:
            await transition(conn, HOST, host_id, HostStatus.CONNECTING, machine=only_error)
    async with db.tx() as conn:
        await transition(conn, HOST, host_id, HostStatus.ERROR, machine=only_error)
    assert (await _row_and_events(db, host_id))[0] == "Error"


async def test_staying_put_writes_no_event_and_a_missing_row_is_not_found(db: Database) -> None:
    host_id = await _host(db)
    async with db.tx() as conn:
        moved = await transition(conn, HOST, host_id, HostStatus.CREATING)
    assert not moved.changed
    assert (await _row_and_events(db, host_id))[1:] == (1, ["strato.host.created:None->Creating"])
    with pytest.raises(NotFound):
        async with db.tx() as conn:
            await transition(conn, HOST, uuid.uuid4(), HostStatus.UP)


async def test_refuses_outside_a_transaction(db: Database) -> None:
    host_id = await _host(db)
    async with db.conn() as conn:
        with pytest.raises(RuntimeError, match="inside the changing transaction"):
            await transition(conn, HOST, host_id, HostStatus.CONNECTING)


async def test_concurrent_movers_serialize_on_the_row(db: Database) -> None:
    """Ten writers race Creating -> Connecting -> Up: each move happens exactly once."""
    host_id = await _host(db)
    results: list[str] = []

    async def mover(target: HostStatus) -> None:
        try:
            async with db.tx() as conn:
                moved = await transition(
                    conn, HOST, host_id, target, expected={HostStatus.CREATING}
                )
                await asyncio.sleep(0.01)
                results.append(f"{moved.old}->{moved.new}")
        except IllegalTransition:
            results.append("refused")

    await asyncio.gather(*(mover(HostStatus.CONNECTING) for _ in range(10)))
    assert results.count("Creating->Connecting") == 1 and results.count("refused") == 9
    evs = (await _row_and_events(db, host_id))[2]
    assert evs.count("strato.host.state_changed:Creating->Connecting") == 1


def set_clauses(text: str) -> list[str]:
    """The SET clauses of the UPDATEs of vms, hosts and volumes in some source text."""
    return re.findall(
        r"UPDATE\s+(?:vms|hosts|volumes)\b(?:\s+\w+)?\s+SET\s+(.*?)(?:\bWHERE\b|\bRETURNING\b|\"\"\"|$)",
        text,
        flags=re.S,
    )


def test_the_state_writer_check_sees_a_state_write() -> None:
    assert set_clauses('"""UPDATE vms SET state = $2, version = 1 WHERE id = $1"""')
    assert any(
        re.search(r"\b(state|status)\s*=", c)
        for c in set_clauses("UPDATE hosts h SET status = 'Up' WHERE h.id = $1")
    )


def test_no_state_is_written_outside_the_transition_writer() -> None:
    """vms.state, hosts.status and volumes.state change only in schema/transitions.py."""
    for path in STRATO.rglob("*.py"):
        if path.name == "transitions.py":
            continue
        for clause in set_clauses(path.read_text()):
            assert not re.search(r"(?<![.\w])(state|status)\s*=", clause), (
                f"{path.relative_to(STRATO)} writes a state: {clause[:120]!r}"
            )
