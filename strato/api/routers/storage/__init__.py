"""Storage routes: volumes (and, to come, snapshots and templates' storage)."""

from fastapi import APIRouter

from strato.api.routers.storage import volumes

ROUTERS: list[APIRouter] = [volumes.router]
