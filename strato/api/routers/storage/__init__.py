"""Storage routes: volumes, their snapshots, templates, image stores and VM backups."""

from fastapi import APIRouter

from strato.api.routers.storage import backups, snapshots, templates, volumes

ROUTERS: list[APIRouter] = [volumes.router, snapshots.router, templates.router, backups.router]
