"""Changes to a VM that need no workflow: its display name, the user data and SSH
keys its network's metadata service tells its guest (a guest reads them at its next
boot, so keys change only on a Stopped VM, as CloudStack's resetSSHKeyForVirtualMachine
requires)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import Field, field_validator

from strato.commands.auth import Action
from strato.commands.compute import user_data
from strato.commands.context import CommandContext
from strato.domain.compute.models import Vm
from strato.domain.errors import IllegalTransition
from strato.domain.fields import Request, Text
from strato.domain.states import VmState
from strato.schema import repository
from strato.schema.compute import ssh_keys
from strato.schema.compute.vms import VMS


class VmUpdate(Request):
    display_name: Text | None = None
    user_data: str | None = Field(default=None, max_length=43692)
    # Replaces the VM's SSH public keys with these key pairs' (of the VM's owner).
    ssh_key_pair_ids: list[UUID] | None = Field(default=None, max_length=8)

    _user_data = field_validator("user_data")(classmethod(lambda cls, v: user_data(v)))


async def update_vm(ctx: CommandContext, vm_id: UUID, body: VmUpdate) -> Vm:
    await ctx.authorize(Action("vm.update", "vm", vm_id))
    async with ctx.db.tx() as conn:
        vm: Vm = await repository.get(conn, VMS, vm_id, for_update=True)
        changes: dict[str, Any] = {}
        if body.display_name is not None:
            changes["display_name"] = body.display_name
        if body.user_data is not None:
            changes["user_data"] = body.user_data
        if body.ssh_key_pair_ids is not None:
            if vm.state != VmState.STOPPED:
                raise IllegalTransition(
                    f"VM {vm_id} is {vm.state}: its SSH keys change only when it is Stopped"
                )
            keys = await ssh_keys.public_keys(conn, body.ssh_key_pair_ids, vm.owner)
            changes["ssh_keys"] = list(dict.fromkeys(keys))
        updated: Vm = await repository.update(conn, VMS, vm_id, changes)
        return updated
