"""Webhook subscriptions through the API: made, shown without their secret, changed and
removed; bad input refused with a specific problem and nothing written."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from strato.schema.db import Database
from tests.helpers import ok, table_counts

SECRET = "s3cret-of-sixteen+"


def _body(**over: Any) -> dict[str, Any]:
    return {
        "name": "audit",
        "url": "http://127.0.0.1:9/hook",
        "secret": SECRET,
        "types": ["strato.vm.*"],
        "allow_internal": True,
        **over,
    }


async def test_a_subscription_is_made_shown_changed_and_removed(
    api: httpx.AsyncClient, db: Database
) -> None:
    hook = await ok(await api.post("/webhooks", json=_body(resource_types=["vm"])), 201)
    assert "secret" not in hook
    assert (hook["types"], hook["resource_types"], hook["max_attempts"]) == (
        ["strato.vm.*"],
        ["vm"],
        8,
    )
    listed = await ok(await api.get("/webhooks"))
    assert [h["id"] for h in listed["items"]] == [hook["id"]]
    changed = await ok(
        await api.patch(f"/webhooks/{hook['id']}", json={"types": ["*.deleted"]}),
    )
    assert changed["types"] == ["*.deleted"] and changed["version"] == 2
    async with db.conn() as conn:
        kinds = [
            r["type"]
            for r in await conn.fetch(
                "SELECT type FROM events WHERE resource_type = 'webhook' ORDER BY seq"
            )
        ]
        stored = await conn.fetchval("SELECT secret FROM webhooks WHERE id = $1", hook["id"])
    assert kinds == ["strato.webhook.created", "strato.webhook.updated"]
    assert stored == SECRET
    assert (await api.get(f"/webhooks/{hook['id']}/deliveries")).json() == []
    assert (await api.delete(f"/webhooks/{hook['id']}")).status_code == 204
    assert (await api.get(f"/webhooks/{hook['id']}")).status_code == 404


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        (_body(url="ftp://example.com/x"), "url", "http:// or https://"),
        (_body(url="file:///etc/passwd"), "url", "http:// or https://"),
        (_body(url="http://127.0.0.1:8080/", allow_internal=False), "url", "loopback"),
        (_body(url="http://[::1]:8080/", allow_internal=False), "url", "loopback"),
        (_body(url="http://169.254.169.254/latest", allow_internal=False), "url", "link-local"),
        (_body(url="http://localhost:8080/", allow_internal=False), "url", "loopback"),
        (_body(url="http://no-such-host.invalid/"), "url", "does not resolve"),
        (_body(types=["strato.vmm.*"]), "types[0]", "matches no event type"),
        (_body(types=["strato.vm.*", "nothing"]), "types[1]", "matches no event type"),
        (_body(resource_types=["spaceship"]), "resource_types[0]", "no event is about"),
        (_body(secret="short"), "secret", "at least 16"),
        (_body(max_attempts=0), "max_attempts", "greater than or equal to 1"),
    ],
)
async def test_bad_subscriptions_are_refused_and_change_nothing(
    api: httpx.AsyncClient, db: Database, body: dict[str, Any], field: str, words: str
) -> None:
    before = await table_counts(db)
    r = await api.post("/webhooks", json=body)
    assert r.status_code in (400, 422), r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert words in r.text, problem
    assert field in r.text, problem
    assert await table_counts(db) == before


async def test_a_change_is_checked_like_a_new_subscription(
    api: httpx.AsyncClient, db: Database
) -> None:
    hook = await ok(
        await api.post("/webhooks", json=_body(url="http://127.0.0.1:9/", allow_internal=True)),
        201,
    )
    before = await table_counts(db)
    # Taking the override away from a loopback URL is refused: the URL would be refused.
    r = await api.patch(f"/webhooks/{hook['id']}", json={"allow_internal": False})
    assert r.status_code == 422 and "loopback" in r.text
    r = await api.patch(f"/webhooks/{hook['id']}", json={"types": ["bogus.*"]})
    assert r.status_code == 422 and "types[0]" in r.text
    assert await table_counts(db) == before


async def test_heads_waiting_for_their_retry_do_not_hold_back_other_resources(
    api: httpx.AsyncClient, db: Database
) -> None:
    from strato.schema import webhooks

    hook = await ok(await api.post("/webhooks", json=_body()), 201)
    async with db.tx() as conn:
        # resource a: two deliveries, its head retrying later; resource b: one, due now
        await conn.execute(
            """INSERT INTO webhook_deliveries
                   (webhook_id, event_id, event_type, resource_key, next_attempt_at)
               VALUES ($1, 1, 'strato.vm.created', 'a', now() + interval '1 hour'),
                      ($1, 2, 'strato.vm.created', 'a', now()),
                      ($1, 3, 'strato.vm.created', 'b', now())""",
            hook["id"],
        )
        # a window holding only a's deliveries still finds b's
        due = await webhooks.due(conn, hook["id"], limit=10, window=2)
        assert [event for _, event, _ in due] == [3]
        assert [e for _, e, _ in await webhooks.due(conn, hook["id"], limit=10)] == [3]
