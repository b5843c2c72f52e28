"""Service offerings and disk offerings (templates: strato.api.routers.storage.templates)."""

from __future__ import annotations

from fastapi import APIRouter

from strato.api.crud import crud_router
from strato.api.schemas.compute import catalog as s
from strato.schema.tables import DISK_OFFERINGS, SERVICE_OFFERINGS

router = APIRouter()
router.include_router(
    crud_router(
        SERVICE_OFFERINGS,
        path="/service-offerings",
        filters=s.OfferingFilter,
        create=s.ServiceOfferingCreate,
        update=s.ServiceOfferingUpdate,
    )
)
router.include_router(
    crud_router(
        DISK_OFFERINGS,
        path="/disk-offerings",
        filters=s.OfferingFilter,
        create=s.DiskOfferingCreate,
        update=s.DiskOfferingUpdate,
    )
)
