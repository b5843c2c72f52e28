"""Service offerings, disk offerings and templates (metadata)."""

from __future__ import annotations

from fastapi import APIRouter

from strato.api.crud import crud_router
from strato.api.schemas.compute import catalog as s
from strato.domain import paths
from strato.domain.errors import InvalidInput
from strato.schema.tables import DISK_OFFERINGS, SERVICE_OFFERINGS, TEMPLATES
from strato.settings import Settings


def _template_paths(body: s.TemplateCreate, settings: Settings) -> None:
    """The image, kernel and initrd a template names, if they are host paths, must lie
    under the image roots and outside the pool directories (another VM's disk)."""
    named = [("url", paths.local_path(body.url))]
    named += [("boot.kernel", body.boot.kernel), ("boot.initrd", body.boot.initrd)]
    for field, path in named:
        if path is None:
            continue
        what = field.replace("boot.", "")
        try:
            paths.within(path, settings.image_root_list, what, "STRATO_IMAGE_ROOTS")
            holder = paths.inside_any(path, settings.pool_root_list)
            if holder is not None:
                raise paths.PathRefused(f"{what} {path} is inside the pool directories ({holder})")
        except paths.PathRefused as err:
            raise InvalidInput(f"{field}: {err}", field=field) from err


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
        check=_template_paths,
    )
)
