"""Compute routes: the catalog (offerings, templates, affinity groups) and VMs."""

from fastapi import APIRouter

from strato.api.routers.compute import catalog, vms

ROUTERS: list[APIRouter] = [catalog.router, vms.router]
