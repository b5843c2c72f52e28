"""Fabric routes: zones, clusters, hosts and storage pools (the physical estate), their
capacity and the alerts."""

from fastapi import APIRouter

from strato.api.routers.fabric import capacity, hosts

ROUTERS: list[APIRouter] = [hosts.router, capacity.router]
