"""The usage service's settings (``STRATO_USAGE_*``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings


class UsageSettings(BaseSettings):
    # The length of a usage record (CloudStack's aggregation range): an hour.
    period_s: int = Field(default=3600, ge=60, le=86400)
    # A period is aggregated once it ended this long ago (events committed late, in a
    # long transaction, still land in their period).
    grace_s: float = Field(default=60.0, ge=0, le=3600)
    poll_s: float = Field(default=2.0, gt=0, le=60)
    batch: int = Field(default=500, ge=1, le=5000)
