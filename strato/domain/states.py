"""State enums and the state machines that say which transitions are legal.

This module is the only place that decides legality; repositories enforce it with
guarded UPDATEs (``WHERE state = ANY(expected)``) built from these tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Generic, TypeVar

from strato.domain.errors import IllegalTransition


class AllocationState(StrEnum):
    """Admin intent for zones, pods and clusters."""

    ENABLED = "Enabled"
    DISABLED = "Disabled"


class HostStatus(StrEnum):
    """Connection status, reported by the agent and the fabric monitor."""

    CREATING = "Creating"
    CONNECTING = "Connecting"
    UP = "Up"
    ALERT = "Alert"
    DISCONNECTED = "Disconnected"
    DOWN = "Down"
    REMOVED = "Removed"
    ERROR = "Error"


class ResourceState(StrEnum):
    """Host admin intent (maintenance)."""

    ENABLED = "Enabled"
    DISABLED = "Disabled"
    PREPARE_FOR_MAINTENANCE = "PrepareForMaintenance"
    ERROR_IN_MAINTENANCE = "ErrorInMaintenance"
    MAINTENANCE = "Maintenance"


class PoolState(StrEnum):
    UP = "Up"
    DISABLED = "Disabled"
    MAINTENANCE = "Maintenance"
    DOWN = "Down"
    ERROR = "Error"


class OfferingState(StrEnum):
    ACTIVE = "Active"
    INACTIVE = "Inactive"


class TemplateState(StrEnum):
    REGISTERED = "Registered"
    DOWNLOADING = "Downloading"
    READY = "Ready"
    ERROR = "Error"
    INACTIVE = "Inactive"
    DELETING = "Deleting"


class VmState(StrEnum):
    ALLOCATED = "Allocated"
    STARTING = "Starting"
    RUNNING = "Running"
    STOPPING = "Stopping"
    STOPPED = "Stopped"
    MIGRATING = "Migrating"
    DESTROYED = "Destroyed"
    EXPUNGING = "Expunging"
    EXPUNGED = "Expunged"
    ERROR = "Error"


class VolumeState(StrEnum):
    ALLOCATED = "Allocated"
    CREATING = "Creating"
    READY = "Ready"
    RESIZING = "Resizing"
    MIGRATING = "Migrating"
    COPYING = "Copying"
    SNAPSHOTTING = "Snapshotting"
    REVERT_SNAPSHOTTING = "RevertSnapshotting"
    DESTROY = "Destroy"
    EXPUNGING = "Expunging"
    EXPUNGED = "Expunged"
    ERROR = "Error"


class SnapshotState(StrEnum):
    ALLOCATED = "Allocated"
    CREATING = "Creating"
    CREATED_ON_PRIMARY = "CreatedOnPrimary"
    BACKING_UP = "BackingUp"
    BACKED_UP = "BackedUp"
    COPYING = "Copying"
    DESTROYING = "Destroying"
    DESTROYED = "Destroyed"
    ERROR = "Error"


class VmSnapshotState(StrEnum):
    ALLOCATED = "Allocated"
    CREATING = "Creating"
    READY = "Ready"
    REVERTING = "Reverting"
    EXPUNGING = "Expunging"
    REMOVED = "Removed"
    ERROR = "Error"


class NetworkState(StrEnum):
    ALLOCATED = "Allocated"
    SETUP = "Setup"
    IMPLEMENTING = "Implementing"
    IMPLEMENTED = "Implemented"
    SHUTDOWN = "Shutdown"
    DESTROY = "Destroy"


class IpState(StrEnum):
    FREE = "Free"
    ALLOCATING = "Allocating"
    ALLOCATED = "Allocated"
    RELEASING = "Releasing"


class NicState(StrEnum):
    ALLOCATED = "Allocated"
    RESERVED = "Reserved"
    RELEASED = "Released"


class OperationState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    # Its run is gone from Temporal (retention) and its outcome was never recorded.
    UNKNOWN = "unknown"


S = TypeVar("S", bound=StrEnum)


class StateMachine(Generic[S]):
    """Legal transitions of one resource kind: ``target -> states it may come from``."""

    def __init__(self, resource: str, into: Mapping[S, frozenset[S]]) -> None:
        self.resource = resource
        self._into = dict(into)

    def sources(self, target: S) -> frozenset[S]:
        """States from which ``target`` may be entered (empty: never)."""
        return self._into.get(target, frozenset())

    def can(self, current: S, target: S) -> bool:
        return current in self.sources(target)

    def check(self, current: S, target: S) -> None:
        """Raise :class:`IllegalTransition` unless ``current -> target`` is legal."""
        if not self.can(current, target):
            allowed = ", ".join(sorted(self.sources(target))) or "nothing"
            raise IllegalTransition(
                f"{self.resource} cannot go from {current} to {target} (only from: {allowed})",
                current=str(current),
                target=str(target),
            )


_H = HostStatus
HOST_STATUS = StateMachine[HostStatus](
    "host",
    {
        _H.CONNECTING: frozenset({_H.CREATING, _H.ALERT, _H.DISCONNECTED, _H.DOWN, _H.ERROR}),
        _H.UP: frozenset({_H.CONNECTING, _H.ALERT, _H.DISCONNECTED, _H.DOWN, _H.UP}),
        _H.ALERT: frozenset({_H.UP, _H.CONNECTING}),
        _H.DISCONNECTED: frozenset({_H.UP, _H.ALERT, _H.CONNECTING}),
        _H.DOWN: frozenset({_H.UP, _H.ALERT, _H.DISCONNECTED}),
        _H.ERROR: frozenset({_H.CREATING, _H.CONNECTING, _H.ALERT}),
        _H.REMOVED: frozenset(set(_H) - {_H.REMOVED}),
    },
)
"""Host connection status. ``Up -> Up`` is legal so a reconnect refreshes capacity."""


_V = VmState
VM_STATE = StateMachine[VmState](
    "VM",
    {
        _V.STARTING: frozenset({_V.ALLOCATED, _V.STOPPED}),
        _V.RUNNING: frozenset({_V.STARTING, _V.MIGRATING, _V.STOPPING}),
        _V.STOPPING: frozenset({_V.RUNNING}),
        _V.STOPPED: frozenset(
            {_V.STOPPING, _V.STARTING, _V.DESTROYED, _V.ERROR, _V.RUNNING, _V.MIGRATING}
        ),
        _V.MIGRATING: frozenset({_V.RUNNING}),
        _V.DESTROYED: frozenset({_V.ALLOCATED, _V.STOPPED, _V.RUNNING, _V.ERROR, _V.STOPPING}),
        _V.EXPUNGING: frozenset({_V.DESTROYED, _V.ERROR}),
        _V.EXPUNGED: frozenset({_V.EXPUNGING}),
        _V.ERROR: frozenset({_V.ALLOCATED, _V.STARTING, _V.STOPPING, _V.MIGRATING, _V.EXPUNGING}),
    },
)
"""VM lifecycle (CloudStack's VirtualMachine.State, without Unknown/Shutdown).

``Stopping -> Running`` is how a failed stop returns to a defined state; ``Starting ->
Stopped`` is how a failed start of a stopped VM returns; ``Migrating -> Stopped`` is a
cold migration that could start the VM neither on its target nor back on its source;
``Running -> Stopped`` and ``Stopped <- Destroyed`` (recover) are the out-of-band and
recover paths.
"""

VM_OBSERVED = StateMachine[VmState](
    "VM (as its host reports it)",
    {_V.STOPPED: frozenset({_V.RUNNING}), _V.RUNNING: frozenset({_V.STOPPED})},
)
"""What a host's report may correct, for a VM no operation holds: a Running VM whose domain
is off or gone is Stopped; a Stopped VM whose domain runs is Running."""

TRANSITIONAL_VM = frozenset({_V.ALLOCATED, _V.STARTING, _V.STOPPING, _V.MIGRATING, _V.EXPUNGING})

VM_REPAIR = StateMachine[VmState](
    "VM (repaired by strato doctor)",
    {_V.ERROR: TRANSITIONAL_VM | {_V.RUNNING}},
)
"""The doctor's only VM state repair: a VM stuck in a transitional state with no operation
working on it, or Running on no host, goes to Error (saying why)."""

VM_HA_FAILED = StateMachine[VmState](
    "VM (HA could not start it)",
    {_V.ERROR: frozenset({_V.STOPPED})},
)
"""A fenced HA VM that no host could take after its host went Down: Error, with why (it
was running; Stopped would hide that it should be)."""


_VOL = VolumeState
TRANSITIONAL_VOLUME = frozenset(
    {
        _VOL.CREATING,
        _VOL.RESIZING,
        _VOL.MIGRATING,
        _VOL.COPYING,
        _VOL.SNAPSHOTTING,
        _VOL.REVERT_SNAPSHOTTING,
        _VOL.EXPUNGING,
    }
)
VOLUME_STATE = StateMachine[VolumeState](
    "volume",
    {
        _VOL.CREATING: frozenset({_VOL.ALLOCATED}),
        _VOL.READY: frozenset(
            {
                _VOL.ALLOCATED,
                _VOL.CREATING,
                _VOL.RESIZING,
                _VOL.MIGRATING,
                _VOL.SNAPSHOTTING,
                _VOL.REVERT_SNAPSHOTTING,
                _VOL.COPYING,
                _VOL.DESTROY,
            }
        ),
        _VOL.ALLOCATED: frozenset({_VOL.READY, _VOL.CREATING, _VOL.ERROR, _VOL.DESTROY}),
        _VOL.RESIZING: frozenset({_VOL.READY}),
        _VOL.MIGRATING: frozenset({_VOL.READY}),
        _VOL.SNAPSHOTTING: frozenset({_VOL.READY}),
        _VOL.REVERT_SNAPSHOTTING: frozenset({_VOL.READY}),
        _VOL.DESTROY: frozenset({_VOL.ALLOCATED, _VOL.READY, _VOL.ERROR}),
        _VOL.EXPUNGING: frozenset({_VOL.DESTROY, _VOL.ERROR, _VOL.READY, _VOL.ALLOCATED}),
        _VOL.EXPUNGED: frozenset(set(_VOL) - {_VOL.EXPUNGED}),
        _VOL.ERROR: TRANSITIONAL_VOLUME | {_VOL.READY, _VOL.DESTROY},
    },
)
"""Volume lifecycle (CloudStack's states). A root volume goes back to Allocated when its
boot attempt is undone, and is Expunged with its VM from whatever state it is in. A data
volume is Allocated until its first attach creates it on a pool; Ready while it has a file
(attached or not: attachment is the volume's ``vm_id`` and ``device_id``, as in
CloudStack, not a state); Resizing, Migrating or Snapshotting while an operation changes
its file; Destroy while its expunge is pending (recovered back to Ready or Allocated);
Error when an operation could not put it back or its file is gone."""

_SN = SnapshotState
TRANSITIONAL_SNAPSHOT = frozenset({_SN.CREATING, _SN.BACKING_UP, _SN.COPYING, _SN.DESTROYING})
SNAPSHOT_STATE = StateMachine[SnapshotState](
    "snapshot",
    {
        _SN.CREATING: frozenset({_SN.ALLOCATED}),
        _SN.CREATED_ON_PRIMARY: frozenset({_SN.CREATING, _SN.BACKING_UP}),
        _SN.BACKING_UP: frozenset({_SN.CREATED_ON_PRIMARY}),
        _SN.BACKED_UP: frozenset({_SN.BACKING_UP}),
        _SN.DESTROYING: frozenset({_SN.CREATED_ON_PRIMARY, _SN.BACKED_UP, _SN.ERROR}),
        _SN.DESTROYED: frozenset(set(_SN) - {_SN.DESTROYED}),
        _SN.ERROR: TRANSITIONAL_SNAPSHOT | {_SN.ALLOCATED},
    },
)
"""Snapshot lifecycle (CloudStack's): Creating on the volume's pool, CreatedOnPrimary
there (BackingUp/BackedUp once secondary storage keeps a copy), Destroying, Destroyed
(also when its volume is expunged: the pool's snapshots go with the volume's file);
Error when a step failed, saying why."""

_VS = VmSnapshotState
TRANSITIONAL_VM_SNAPSHOT = frozenset({_VS.CREATING, _VS.REVERTING, _VS.EXPUNGING})
VM_SNAPSHOT_STATE = StateMachine[VmSnapshotState](
    "vm snapshot",
    {
        _VS.CREATING: frozenset({_VS.ALLOCATED}),
        _VS.READY: frozenset({_VS.CREATING, _VS.REVERTING, _VS.EXPUNGING}),
        _VS.REVERTING: frozenset({_VS.READY}),
        _VS.EXPUNGING: frozenset({_VS.READY, _VS.ERROR}),
        _VS.REMOVED: frozenset(set(_VS) - {_VS.REMOVED}),
        _VS.ERROR: TRANSITIONAL_VM_SNAPSHOT | {_VS.ALLOCATED},
    },
)
"""VM snapshot lifecycle (CloudStack's VMSnapshot): Creating on the VM's disks (and its
memory), Ready, Reverting while the VM goes back to it, Expunging while it is deleted,
Removed (also when its VM is expunged: the snapshots go with the disks); Error when a
step failed, saying why (an Error snapshot can only be deleted). A revert that fails
leaves it Ready."""

_T = TemplateState
TEMPLATE_STATE = StateMachine[TemplateState](
    "template",
    {
        _T.DOWNLOADING: frozenset({_T.REGISTERED}),
        _T.READY: frozenset({_T.DOWNLOADING, _T.INACTIVE}),
        _T.ERROR: frozenset({_T.REGISTERED, _T.DOWNLOADING, _T.DELETING}),
        _T.INACTIVE: frozenset({_T.READY, _T.DELETING}),
        _T.DELETING: frozenset({_T.READY, _T.ERROR, _T.INACTIVE}),
    },
)
"""A template kept by the template service: Downloading into an image store, Ready once
verified there (deployable), Error saying why it is not; Deleting while its copies are
removed, then gone (Inactive when a VM record still names it)."""
