"""VM snapshots (CloudStack's createVMSnapshot, revertToVMSnapshot, deleteVMSnapshot): what
their workflows take, and how each snapshot is taken, reverted and deleted.

How, decided by the command from the VM's state and its host's capabilities:

- ``memory``: the running VM's hypervisor snapshots every disk and the memory at once
  (QEMU's savevm: internal snapshots of each qcow2 disk, the VM state in the first one),
  reverts to it with the VM running, and deletes it from every disk.
- ``live``: the running VM's QEMU snapshots every disk at one instant (disks only, one QMP
  transaction: consistent across them, as after a power cut), and deletes each.
- ``pools``: the stopped VM's pools act on each disk's file (``qemu-img snapshot``). A
  stopped VM reverted to a snapshot with memory gets its disks back; it boots afresh.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from strato.domain.compute.payloads import VmRef

How = Literal["memory", "live", "pools"]


def snapshot_tag(vm_snapshot_id: UUID) -> str:
    """The internal snapshot's name on every disk of the VM."""
    return f"strato-vm-{vm_snapshot_id.hex}"


class VmSnapshotDisk(BaseModel):
    """One volume that holds a VM snapshot: its name on its pool and its device."""

    volume_id: UUID
    name: str
    pool: str
    device: str


class VmSnapshotInput(VmRef):
    """CreateVmSnapshot's, RevertToVmSnapshot's and DeleteVmSnapshot's input."""

    vm_snapshot_id: UUID
    tag: str
    how: How
    # The snapshot's state before this operation: where it goes back to when the
    # operation finds the VM changed and does nothing.
    from_state: str = "Ready"
    host: str | None = None  # the running VM's host (``memory``, ``live``)
    hypervisor_name: str | None = None
    disks: list[VmSnapshotDisk] = Field(default_factory=list)


class VmSnapshotSettle(BaseModel):
    """A VM snapshot moved to ``state`` by the operation that holds it (``error``: why it
    failed), the operation let go of it; idempotent."""

    vm_snapshot_id: UUID
    operation_id: UUID | None = None
    state: str
    error: str | None = None


class MachineSnapshotInput(BaseModel):
    """A whole-machine snapshot ``snapshot`` of the running VM ``name`` (disks + memory)."""

    name: str
    snapshot: str


class DiskTag(BaseModel):
    """A VM snapshot's internal snapshot ``tag`` on volume ``volume`` of pool ``pool``."""

    pool: str
    volume: str
    tag: str
