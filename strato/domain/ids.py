"""Names derived from resources: workflow ids and task queues (ARCHITECTURE §4)."""

from __future__ import annotations

from uuid import UUID

ORCHESTRATION_QUEUE = "orchestration"


def workflow_id(kind: str, verb: str, resource_id: UUID, operation_id: UUID | None = None) -> str:
    """``<kind>-<verb>:<resource id>:<operation id>``: one operation, one execution.

    The operation id makes every operation's run its own: a request can only ever join a
    run of the same operation (its idempotent retry), never another operation's run on
    the same resource. Without ``operation_id`` the id names a per-resource singleton,
    used only by the destroy's delayed-expunge timer (``vm-expunge:<vm id>``), which
    RecoverVm finds by that name.
    """
    base = f"{kind}-{verb}:{resource_id}"
    return f"{base}:{operation_id}" if operation_id is not None else base


def compute_queue(host_name: str) -> str:
    return f"compute@{host_name}"


def storage_queue(pool_name: str) -> str:
    return f"storage@{pool_name}"


def network_queue(host_name: str) -> str:
    return f"network@{host_name}"


class Activities:
    """Activity names: workflows call activities by these names only (no I/O imports)."""

    HOST_TRANSITION = "records.host_transition"
    HOST_CONNECTED = "records.host_connected"
    HOST_REGISTER = "records.host_register"
    HOST_HEARTBEAT = "records.host_heartbeat"
    HOST_HEARTBEAT_LOST = "records.host_heartbeat_lost"
    CONNECT_HOST = "compute.connect_host"

    VM_BEGIN = "records.vm_begin"
    VM_FINISH = "records.vm_finish"
    VM_PLAN_CLAIM = "records.vm_plan_claim"
    VM_RELEASE_HOST = "records.vm_release_host"
    VM_CLAIM_POOL = "records.vm_claim_pool"
    VM_RELEASE_POOL = "records.vm_release_pool"
    VM_ALLOCATE_NICS = "records.vm_allocate_nics"
    VM_RELEASE_NICS = "records.vm_release_nics"
    VOLUME_READY = "records.volume_ready"
    VOLUMES_EXPUNGED = "records.volumes_expunged"
    VM_SCALE_CLAIM = "records.vm_scale_claim"
    VM_EXPUNGE_BEGIN = "records.vm_expunge_begin"
    VM_FAIL_SAFE = "records.vm_fail_safe"

    DEFINE_VM = "compute.define_vm"
    START_VM = "compute.start_vm"
    DEFINE_AND_START_VM = "compute.define_and_start_vm"
    STOP_VM = "compute.stop_vm"
    REBOOT_VM = "compute.reboot_vm"
    UNDEFINE_VM = "compute.undefine_vm"
    SCALE_VM = "compute.scale_vm"
    HOST_CAPABILITIES = "compute.capabilities"
    LIST_VMS = "compute.list_vms"

    CREATE_VOLUME = "storage.create_volume"
    DELETE_VOLUME = "storage.delete_volume"
    LIST_VOLUMES = "storage.list_volumes"


class Workflows:
    ADD_HOST = "AddHost"
    REGISTER_HOST = "RegisterHost"
    HOST_MONITOR = "HostMonitor"
    DEPLOY_VM = "DeployVm"
    START_VM = "StartVm"
    STOP_VM = "StopVm"
    REBOOT_VM = "RebootVm"
    SCALE_VM = "ScaleVm"
    DESTROY_VM = "DestroyVm"
    RECOVER_VM = "RecoverVm"
    EXPUNGE_VM = "ExpungeVm"
    INVENTORY = "Inventory"
