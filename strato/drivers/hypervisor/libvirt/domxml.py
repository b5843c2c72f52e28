"""Domain XML for the libvirt driver: written from a ``VmSpec`` and read back into one.

Pure functions (no libvirt import), so the XML is testable without a hypervisor.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET

from strato.domain.compute.specs import BootSpec, DiskSpec, NicSpec, VmSpec

STRATO_NS = "https://strato.cloud/xmlns/vm/1"
ET.register_namespace("strato", STRATO_NS)

# Keys of the Strato metadata element that are not free-form ``VmSpec.metadata``.
_HOST_KEY = "host"
_SPEED_KEY = "cpu-speed-mhz"

# libvirt accepts CPU shares in [2, 262144]; CloudStack's KVM agent sets speed x count.
_SHARES_MIN, _SHARES_MAX = 2, 262_144


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, attrs)
    if text is not None:
        el.text = text
    return el


def disk_element(disk: DiskSpec) -> ET.Element:
    el = ET.Element("disk", {"type": "file", "device": "disk"})
    _sub(el, "driver", name="qemu", type=disk.format)
    _sub(el, "source", file=disk.path)
    _sub(el, "target", dev=disk.device, bus=disk.bus)
    return el


CDROM_DEVICE = "hdc"  # IDE, as CloudStack's KVM agent: the pc machine's own controller


def cdrom_element(path: str | None) -> ET.Element:
    """The VM's CD-ROM drive, with ``path`` inserted (None: empty)."""
    el = ET.Element("disk", {"type": "file", "device": "cdrom"})
    _sub(el, "driver", name="qemu", type="raw")
    if path:
        _sub(el, "source", file=path)
    _sub(el, "target", dev=CDROM_DEVICE, bus="ide")
    _sub(el, "readonly")
    return el


def kernel_switched(device: str) -> bool:
    """Whether a kernel bridge or OVS kernel datapath holds the device (it has a
    master); a tap that a userspace switch reads has none."""
    return os.path.exists(f"/sys/class/net/{device}/master")


def nic_element(nic: NicSpec, bridge: str = "") -> ET.Element:
    source_bridge = nic.bridge or bridge
    if nic.device:
        # A tap the network agent made and plugged into its switch: QEMU opens it as it
        # is (libvirt neither creates nor removes it).
        el = ET.Element("interface", {"type": "ethernet"})
        _sub(el, "mac", address=nic.mac)
        _sub(el, "target", dev=nic.device, managed="no")
        if not kernel_switched(nic.device):
            # A tap only a userspace switch reads (OVS's netdev datapath) passes the
            # guest's partial checksums on unfinished: ping works, TCP data is dropped.
            # Without the device's checksum offload the guest finishes its own.
            driver = _sub(el, "driver", name="qemu")
            _sub(driver, "host", csum="off", gso="off", tso4="off", tso6="off", ufo="off")
    elif source_bridge:
        el = ET.Element("interface", {"type": "bridge"})
        _sub(el, "mac", address=nic.mac)
        _sub(el, "source", bridge=source_bridge)
    else:
        el = ET.Element("interface", {"type": "user"})
        _sub(el, "mac", address=nic.mac)
    _sub(el, "model", type=nic.model)
    return el


