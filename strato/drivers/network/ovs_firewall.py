"""Security groups on Open vSwitch: OpenFlow rules with the switch's own connection
tracking (``ct``), which the userspace datapath has.

Why not nftables per port: packets between ports of a userspace switch never cross the
kernel's netfilter hooks, and this platform has neither ``br_netfilter`` nor
``nf_conntrack_bridge`` for a hybrid Linux bridge per port (see the network notes). The
rules are those Neutron's native OVS firewall writes, in three tables:

* table 0: a secured port's packets with its own address go to conntrack (zone: the
  network's tag here) and on to table 1; any other address from it is dropped (no
  spoofing); DHCP from it passes. Packets to a secured port's MAC go to conntrack and on
  to table 2.
* table 1 (egress of a secured port): replies pass; new connections its egress rules
  allow (any, while it has none) go on to table 2; the rest is dropped.
* table 2 (ingress): replies pass; a new connection to a secured port passes only as its
  ingress rules allow, committed to conntrack; one to any other port is committed and
  passes.

A port's rules carry its cookie (its MAC), so they are replaced whole in one bundle.
"""

from __future__ import annotations

from strato.domain.network.specs import PortSecurity, SecurityRule

REG = "NXM_NX_REG6[0..15]"  # the connection's conntrack zone, kept across tables
BASE_COOKIE = 0x5347  # the tables' shared rules ("SG")


def cookie(mac: str) -> int:
    return int(mac.replace(":", ""), 16)


def port_masks(start: int, end: int) -> list[str]:
    """The port range as value/mask pairs (OpenFlow matches ports by mask)."""
    out = []
    while start <= end:
        size = 1
        while start % (size * 2) == 0 and start + size * 2 - 1 <= end:
            size *= 2
        out.append(f"0x{start:04x}/0x{(0xFFFF & ~(size - 1)):04x}")
        start += size
    return out


def _matches(rule: SecurityRule, peer: str) -> list[str]:
    """OpenFlow matches of a rule, ``peer`` the field its CIDRs are matched on."""
    proto = {"tcp": "tcp", "udp": "udp", "icmp": "icmp", "all": "ip"}[rule.protocol]
    ports = (
        [f",tp_dst={m}" for m in port_masks(rule.start, rule.end)]
        if rule.start is not None and rule.end is not None
        else [""]
    )
    cidrs = rule.cidrs or ["0.0.0.0/0"]
    return [
        f"{proto}{'' if cidr == '0.0.0.0/0' else f',{peer}={cidr}'}{p}"
        for cidr in cidrs
        for p in ports
    ]


def base_flows() -> list[str]:
    c = f"cookie={BASE_COOKIE:#x}"
    return [
        f"{c},table=1,priority=100,ct_state=+trk+est,ip,actions=resubmit(,2)",
        f"{c},table=1,priority=100,ct_state=+trk+rel,ip,actions=resubmit(,2)",
        f"{c},table=1,priority=0,actions=drop",
        f"{c},table=2,priority=100,ct_state=+trk+est,ip,actions=NORMAL",
        f"{c},table=2,priority=100,ct_state=+trk+rel,ip,actions=NORMAL",
        f"{c},table=2,priority=1,ct_state=+trk+new,ip,actions=ct(commit,zone={REG}),NORMAL",
        f"{c},table=2,priority=0,actions=drop",
    ]


def port_flows(ofport: int, mac: str, zone: int, sec: PortSecurity) -> list[str]:
    """Every rule of one secured port (without the command word)."""
    c = f"cookie={cookie(mac):#x}"
    to_ct = f"load:{zone}->{REG},ct(table={{}},zone={REG})"
    flows = [
        f"{c},table=0,priority=121,in_port={ofport},udp,nw_src=0.0.0.0,tp_src=68,tp_dst=67,"
        "actions=NORMAL",
        f"{c},table=0,priority=120,in_port={ofport},ip,nw_src={sec.ip_address},"
        f"actions={to_ct.format(1)}",
        f"{c},table=0,priority=110,in_port={ofport},ip,actions=drop",
        f"{c},table=0,priority=100,ip,dl_dst={mac},actions={to_ct.format(2)}",
        f"{c},table=1,priority=60,in_port={ofport},udp,tp_src=68,tp_dst=67,actions=resubmit(,2)",
        f"{c},table=2,priority=60,dl_dst={mac},udp,tp_src=67,tp_dst=68,actions=NORMAL",
        f"{c},table=2,priority=10,ct_state=+trk+new,dl_dst={mac},ip,actions=drop",
    ]
    egress = [r for r in sec.rules if r.direction == "egress"]
    for rule in egress:
        flows += [
            f"{c},table=1,priority=50,ct_state=+trk+new,in_port={ofport},{m},actions=resubmit(,2)"
            for m in _matches(rule, "nw_dst")
        ]
    if not egress:
        flows.append(
            f"{c},table=1,priority=40,ct_state=+trk+new,in_port={ofport},ip,actions=resubmit(,2)"
        )
    for rule in (r for r in sec.rules if r.direction == "ingress"):
        flows += [
            f"{c},table=2,priority=50,ct_state=+trk+new,dl_dst={mac},{m},"
            f"actions=ct(commit,zone={REG}),NORMAL"
            for m in _matches(rule, "nw_src")
        ]
    return flows


def bundle(mac: str, flows: list[str]) -> str:
    """One transaction: the port's old rules deleted, its new ones added."""
    lines = [f"delete cookie={cookie(mac):#x}/-1", *(f"add {f}" for f in flows)]
    return "\n".join(lines) + "\n"
