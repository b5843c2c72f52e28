"""What the network subsystem is asked to implement."""

from __future__ import annotations

from pydantic import BaseModel


class NetworkSpec(BaseModel):
    """A guest network as an element implements it on one host."""

    name: str
    kind: str = "shared"
    cidr: str | None = None
    gateway: str | None = None
    segment: str | None = None


class PortSpec(BaseModel):
    network: str
    mac: str
    ip_address: str | None = None
    vm_name: str = ""


class PortInfo(BaseModel):
    network: str
    mac: str
    device: str
