"""Host investigation and HA: the inputs and results of the HostHa workflow and its steps.

A host whose agent falls silent for its window goes from Up to Alert: a new *outage*
begins (``hosts.outage`` counts them) and one HostHa run investigates it (workflow id
``host-ha:<host>:<outage>``, so a host is never HA'd twice for one outage). A neighbour
agent of the same cluster (or, when the cluster has none, the orchestrator) probes the
host's agent endpoint: an agent that answers is alive with its heartbeats lost on the
way (the host is Disconnected: its VMs keep running, nothing is restarted); one that does
not answer, twice, ``confirm_s`` apart, makes the host Down. Down fences the host's VMs
(``vm_fences``): HA ones are started elsewhere through the normal boot path, the others
are Stopped. The agent that comes back destroys the fenced domains before the host is Up.
"""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, Field

from strato.domain.steps import Flow, Step


class HostHaInput(BaseModel):
    host_id: UUID
    host_name: str
    outage: int
    window_s: float = 30.0  # the silence that raised the Alert
    confirm_s: float = 10.0  # between two probes
    checks: int = 0  # probes done (carried over continue-as-new)
    # The HostMonitors shard that started it (told each status it sets); empty: the
    # host's own HostMonitor of before.
    monitor_id: str = ""


class HostHaResult(BaseModel):
    outcome: str  # recovered | down | superseded | gone
    status: str = ""
    restarted: list[str] = Field(default_factory=list)  # VM ids started elsewhere
    networks: list[str] = Field(default_factory=list)  # network ids restarted elsewhere
    stopped: list[str] = Field(default_factory=list)  # non-HA VMs now Stopped
    failed: dict[str, str] = Field(default_factory=dict)  # VM name -> why it was not placed


class HostSilentInput(BaseModel):
    host_id: UUID
    silent_s: float


class HostSilentResult(BaseModel):
    status: str = ""
    outage: int = 0  # > 0: this silence began that outage (the host went Up -> Alert)
    gone: bool = False
    elsewhere: bool = False  # another monitor watches the host now


class InvestigationInput(BaseModel):
    host_id: UUID
    outage: int


class Investigation(BaseModel):
    """Where the host stands, and who can check it."""

    status: str
    current: bool  # the outage is still this one, and unresolved
    endpoint: str | None = None
    neighbours: list[str] = Field(default_factory=list)  # Up hosts of its cluster


class ProbeInput(BaseModel):
    host_name: str
    endpoint: str | None
    timeout_s: float = 3.0


class ProbeResult(BaseModel):
    reachable: bool
    prober: str  # a host's name, or "orchestrator"
    detail: str = ""
    conclusive: bool = True  # False: this prober had no way to tell


class HostVerdictInput(BaseModel):
    host_id: UUID
    outage: int
    reachable: bool
    prober: str
    detail: str


class DeclareDownResult(BaseModel):
    declared: bool
    status: str
    ha_vms: list[UUID] = Field(default_factory=list)  # fenced, to be started elsewhere
    stopped: list[str] = Field(default_factory=list)
    # Guest networks whose router ran on the host: rebuilt on another host (a restart)
    networks: list[UUID] = Field(default_factory=list)


class HaRestartInput(BaseModel):
    host_id: UUID
    host_name: str
    outage: int
    vm_ids: list[UUID]


class HaRestartResult(BaseModel):
    operations: dict[str, str] = Field(default_factory=dict)  # VM id -> its start's workflow
    refused: dict[str, str] = Field(default_factory=dict)  # VM id -> why not started


class HaNetworksInput(BaseModel):
    host_id: UUID
    outage: int
    network_ids: list[UUID]


class HaAwaitInput(BaseModel):
    operations: dict[str, str]  # VM id -> its start's workflow id


class HaAwaitResult(BaseModel):
    succeeded: list[str] = Field(default_factory=list)  # VM ids
    failed: dict[str, str] = Field(default_factory=dict)  # VM id -> the operation's error


class HaFailedInput(BaseModel):
    host_id: UUID
    host_name: str
    outage: int
    failed: dict[str, str]  # VM id -> why


class HaFailedResult(BaseModel):
    names: dict[str, str] = Field(default_factory=dict)  # VM name -> why


HOST_HA: Flow[HostHaInput, HostHaResult] = Flow("HostHa", HostHaInput, HostHaResult)

HOST_SILENT: Step[HostSilentInput, HostSilentResult] = Step(
    "records.host_silent", HostSilentInput, HostSilentResult
)
HOST_INVESTIGATION: Step[InvestigationInput, Investigation] = Step(
    "records.host_investigation", InvestigationInput, Investigation
)
# On compute@<neighbour>: the neighbour's agent asks the host's agent.
PROBE_HOST: Step[ProbeInput, ProbeResult] = Step("compute.probe_host", ProbeInput, ProbeResult)
# On the orchestrator, when the host's cluster has no other Up host.
PROBE_HOST_CENTRAL: Step[ProbeInput, ProbeResult] = Step(
    "fabric.probe_host", ProbeInput, ProbeResult
)
HOST_ALIVE: Step[HostVerdictInput, str] = Step("records.host_alive", HostVerdictInput, str)
HOST_DECLARE_DOWN: Step[HostVerdictInput, DeclareDownResult] = Step(
    "records.host_declare_down", HostVerdictInput, DeclareDownResult
)
HA_RESTART: Step[HaRestartInput, HaRestartResult] = Step(
    "fabric.ha_restart", HaRestartInput, HaRestartResult
)
HA_AWAIT: Step[HaAwaitInput, HaAwaitResult] = Step("fabric.ha_await", HaAwaitInput, HaAwaitResult)
# The networks whose router ran on a Down host, each restarted (its router rebuilt on a
# host with its ports), as network.restart operations.
HA_NETWORKS: Step[HaNetworksInput, HaRestartResult] = Step(
    "fabric.ha_networks", HaNetworksInput, HaRestartResult
)
HA_FAILED: Step[HaFailedInput, HaFailedResult] = Step(
    "records.ha_failed", HaFailedInput, HaFailedResult
)
