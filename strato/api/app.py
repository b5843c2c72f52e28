"""The FastAPI application: resources are created in ``lifespan`` and shared via app.state."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI
from temporalio.client import Client

from strato import __version__
from strato.api import errors
from strato.api.deps import API_PREFIX, RequestScope
from strato.api.routers import (
    compute,
    directory,
    event_signals,
    events,
    fabric,
    keys,
    managed_services,
    network,
    operations,
    storage,
    system,
    webhooks,
)
from strato.domain.directory.models import Endpoint
from strato.events.broadcast import Broadcaster
from strato.schema.db import Database
from strato.services import loader
from strato.services.base import Service
from strato.settings import Settings
from strato.temporal import connect_to
from strato.workers import directory as presence_of


def create_app(
    settings: Settings,
    *,
    db: Database | None = None,
    temporal: Client | None = None,
    services: Sequence[Service] | None = None,
) -> FastAPI:
    """Build the app. Tests pass ``db`` and ``temporal``; processes let lifespan open them.
    ``services``: the optional services to mount (default: those the settings switch on)."""
    services = loader.enabled(settings) if services is None else services
    authorizers = [a for s in services if (a := s.authorizer()) is not None]
    if len(authorizers) > 1:
        raise loader.ServiceError("more than one switched-on service brings an authorizer")
    authenticators = [a for s in services if (a := s.authenticator()) is not None]
    if len(authenticators) > 1:
        raise loader.ServiceError("more than one switched-on service brings an authenticator")
    limits = [lim for s in services if (lim := s.limits()) is not None]
    if len(limits) > 1:
        raise loader.ServiceError("more than one switched-on service brings resource limits")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own_db = db is None
        app.state.settings = settings
        app.state.services = services
        app.state.streams = events.Streams()
        app.state.authorizer = authorizers[0] if authorizers else None
        app.state.authenticator = authenticators[0] if authenticators else None
        app.state.limits = limits[0] if limits else None
        app.state.db = db or await Database.connect(
            settings.resolved_database_url(), max_size=20, wait_s=60
        )
        app.state.temporal = temporal or await connect_to(settings, wait_s=30)
        app.state.broadcaster = Broadcaster(app.state.db, key_check_s=settings.stream_key_check_s)
        leaving = asyncio.Event()
        presence = (
            asyncio.create_task(
                presence_of.present(
                    app.state.db,
                    presence_of.instance(
                        settings,
                        "api",
                        endpoints=[Endpoint(url=f"{settings.resolved_api_url()}{API_PREFIX}")],
                    ),
                    leaving,
                )
            )
            if settings.directory_register
            else None
        )
        try:
            yield
        finally:
            leaving.set()
            if presence is not None:
                await presence
            await app.state.broadcaster.close()
            if own_db:
                await app.state.db.close()

    app = FastAPI(
        title="Strato",
        version=__version__,
        summary="Cloud IaaS orchestration on durable workflows",
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url="/docs",
    )
    app.add_middleware(
        errors.BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        max_depth=settings.max_json_depth,
        timeout_s=settings.body_timeout_s,
        streamed=("/api/v1/templates/upload",),
    )
    app.add_middleware(RequestScope)
    errors.install(app)
    routers = [
        system.router,
        *fabric.ROUTERS,
        *compute.ROUTERS,
        *storage.ROUTERS,
        *network.ROUTERS,
        operations.router,
        events.router,
        webhooks.router,
        event_signals.router,
        directory.router,
        managed_services.router,
        keys.router,
        *(r for s in services for r in s.routers()),
    ]
    for router in routers:
        app.include_router(router, prefix=API_PREFIX)
    for service in services:
        for router in getattr(service, "root_routers", tuple)():
            app.include_router(router)
    errors.document_problems(app)
    return app
