"""Storage routes: volumes, snapshots and templates' storage (the storage subsystem's home)."""

from fastapi import APIRouter

ROUTERS: list[APIRouter] = []
