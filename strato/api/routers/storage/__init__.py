"""Storage routes: volumes, their snapshots, templates and image stores."""

from fastapi import APIRouter

from strato.api.routers.storage import snapshots, templates, volumes

ROUTERS: list[APIRouter] = [volumes.router, snapshots.router, templates.router]
