"""The example service: a settings section, a route, a migration track, an event type,
a CLI command and an authorizer switch; everything the seam lets a service bring."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings

from strato.api.deps import AdminDep, CallerDep, DbDep
from strato.domain.events import EventType, Payload
from strato.schema import events
from strato.services.base import BaseService


class ExampleSettings(BaseSettings):
    greeting: str = "hello"


class Greeted(Payload):
    text: str


class GreetingIn(BaseModel):
    text: str = Field(min_length=1, max_length=200)


router = APIRouter(prefix="/example", tags=["example"])


@router.get("/greetings")
async def list_greetings(request: Request, db: DbDep, _: CallerDep) -> dict[str, Any]:
    service: ExampleService = next(
        s for s in request.app.state.services if isinstance(s, ExampleService)
    )
    async with db.conn() as conn:
        rows = await conn.fetch("SELECT text FROM example_greetings ORDER BY id")
    assert isinstance(service.settings, ExampleSettings)
    return {"greeting": service.settings.greeting, "stored": [r["text"] for r in rows]}


@router.post("/greetings", status_code=201)
async def add_greeting(body: GreetingIn, db: DbDep, _: AdminDep) -> dict[str, Any]:
    async with db.tx() as conn:
        gid = await conn.fetchval(
            "INSERT INTO example_greetings (text) VALUES ($1) RETURNING id", body.text
        )
        await events.append(
            conn, "strato.example.greeted", "example", None, payload={"text": body.text}
        )
    return {"id": gid, "text": body.text}


def _hello(args: argparse.Namespace, api: Any) -> int:
    print(f"hello from the example service, {args.who}")
    return 0


class ExampleService(BaseService):
    name = "example"
    settings_model = ExampleSettings
    migrations = "strato_example.migrations"

    def routers(self) -> Sequence[Any]:
        return [router]

    def event_types(self) -> Sequence[EventType]:
        return [EventType("strato.example.greeted", "example", Greeted, "someone said hello")]

    def add_commands(self, sub: Any) -> None:
        p = sub.add_parser("example", help="the example service")
        p.add_argument("who")
        p.set_defaults(handler=_hello)
