"""Fabric routes: zones, clusters, hosts and storage pools (the physical estate)."""

from fastapi import APIRouter

from strato.api.routers.fabric import hosts

ROUTERS: list[APIRouter] = [hosts.router]
