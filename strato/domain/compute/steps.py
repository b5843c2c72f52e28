"""The compute subsystem's steps: VM records (data service) and hypervisor calls (per host)."""

from __future__ import annotations

from strato.domain.compute.payloads import (
    AttachDiskInput,
    ComputeVmInput,
    DetachDiskInput,
    DiskSnapshotInput,
    DisksSnapshotInput,
    MediaInput,
    MoveDiskInput,
    Placement,
    PlaceResult,
    PlanInput,
    PoolPlacement,
    ResizeDiskInput,
    RestoredInput,
    ScaleClaimInput,
    ScaleClaimResult,
    VmBeginInput,
    VmContext,
    VmFailSafeInput,
    VmFinishInput,
    VmIsoInput,
    VmRef,
    VmVolumeBeginInput,
    VmVolumeContext,
    VmVolumeFinishInput,
)
from strato.domain.compute.specs import ConsoleInfo, VmPowerInfo, VmSpec
from strato.domain.compute.vm_snapshots import DiskTag, MachineSnapshotInput, VmSnapshotSettle
from strato.domain.fabric.payloads import ConnectHostInput
from strato.domain.network.payloads import NicInfo
from strato.domain.steps import Step
from strato.domain.storage.payloads import VolumeContext

# Data service (orchestration queue, local activities).
VM_BEGIN: Step[VmBeginInput, VmContext] = Step("records.vm_begin", VmBeginInput, VmContext)
VM_FINISH: Step[VmFinishInput, VmContext] = Step("records.vm_finish", VmFinishInput, VmContext)
VM_FAIL_SAFE: Step[VmFailSafeInput, bool] = Step("records.vm_fail_safe", VmFailSafeInput, bool)
VM_PLAN_CLAIM: Step[PlanInput, Placement] = Step("records.vm_plan_claim", PlanInput, Placement)
# NICs, host claim and storage claim of one boot attempt, in one step.
VM_PLACE: Step[PlanInput, PlaceResult] = Step("records.vm_place", PlanInput, PlaceResult)
VM_RELEASE_HOST: Step[VmRef, bool] = Step("records.vm_release_host", VmRef, bool)
VM_CLAIM_POOL: Step[PlanInput, PoolPlacement] = Step(
    "records.vm_claim_pool", PlanInput, PoolPlacement
)
VM_RELEASE_POOL: Step[VmRef, None] = Step("records.vm_release_pool", VmRef, None)
VM_ALLOCATE_NICS: Step[VmRef, list[NicInfo]] = Step(
    "records.vm_allocate_nics", VmRef, list[NicInfo]
)
VM_RELEASE_NICS: Step[VmRef, int] = Step("records.vm_release_nics", VmRef, int)
# The VM's ISO recorded (AttachIso, DetachIso), with its event.
VM_SET_ISO: Step[VmIsoInput, None] = Step("records.vm_set_iso", VmIsoInput, None)
# A VM restored from a backup: its volumes Ready with their files, or (no paths) undone.
# A VM snapshot's state set by the operation holding it, the snapshot let go, its event.
VM_SNAPSHOT_SETTLE: Step[VmSnapshotSettle, None] = Step(
    "records.vm_snapshot_settle", VmSnapshotSettle, None
)
# An expunged VM's snapshots on its data volumes (which outlive it, detached).
VM_SNAPSHOT_DATA_TAGS: Step[VmRef, list[DiskTag]] = Step(
    "records.vm_snapshot_data_tags", VmRef, list[DiskTag]
)
VM_RESTORED: Step[RestoredInput, None] = Step("records.vm_restored", RestoredInput, None)
VM_SCALE_CLAIM: Step[ScaleClaimInput, ScaleClaimResult] = Step(
    "records.vm_scale_claim", ScaleClaimInput, ScaleClaimResult
)
# A destroy that expunges at once: host claim released, Destroyed, then Expunging under
# the same lock, in one step; and, at its end, the volumes, addresses and the VM
# Expunged in one step.
VM_DESTROY_EXPUNGE: Step[VmRef, VmContext | None] = Step(
    "records.vm_destroy_expunge", VmRef, VmContext | None
)
VM_EXPUNGED: Step[VmFinishInput, VmContext] = Step("records.vm_expunged", VmFinishInput, VmContext)
VM_EXPUNGE_BEGIN: Step[VmRef, VmContext | None] = Step(
    "records.vm_expunge_begin", VmRef, VmContext | None
)

