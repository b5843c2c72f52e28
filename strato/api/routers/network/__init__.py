"""Network routes: guest networks and their address pools, physical networks, public IPs,
security groups."""

from fastapi import APIRouter

from strato.api.routers.network import networks, physical, security_groups

ROUTERS: list[APIRouter] = [networks.router, physical.router, security_groups.router]
