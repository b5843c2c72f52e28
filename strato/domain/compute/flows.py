"""The compute subsystem's workflow types: one per VM operation."""

from __future__ import annotations

from strato.domain.compute.payloads import (
    DeployVmInput,
    DestroyVmInput,
    ExpungeVmInput,
    IsoInput,
    RestoreVmInput,
    ScaleVmInput,
    StopVmInput,
    VmRef,
    VmResult,
)
from strato.domain.compute.vm_snapshots import VmSnapshotInput
from strato.domain.steps import Flow

DEPLOY_VM: Flow[DeployVmInput, VmResult] = Flow("DeployVm", DeployVmInput, VmResult)
START_VM: Flow[DeployVmInput, VmResult] = Flow("StartVm", DeployVmInput, VmResult)
STOP_VM: Flow[StopVmInput, VmResult] = Flow("StopVm", StopVmInput, VmResult)
REBOOT_VM: Flow[VmRef, VmResult] = Flow("RebootVm", VmRef, VmResult)
SCALE_VM: Flow[ScaleVmInput, VmResult] = Flow("ScaleVm", ScaleVmInput, VmResult)
DESTROY_VM: Flow[DestroyVmInput, VmResult] = Flow("DestroyVm", DestroyVmInput, VmResult)
RECOVER_VM: Flow[VmRef, VmResult] = Flow("RecoverVm", VmRef, VmResult)
EXPUNGE_VM: Flow[ExpungeVmInput, VmResult] = Flow("ExpungeVm", ExpungeVmInput, VmResult)
# A new VM from a VM backup (CloudStack's createVMFromBackup).
RESTORE_BACKUP_VM: Flow[RestoreVmInput, VmResult] = Flow(
    "RestoreBackupVm", RestoreVmInput, VmResult
)
# An ISO in a VM's CD-ROM drive (CloudStack's attachIso / detachIso).
ATTACH_ISO: Flow[IsoInput, VmResult] = Flow("AttachIso", IsoInput, VmResult)
DETACH_ISO: Flow[IsoInput, VmResult] = Flow("DetachIso", IsoInput, VmResult)
# VM snapshots (CloudStack's createVMSnapshot, revertToVMSnapshot, deleteVMSnapshot).
CREATE_VM_SNAPSHOT: Flow[VmSnapshotInput, VmResult] = Flow(
    "CreateVmSnapshot", VmSnapshotInput, VmResult
)
REVERT_VM_SNAPSHOT: Flow[VmSnapshotInput, VmResult] = Flow(
    "RevertToVmSnapshot", VmSnapshotInput, VmResult
)
DELETE_VM_SNAPSHOT: Flow[VmSnapshotInput, VmResult] = Flow(
    "DeleteVmSnapshot", VmSnapshotInput, VmResult
)
