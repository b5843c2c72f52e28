"""Every command, given junk: a malformed value in each parameter, an unknown id in each
id parameter, its required parameters left out. Each answer is CloudStack's envelope
with its error code (never 530, an internal error), or a success; and nothing in the
database changed."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from strato.schema.db import Database
from strato.services.acl import rules
from strato.services.cloudstack_api import registry
from tests.conftest import Platform
from tests.helpers import table_counts
from tests.services.cloudstack_api.conftest import CsClient, CsCloud
from tests.workflows.vm_helpers import vm_zone

JUNK = {
    "uuid": "not-a-uuid",
    "integer": "12x",
    "long": "9" * 30,
    "short": "-",
    "boolean": "maybe",
    "list": "a,,b",
    "date": "yesterday",
    "string": "bad name '\"%<>",
}


def _junk(cmd: registry.Command, valid_ids: bool) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for p in cmd.params:
        if p.type == "map":
            params[f"{p.name}[0].key"] = "bad key ' %"
            params[f"{p.name}[0].value"] = "x"
        elif p.type == "uuid" and valid_ids:
            params[p.name] = str(uuid4())
        else:
            params[p.name] = JUNK[p.type]
    return params


async def _probe(client: CsClient, cmd: registry.Command, params: dict[str, Any]) -> int:
    r = await client.raw(cmd.name, **params)
    (envelope,) = r.json().values()
    if r.status_code == 200:
        return 200
    assert envelope["errorcode"] == r.status_code, (cmd.name, params, envelope)
    assert r.status_code != 530, (cmd.name, params, envelope)  # no internal error
    assert envelope["errortext"], envelope
    return r.status_code


async def test_junk_in_every_parameter_is_refused_and_changes_nothing(
    platform: Platform, cs_cloud: CsCloud, db: Database
) -> None:
    await vm_zone(cs_cloud.acl.admin, hosts=1)
    _, _, user = await cs_cloud.account()
    _, _, admin = await cs_cloud.account(role=rules.ROOT_ADMIN)
    before = await table_counts(db)
    seen: dict[int, int] = {}
    for cmd in registry.REGISTRY.values():
        if cmd.name in ("logout",):
            continue
        for client in (user, admin):
            for params in (_junk(cmd, False), _junk(cmd, True), {}):
                code = await _probe(client, cmd, params)
                seen[code] = seen.get(code, 0) + 1
    after = await table_counts(db)
    changed = {t: (before.get(t), n) for t, n in after.items() if before.get(t) != n}
    assert not changed, changed
    assert seen.get(431, 0) > 200 and set(seen) <= {200, 401, 431, 432, 531}, seen
