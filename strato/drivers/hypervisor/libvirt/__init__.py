"""The libvirt hypervisor driver: QEMU (KVM or TCG) through ``qemu:///system``, and
libvirt's ``test:///`` driver for fast contract tests.

Every libvirt call is blocking, so each runs on this driver's own thread pool, never on the
event loop. libvirt's default event loop runs on one daemon thread per process: it keeps
connections alive (a dead libvirtd is noticed) and delivers domain lifecycle and reboot
events, which feed ``on_change`` and ``reboot_vm``.

Domains are named by the caller (``strato-<vm uuid>``) and carry Strato metadata (host,
VM name, owner) in ``<metadata>``, so the agent can tell its domains from anybody else's.

- ``connection.py``: the connection, its thread pool and events, host facts;
- ``lifecycle.py``: define, start, stop, reboot, scale, undefine, listing, stats, console;
- ``devices.py``: disk and NIC hot-plug (and the full driver class);
- ``domxml.py``: domain XML, built from a ``VmSpec`` and read back into one.
"""

from strato.drivers.hypervisor.libvirt.devices import LibvirtHypervisor

__all__ = ["LibvirtHypervisor"]
