"""Compute routes: the catalog (offerings, templates, affinity groups), VMs and their
snapshots."""

from fastapi import APIRouter

from strato.api.routers.compute import catalog, ssh_keys, vm_snapshots, vms

ROUTERS: list[APIRouter] = [catalog.router, vms.router, vm_snapshots.router, ssh_keys.router]
