"""Storage routes: volumes and their snapshots (templates' storage to come)."""

from fastapi import APIRouter

from strato.api.routers.storage import snapshots, volumes

ROUTERS: list[APIRouter] = [volumes.router, snapshots.router]