def domain_xml(
    spec: VmSpec,
    *,
    host_name: str,
    domain_type: str,
    console_log: str | None,
    vnc_listen: str | None,
    tcg_cache_mb: int = 32,
    bridge: str = "",
) -> str:
    """The persistent definition of ``spec`` on ``host_name``.

    ``domain_type`` is ``kvm``, ``qemu`` (TCG, with a bounded translation cache so a tiny
    guest does not take a gigabyte) or ``test``. Serial console and VNC are left out when
    ``console_log`` / ``vnc_listen`` are None (libvirt's test driver has neither).
    """
    root = ET.Element("domain", {"type": domain_type})
    _sub(root, "name", spec.name)
    _sub(root, "uuid", spec.uuid)
    if "vm" in spec.metadata:
        _sub(root, "title", str(spec.metadata["vm"]))

    meta = _sub(_sub(root, "metadata"), f"{{{STRATO_NS}}}vm")
    _sub(meta, f"{{{STRATO_NS}}}{_HOST_KEY}", host_name)
    _sub(meta, f"{{{STRATO_NS}}}{_SPEED_KEY}", str(spec.cpu_speed_mhz))
    for key, value in sorted(spec.metadata.items()):
        _sub(meta, f"{{{STRATO_NS}}}{key}", str(value))

    _sub(root, "memory", str(spec.memory_mb), unit="MiB")
    _sub(root, "currentMemory", str(spec.memory_mb), unit="MiB")
    _sub(root, "vcpu", str(spec.cpu_count), placement="static")
    shares = min(max(spec.cpu_count * spec.cpu_speed_mhz, _SHARES_MIN), _SHARES_MAX)
    _sub(_sub(root, "cputune"), "shares", str(shares))

    os_el = _sub(root, "os")
    _sub(os_el, "type", "hvm", arch="x86_64")
    if spec.boot.kernel:
        _sub(os_el, "kernel", spec.boot.kernel)
        if spec.boot.initrd:
            _sub(os_el, "initrd", spec.boot.initrd)
        if spec.boot.cmdline:
            _sub(os_el, "cmdline", spec.boot.cmdline)
    else:
        _sub(os_el, "boot", dev="hd")

    features = _sub(root, "features")
    _sub(features, "acpi")
    _sub(features, "apic")
    if domain_type == "qemu":
        _sub(_sub(features, "tcg"), "tb-cache", str(tcg_cache_mb), unit="MiB")
    _sub(root, "clock", offset="utc")
    _sub(root, "on_poweroff", "destroy")
    _sub(root, "on_reboot", "restart")
    _sub(root, "on_crash", "destroy")

    devices = _sub(root, "devices")
    for disk in spec.disks:
        devices.append(disk_element(disk))
    devices.append(cdrom_element(spec.cdrom))
    for nic in spec.nics:
        devices.append(nic_element(nic, bridge))
    if console_log is not None:
        serial = _sub(devices, "serial", type="pty")
        _sub(serial, "log", file=console_log, append="on")
        _sub(serial, "target", port="0")
        _sub(_sub(devices, "console", type="pty"), "target", type="serial", port="0")
    if vnc_listen is not None:
        _sub(devices, "graphics", type="vnc", port="-1", autoport="yes", listen=vnc_listen)
    if domain_type != "test":
        _sub(devices, "memballoon", model="none")
    return ET.tostring(root, encoding="unicode")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _memory_mb(el: ET.Element | None) -> int:
    if el is None or not el.text:
        return 0
    value = int(el.text)
    factor = {"b": 1 / 1024**2, "bytes": 1 / 1024**2, "kib": 1 / 1024, "k": 1 / 1024}
    factor |= {"mib": 1, "m": 1, "gib": 1024, "g": 1024}
    return int(value * factor.get(el.get("unit", "KiB").lower(), 1 / 1024))


def read_spec(xml: str) -> VmSpec:
    """The ``VmSpec`` a domain XML describes (live or persistent), metadata included."""
    root = ET.fromstring(xml)
    meta: dict[str, str] = {}
    vm = root.find(f"metadata/{{{STRATO_NS}}}vm")
    if vm is not None:
        meta = {_local(child.tag): child.text or "" for child in vm}
    speed = int(meta.pop(_SPEED_KEY, "0") or 0)
    meta.pop(_HOST_KEY, None)
    disks = []
    for d in root.findall("devices/disk[@device='disk']"):
        target, source, driver = d.find("target"), d.find("source"), d.find("driver")
        if target is None:
            continue
        disks.append(
            DiskSpec(
                path=source.get("file", "") if source is not None else "",
                device=target.get("dev", ""),
                bus=target.get("bus", "virtio"),
                format=driver.get("type", "raw") if driver is not None else "raw",
            )
        )
    cdrom = None
    for d in root.findall("devices/disk[@device='cdrom']"):
        source = d.find("source")
        cdrom = (source.get("file") or None) if source is not None else None
    nics = []
    for i in root.findall("devices/interface"):
        mac = i.find("mac")
        if mac is None:
            continue
        source = i.find("source")
        model = i.find("model")
        target = i.find("target")
        nics.append(
            NicSpec(
                mac=mac.get("address", ""),
                device=(target.get("dev", "") if target is not None else "")
                if i.get("type") == "ethernet"
                else "",
                bridge=source.get("bridge", "") if source is not None else "",
                model=model.get("type", "virtio") if model is not None else "virtio",
            )
        )
    return VmSpec(
        name=root.findtext("name", ""),
        uuid=root.findtext("uuid", ""),
        cpu_count=int(root.findtext("vcpu", "1")),
        cpu_speed_mhz=max(speed, 1),
        memory_mb=_memory_mb(root.find("memory")),
        disks=disks,
        nics=nics,
        boot=BootSpec(
            kernel=root.findtext("os/kernel"),
            initrd=root.findtext("os/initrd"),
            cmdline=root.findtext("os/cmdline", ""),
        ),
        metadata=dict(meta),
        cdrom=cdrom,
    )


def rehost(xml: str, host_name: str) -> str:
    """The domain XML with its Strato metadata naming ``host_name`` (the host a domain
    migrates to: its agent lists the domain as its own). XML without Strato metadata is
    returned as it is."""
    root = ET.fromstring(xml)
    meta = root.find(f"metadata/{{{STRATO_NS}}}vm")
    if meta is None:
        return xml
    host = meta.find(f"{{{STRATO_NS}}}{_HOST_KEY}")
    if host is None:
        host = _sub(meta, f"{{{STRATO_NS}}}{_HOST_KEY}")
    host.text = host_name
    return ET.tostring(root, encoding="unicode")
