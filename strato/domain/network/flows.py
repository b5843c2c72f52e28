"""The network subsystem's workflow types: one per operation on a guest network."""

from __future__ import annotations

from strato.domain.network.payloads import NetworkOpInput, NetworkResult, SecurityGroupOpInput
from strato.domain.steps import Flow

# The network's router applied whole (after each change to its rules or addresses).
APPLY_NETWORK: Flow[NetworkOpInput, NetworkResult] = Flow(
    "ApplyNetwork", NetworkOpInput, NetworkResult
)
# CloudStack's restartNetwork: every host's part and the router rebuilt from the
# database (``cleanup``: the router destroyed first).
RESTART_NETWORK: Flow[NetworkOpInput, NetworkResult] = Flow(
    "RestartNetwork", NetworkOpInput, NetworkResult
)
# An idle network's router and segment released (no VM of it runs).
SHUTDOWN_NETWORK: Flow[NetworkOpInput, NetworkResult] = Flow(
    "ShutdownNetwork", NetworkOpInput, NetworkResult
)
DELETE_NETWORK: Flow[NetworkOpInput, NetworkResult] = Flow(
    "DeleteNetwork", NetworkOpInput, NetworkResult
)
# A security group's members' ports (and those of groups naming it) secured again, whole.
APPLY_SECURITY_GROUP: Flow[SecurityGroupOpInput, int] = Flow(
    "ApplySecurityGroup", SecurityGroupOpInput, int
)
