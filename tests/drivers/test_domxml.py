"""The libvirt driver's domain XML (pure functions): a migrating domain's metadata names
its new host, and nothing else of it changes."""

from __future__ import annotations

from strato.domain.compute.specs import VmSpec
from strato.drivers.hypervisor.libvirt.domxml import domain_xml, read_spec, rehost


def test_a_migrating_domain_names_its_new_host_and_keeps_the_rest() -> None:
    spec = VmSpec(
        name="strato-1",
        uuid="6f1c6f54-9b1e-4c58-9d2e-2d9d7c1f0a11",
        cpu_count=2,
        cpu_speed_mhz=1000,
        memory_mb=128,
        metadata={"vm": "web1", "owner": "alice"},
    )
    xml = domain_xml(spec, host_name="kvm1", domain_type="qemu", console_log=None, vnc_listen=None)
    moved = rehost(xml, "kvm2")
    assert "<strato:host>kvm2</strato:host>" in moved and "kvm1" not in moved
    assert read_spec(moved) == read_spec(xml)  # the VM itself is the same
    assert rehost("<domain><name>x</name></domain>", "kvm2") == "<domain><name>x</name></domain>"


def test_a_tap_only_a_userspace_switch_reads_gets_no_checksum_offload() -> None:
    """The guest then finishes its own TCP checksums (OVS's netdev datapath would pass
    partial ones on, and TCP data would never arrive: tests/system/
    test_kvm_managed_service.py's HTTP check). A tap in a kernel switch keeps them."""
    from strato.domain.compute.specs import NicSpec
    from strato.drivers.hypervisor.libvirt import domxml

    el = domxml.nic_element(NicSpec(mac="02:00:00:00:00:01", device="st-no-such-tap"))
    host = el.find("driver/host")
    assert host is not None and host.get("csum") == "off" and host.get("tso4") == "off"
    bridged = domxml.nic_element(NicSpec(mac="02:00:00:00:00:01", bridge="br0"))
    assert bridged.find("driver") is None
