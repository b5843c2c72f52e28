"""Service offerings, disk offerings, templates (metadata)."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import Field, model_validator

from strato.api.schemas.common import Filter, Name, Request, Tags, Text
from strato.commands.templates import TemplateBoot, TemplateCopy, TemplateCreate
from strato.domain.states import OfferingState, TemplateState

__all__ = ["TemplateBoot", "TemplateCopy", "TemplateCreate"]


class ServiceOfferingCreate(Request):
    name: Name
    display_text: Text = ""
    cpu_count: int = Field(gt=0, le=1024)
    cpu_speed_mhz: int = Field(gt=0, le=100_000)
    memory_mb: int = Field(gt=0, le=16 * 1024 * 1024)
    ha: bool = False
    host_tags: Tags = Field(default_factory=list)
    storage_tags: Tags = Field(default_factory=list)
    planner: Literal["first_fit", "user_dispersing", "random"] | None = None


class ServiceOfferingUpdate(Request):
    """CPU and memory are fixed once created (VMs refer to them); make a new offering."""

    display_text: Text | None = None
    host_tags: Tags | None = None
    storage_tags: Tags | None = None
    planner: Literal["first_fit", "user_dispersing", "random"] | None = None
    state: OfferingState | None = None


class OfferingFilter(Filter):
    name: Name | None = None
    state: OfferingState | None = None


class DiskOfferingCreate(Request):
    name: Name
    display_text: Text = ""
    size_gb: int | None = Field(default=None, gt=0, le=1024 * 1024)
    custom_size: bool = False
    provisioning: Literal["thin", "sparse", "fat"] = "thin"
    storage_tags: Tags = Field(default_factory=list)

    @model_validator(mode="after")
    def _size_or_custom(self) -> DiskOfferingCreate:
        if self.size_gb is None and not self.custom_size:
            raise ValueError("give size_gb, or set custom_size to let users choose the size")
        return self


class DiskOfferingUpdate(Request):
    display_text: Text | None = None
    storage_tags: Tags | None = None
    state: OfferingState | None = None


class TemplateUpdate(Request):
    display_text: Text | None = None
    os_type: Text | None = None
    is_public: bool | None = None
    featured: bool | None = None
    state: TemplateState | None = None


class TemplateFilter(Filter):
    name: Name | None = None
    zone_id: UUID | None = None
    format: Literal["qcow2", "raw", "vhd", "iso"] | None = None
    state: TemplateState | None = None
