"""Every workflow type the orchestrator worker runs."""

from __future__ import annotations

from strato.workflows.add_host import AddHostWorkflow
from strato.workflows.deploy_vm import DeployVmWorkflow
from strato.workflows.destroy_vm import DestroyVmWorkflow
from strato.workflows.expunge_vm import ExpungeVmWorkflow
from strato.workflows.host_monitor import HostMonitorWorkflow
from strato.workflows.inventory import InventoryWorkflow
from strato.workflows.reboot_vm import RebootVmWorkflow
from strato.workflows.recover_vm import RecoverVmWorkflow
from strato.workflows.register_host import RegisterHostWorkflow
from strato.workflows.scale_vm import ScaleVmWorkflow
from strato.workflows.start_vm import StartVmWorkflow
from strato.workflows.stop_vm import StopVmWorkflow

ALL_WORKFLOWS: list[type] = [
    AddHostWorkflow,
    RegisterHostWorkflow,
    HostMonitorWorkflow,
    DeployVmWorkflow,
    StartVmWorkflow,
    StopVmWorkflow,
    RebootVmWorkflow,
    ScaleVmWorkflow,
    DestroyVmWorkflow,
    RecoverVmWorkflow,
    ExpungeVmWorkflow,
    InventoryWorkflow,
]
