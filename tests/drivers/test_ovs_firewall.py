"""The OpenFlow rules of security groups (rendering; the packets are in
tests/system/test_security_group_packets.py)."""

from __future__ import annotations

import pytest

from strato.domain.network.specs import PortSecurity, SecurityRule
from strato.drivers.network.ovs_firewall import bundle, cookie, port_flows, port_masks


def _covered(start: int, end: int) -> set[int]:
    ports: set[int] = set()
    for pair in port_masks(start, end):
        value, mask = (int(x, 16) for x in pair.split("/"))
        ports |= {p for p in range(65536) if p & mask == value}
    return ports


@pytest.mark.parametrize("span", [(80, 80), (1, 65535), (1000, 2000), (8080, 8090), (22, 23)])
def test_port_ranges_become_exact_masks(span: tuple[int, int]) -> None:
    assert _covered(*span) == set(range(span[0], span[1] + 1))


def test_a_port_gets_its_own_rules_only() -> None:
    sec = PortSecurity(
        ip_address="10.1.0.5",
        rules=[
            SecurityRule(
                direction="ingress", protocol="tcp", start=22, end=23, cidrs=["10.9.0.0/16"]
            ),
            SecurityRule(direction="ingress", protocol="icmp", cidrs=["0.0.0.0/0"]),
        ],
    )
    flows = port_flows(7, "02:00:00:00:00:05", 300, sec)
    text = "\n".join(flows)
    assert "in_port=7,ip,nw_src=10.1.0.5,actions=load:300->NXM_NX_REG6[0..15]" in text
    assert "in_port=7,ip,actions=drop" in text  # any other source address: spoofed
    assert text.count("tcp,nw_src=10.9.0.0/16,tp_dst=") == 1  # 22-23 is one mask
    assert "dl_dst=02:00:00:00:00:05,icmp,actions=ct(commit" in text
    # No egress rule: any new connection out.
    assert "ct_state=+trk+new,in_port=7,ip,actions=resubmit(,2)" in text
    assert all(f.startswith(f"cookie={cookie('02:00:00:00:00:05'):#x},") for f in flows)
    egress = sec.model_copy(
        update={"rules": [SecurityRule(direction="egress", protocol="udp", start=53, end=53)]}
    )
    text = "\n".join(port_flows(7, "02:00:00:00:00:05", 300, egress))
    assert "in_port=7,udp,tp_dst=0x0035/0xffff,actions=resubmit(,2)" in text
    assert "in_port=7,ip,actions=resubmit(,2)" not in text
    assert bundle("02:00:00:00:00:05", []).splitlines() == ["delete cookie=0x20000000005/-1"]
