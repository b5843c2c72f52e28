"""Network routes: guest networks and their address pools, physical networks, public IPs."""

from fastapi import APIRouter

from strato.api.routers.network import networks, physical

ROUTERS: list[APIRouter] = [networks.router, physical.router]
