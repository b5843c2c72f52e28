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
