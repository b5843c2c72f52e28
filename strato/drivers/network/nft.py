"""A virtual router's nftables ruleset, rendered whole from its spec (applied in one
``nft -f`` transaction that replaces the ``strato`` table: never a delta).

- ``prerouting`` (dstnat): port forwarding and static NAT, on the public side.
- ``postrouting`` (srcnat): a static-NAT guest leaves as its public address; the rest of
  the guest network as the source-NAT address.
- ``forward`` (filter): replies pass; a new connection from the public side passes only
  if a firewall rule allows its original destination (public address, protocol, port)
  and source; everything else new from outside is dropped (CloudStack's ingress default).
"""

from __future__ import annotations

from strato.domain.network.specs import FirewallRule, RouterSpec


def _ports(start: int | None, end: int | None) -> str:
    if start is None:
        return ""
    return str(start) if end in (None, start) else f"{start}-{end}"


def _allow(rule: FirewallRule, public_if: str) -> str:
    sources = ", ".join(rule.cidrs)
    match = f'iifname "{public_if}" ct original ip daddr {rule.public_ip} ip saddr {{ {sources} }}'
    if rule.protocol == "all":
        return f"{match} accept"
    if rule.protocol == "icmp":
        return f"{match} meta l4proto icmp accept"
    ports = _ports(rule.start, rule.end)
    dport = f" ct original proto-dst {ports}" if ports else ""
    return f"{match} meta l4proto {rule.protocol}{dport} accept"


def render(spec: RouterSpec, public_if: str) -> str:
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
