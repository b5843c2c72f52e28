"""The fabric's steps: host records (data service) and reading a host's facts (its agent)."""

from __future__ import annotations

from strato.domain.fabric.payloads import (
    AddHostResult,
    ConnectHostInput,
    HostConnectedInput,
    HostFacts,
    HostHeartbeatInput,
    HostHeartbeatLostInput,
    HostHeartbeatResult,
    HostTransitionInput,
    HostTransitionResult,
    RegisterHostInput,
    RegisterHostResult,
)
from strato.domain.steps import Step

HOST_TRANSITION: Step[HostTransitionInput, HostTransitionResult] = Step(
    "records.host_transition", HostTransitionInput, HostTransitionResult
)
HOST_CONNECTED: Step[HostConnectedInput, AddHostResult] = Step(
    "records.host_connected", HostConnectedInput, AddHostResult
)
HOST_REGISTER: Step[RegisterHostInput, RegisterHostResult] = Step(
    "records.host_register", RegisterHostInput, RegisterHostResult
)
HOST_HEARTBEAT: Step[HostHeartbeatInput, HostHeartbeatResult] = Step(
    "records.host_heartbeat", HostHeartbeatInput, HostHeartbeatResult
)
HOST_HEARTBEAT_LOST: Step[HostHeartbeatLostInput, str | None] = Step(
    "records.host_heartbeat_lost", HostHeartbeatLostInput, str | None
)
# The shared queue a host is served on (its ``agent_queue``), None for its own queues.
HOST_ROUTE: Step[str, str | None] = Step("records.host_route", str, str | None)
# Runs on the host's compute queue: the agent answers with what the host has.
CONNECT_HOST: Step[ConnectHostInput, HostFacts] = Step(
    "compute.connect_host", ConnectHostInput, HostFacts
)
