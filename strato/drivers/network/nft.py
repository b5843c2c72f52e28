"""A virtual router's nftables ruleset, rendered whole from its spec (applied in one
``nft -f`` transaction that replaces the ``strato`` table: never a delta).

- ``prerouting`` (dstnat): port forwarding and static NAT, on the public side.
- ``postrouting`` (srcnat): a static-NAT guest leaves as its public address; the rest of
  the guest network as the source-NAT address.
- ``forward`` (filter): replies pass; a new connection from the public side passes only
  if a firewall rule allows its original destination (public address, protocol, port)
  and source; everything else new from outside is dropped (CloudStack's ingress default).
  A new connection from the guests out is the network's egress default (allow or deny)
  unless an egress rule matches it (then the other way).
"""

from __future__ import annotations

from strato.domain.network.specs import EgressRule, FirewallRule, RouterSpec


def _ports(start: int | None, end: int | None) -> str:
    if start is None:
        return ""
    return str(start) if end in (None, start) else f"{start}-{end}"


def _l4(match: str, rule: FirewallRule | EgressRule, verdict: str) -> str:
    """``match`` narrowed to the rule's protocol and destination ports (the original
    ones: the firewall sees ports before DNAT), then ``verdict``."""
    if rule.protocol == "all":
        return f"{match} {verdict}"
    if rule.protocol == "icmp":
        return f"{match} meta l4proto icmp {verdict}"
    ports = _ports(rule.start, rule.end)
    dport = f" ct original proto-dst {ports}" if ports else ""
    return f"{match} meta l4proto {rule.protocol}{dport} {verdict}"


def _allow(rule: FirewallRule, public_if: str) -> str:
    sources = ", ".join(rule.cidrs)
    match = f'iifname "{public_if}" ct original ip daddr {rule.public_ip} ip saddr {{ {sources} }}'
    return _l4(match, rule, "accept")


def _egress(rule: EgressRule, guest_if: str, verdict: str) -> str:
    match = f'iifname "{guest_if}" ct state new ip daddr {{ {", ".join(rule.cidrs)} }}'
    return _l4(match, rule, verdict)


def render(spec: RouterSpec, public_if: str, guest_if: str = "") -> str:
    pre: list[str] = []
    post: list[str] = []
    forward = ["ct state established,related accept"]
    if spec.public is not None:
        snat_ip = spec.public.address.split("/")[0]
        for pf in spec.port_forwards:
            # One rule per port: DNAT to a port range would not keep the ports in order.
            for offset in range(pf.public_end - pf.public_port + 1):
                pre.append(
                    f'iifname "{public_if}" ip daddr {pf.public_ip} {pf.protocol} dport '
                    f"{pf.public_port + offset} dnat to {pf.private_ip}:{pf.private_port + offset}"
                )
        for nat in spec.static_nats:
            pre.append(f'iifname "{public_if}" ip daddr {nat.public_ip} dnat to {nat.private_ip}')
            post.append(f'ip saddr {nat.private_ip} oifname "{public_if}" snat to {nat.public_ip}')
        post.append(f'ip saddr {spec.cidr} oifname "{public_if}" snat to {snat_ip}')
        forward += [_allow(rule, public_if) for rule in spec.firewall]
        forward.append(f'iifname "{public_if}" ct state new drop')
    if guest_if:
        exception = "drop" if spec.egress_default == "allow" else "accept"
        forward += [_egress(rule, guest_if, exception) for rule in spec.egress]
        if spec.egress_default == "deny":
            forward.append(f'iifname "{guest_if}" ct state new drop')

    def chain(name: str, hook: str, priority: str, rules: list[str]) -> str:
        body = "".join(f"        {r}\n" for r in rules)
        return (
            f"    chain {name} {{\n"
            f"        type {'filter' if hook == 'forward' else 'nat'} hook {hook} "
            f"priority {priority}; policy accept;\n{body}    }}\n"
        )

    return (
        "table ip strato\n"
        "delete table ip strato\n"
        "table ip strato {\n"
        + chain("prerouting", "prerouting", "dstnat", pre)
        + chain("postrouting", "postrouting", "srcnat", post)
        + chain("forward", "forward", "filter", forward)
        + "}\n"
    )
