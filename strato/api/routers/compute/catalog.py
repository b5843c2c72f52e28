"""Service offerings, disk offerings and templates (metadata)."""

from __future__ import annotations

from fastapi import APIRouter

from strato.api.crud import crud_router
from strato.api.schemas.compute import catalog as s
from strato.schema.tables import DISK_OFFERINGS, SERVICE_OFFERINGS, TEMPLATES

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
router.include_router(
    crud_router(
        TEMPLATES,
        path="/templates",
        filters=s.TemplateFilter,
        create=s.TemplateCreate,
        update=s.TemplateUpdate,
    )
)
