"""Network routes: guest networks and their address pools."""

from fastapi import APIRouter

from strato.api.routers.network import networks

ROUTERS: list[APIRouter] = [networks.router]
