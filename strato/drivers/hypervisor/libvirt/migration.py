"""Live migration of a running domain to another libvirt host (``migrate3``, driven by
this process: both daemons are told what to do, QEMU streams the guest's memory from the
source host to the destination's ``migration_host``).

The destination gets the domain with its Strato metadata naming the new host (the agent
there lists it as its own) and a persistent definition; the source's goes. A failure
leaves the domain running where it was (libvirt cancels the job and resumes it), so a
retry starts over; a retry after a migration that completed finds the domain on the
target and is done.

Disks are not copied: the pools of a cluster are shared by its hosts (the planner moves
a VM within its cluster only), so the same paths hold the same bytes on both hosts. That
is what ``VIR_MIGRATE_UNSAFE`` tells libvirt, which cannot see that a directory is
shared unless it is a network filesystem it knows.
"""

from __future__ import annotations

import contextlib

import libvirt

from strato.drivers.hypervisor.base import HypervisorError, VmNotFound
from strato.drivers.hypervisor.libvirt.connection import _NOT_FOUND, _code
from strato.drivers.hypervisor.libvirt.domxml import rehost

FLAGS = (
    libvirt.VIR_MIGRATE_LIVE
    | libvirt.VIR_MIGRATE_PERSIST_DEST
    | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE
    | libvirt.VIR_MIGRATE_UNSAFE
)
_XML = libvirt.VIR_DOMAIN_XML_MIGRATABLE | libvirt.VIR_DOMAIN_XML_SECURE


def _defined(conn: libvirt.virConnect, name: str) -> bool:
    try:
        conn.lookupByName(name)
    except libvirt.libvirtError as err:
        if _code(err) in _NOT_FOUND:
            return False
        raise
    return True


def migrate(conn: libvirt.virConnect, name: str, target_host: str, target_url: str) -> None:
    """Move the running domain ``name`` to ``target_host``'s libvirt at ``target_url``."""
    try:
        dest = libvirt.open(target_url)
    except libvirt.libvirtError as err:
        raise HypervisorError(
            f"cannot reach {target_host}'s libvirt at {target_url}: {err.get_error_message()}"
        ) from err
    try:
        try:
            dom = conn.lookupByName(name)
        except libvirt.libvirtError as err:
            if _code(err) not in _NOT_FOUND:
                raise
            if _defined(dest, name):
                return  # moved already (a retried step)
            raise VmNotFound(f"VM {name} is defined neither here nor on {target_host}") from err
        if not dom.isActive():
            raise HypervisorError(f"VM {name} is not running: nothing to migrate live")
        params = {
            libvirt.VIR_MIGRATE_PARAM_DEST_XML: rehost(dom.XMLDesc(_XML), target_host),
            libvirt.VIR_MIGRATE_PARAM_PERSIST_XML: rehost(
                dom.XMLDesc(_XML | libvirt.VIR_DOMAIN_XML_INACTIVE), target_host
            ),
        }
        try:
            dom.migrate3(dest, params, FLAGS)
        except libvirt.libvirtError as err:
            raise HypervisorError(
                f"live migration of {name} to {target_host} failed: {err.get_error_message()}"
            ) from err
    finally:
        with contextlib.suppress(libvirt.libvirtError):
            dest.close()