# A volume operation's first and last steps, with the VM's lock (one transaction each).
VM_VOLUME_BEGIN: Step[VmVolumeBeginInput, VmVolumeContext] = Step(
    "records.vm_volume_begin", VmVolumeBeginInput, VmVolumeContext
)
VM_VOLUME_FINISH: Step[VmVolumeFinishInput, VolumeContext] = Step(
    "records.vm_volume_finish", VmVolumeFinishInput, VolumeContext
)

# Hypervisor (the host's compute queue).
DEFINE_VM: Step[VmSpec, None] = Step("compute.define_vm", VmSpec, None)
START_VM: Step[ComputeVmInput, ConsoleInfo | None] = Step(
    "compute.start_vm", ComputeVmInput, ConsoleInfo | None
)
DEFINE_AND_START_VM: Step[VmSpec, ConsoleInfo | None] = Step(
    "compute.define_and_start_vm", VmSpec, ConsoleInfo | None
)
STOP_VM: Step[ComputeVmInput, bool] = Step("compute.stop_vm", ComputeVmInput, bool)
REBOOT_VM: Step[ComputeVmInput, None] = Step("compute.reboot_vm", ComputeVmInput, None)
CHANGE_MEDIA: Step[MediaInput, None] = Step("compute.change_media", MediaInput, None)
# Stop then undefine in one host step: one round trip less on every stop and destroy.
STOP_AND_UNDEFINE_VM: Step[ComputeVmInput, bool] = Step(
    "compute.stop_and_undefine_vm", ComputeVmInput, bool
)
UNDEFINE_VM: Step[ComputeVmInput, None] = Step("compute.undefine_vm", ComputeVmInput, None)
SCALE_VM: Step[ComputeVmInput, None] = Step("compute.scale_vm", ComputeVmInput, None)
HOST_CAPABILITIES: Step[ConnectHostInput, dict[str, bool]] = Step(
    "compute.capabilities", ConnectHostInput, dict[str, bool]
)
LIST_VMS: Step[None, list[VmPowerInfo]] = Step("compute.list_vms", None, list[VmPowerInfo])
# Disks of a running VM (a stopped VM keeps no domain: its disks are defined at boot).
ATTACH_DISK: Step[AttachDiskInput, None] = Step("compute.attach_disk", AttachDiskInput, None)
DETACH_DISK: Step[DetachDiskInput, None] = Step("compute.detach_disk", DetachDiskInput, None)
RESIZE_DISK: Step[ResizeDiskInput, None] = Step("compute.resize_disk", ResizeDiskInput, None)
SNAPSHOT_DISK: Step[DiskSnapshotInput, None] = Step(
    "compute.snapshot_disk", DiskSnapshotInput, None
)
SNAPSHOT_DISKS: Step[DisksSnapshotInput, None] = Step(
    "compute.snapshot_disks", DisksSnapshotInput, None
)
MOVE_DISK: Step[MoveDiskInput, None] = Step("compute.move_disk", MoveDiskInput, None)
DELETE_DISK_SNAPSHOT: Step[DiskSnapshotInput, None] = Step(
    "compute.delete_disk_snapshot", DiskSnapshotInput, None
)
# Whole-machine snapshots (disks + memory) of a running VM, by its hypervisor.
SNAPSHOT_VM: Step[MachineSnapshotInput, None] = Step(
    "compute.snapshot_vm", MachineSnapshotInput, None
)
REVERT_VM: Step[MachineSnapshotInput, None] = Step("compute.revert_vm", MachineSnapshotInput, None)
DELETE_VM_SNAPSHOT: Step[MachineSnapshotInput, None] = Step(
    "compute.delete_vm_snapshot", MachineSnapshotInput, None
)
