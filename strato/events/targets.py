"""Where a webhook may deliver: http(s) URLs whose host resolves outside the platform.

A subscription could otherwise make the relay (inside the platform's network) call the
platform's own services: its API on loopback, a metadata service on a link-local
address, the management network. Those are refused unless the subscription has
``allow_internal`` (an admin's choice). The check runs when the subscription is made
or changed and again before each delivery (a name may resolve elsewhere later).
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import socket
from collections.abc import Sequence
from urllib.parse import unquote, urlsplit

from strato.domain.errors import InvalidInput

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_networks(text: str) -> list[Network]:
    """``10.0.0.0/8, fd00::/8`` -> networks (the operator's internal ones)."""
    return [ipaddress.ip_network(p.strip(), strict=False) for p in text.split(",") if p.strip()]


def _internal(ip: Address, networks: Sequence[Network]) -> str | None:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for what, hit in (
        ("a loopback address", ip.is_loopback),
        ("a link-local address", ip.is_link_local),
        ("an unspecified address", ip.is_unspecified),
        ("a multicast address", ip.is_multicast),
        ("a reserved address", ip.is_reserved),
    ):
        if hit:
            return what
    for net in networks:
        if ip.version == net.version and ip in net:
            return f"the platform's internal network {net}"
    if not ip.is_global:
        return "a private (not globally routable) address"
    return None


def split(url: str) -> tuple[str, int]:
    """The URL's host and port; InvalidInput unless it is an absolute http(s) URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise InvalidInput(
            f"url must be an http:// or https:// URL, not {parts.scheme or 'schemeless'}",
            field="url",
        )
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as err:
        raise InvalidInput(f"url has an invalid port: {err}", field="url") from err
    if not parts.hostname:
        raise InvalidInput("url names no host", field="url")
    return parts.hostname, port


async def resolve(
    url: str, *, allow_internal: bool, networks: Sequence[Network]
) -> tuple[str | None, Address | None]:
    """(why a delivery to ``url`` is refused now, or None; the address it may go to).
    Every address the name has is checked; the delivery then connects to the one
    returned (pinned), so the name cannot resolve elsewhere between check and connect."""
    host, port = split(url)
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as err:
        return f"{host} does not resolve ({err})", None
    addresses = [ipaddress.ip_address(str(f[4][0]).split("%", 1)[0]) for f in found]
    if not allow_internal:
        for ip in addresses:
            why = _internal(ip, networks)
            if why is not None:
                return (
                    f"{host} resolves to {ip}, {why}; an admin may allow it (allow_internal)",
                    None,
                )
    return None, addresses[0] if addresses else None


async def refusal(url: str, *, allow_internal: bool, networks: Sequence[Network]) -> str | None:
    """Why a delivery to ``url`` is refused now (None: it may go)."""
    why, _ = await resolve(url, allow_internal=allow_internal, networks=networks)
    return why


def pinned(url: str, ip: Address) -> tuple[str, dict[str, str], str | None]:
    """``url`` with its host replaced by ``ip``: (the URL to connect to, the headers
    that keep the name (Host), the name TLS must use (SNI and the certificate's name;
    None for http))."""
    parts = urlsplit(url)
    host, port = split(url)
    literal = f"[{ip}]" if ip.version == 6 else str(ip)
    target = parts._replace(netloc=f"{literal}:{port}").geturl()
    name = host if host.isascii() else host.encode("idna").decode("ascii")
    shown = f"[{name}]" if ":" in name else name
    default = 443 if parts.scheme == "https" else 80
    headers = {"Host": shown if port == default else f"{shown}:{port}"}
    if parts.username is not None:  # user:password@ in the URL: HTTP basic auth
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    return target, headers, name if parts.scheme == "https" else None


async def check(url: str, *, allow_internal: bool, networks: Sequence[Network]) -> None:
    """Refuse (InvalidInput) a URL deliveries may not go to."""
    why = await refusal(url, allow_internal=allow_internal, networks=networks)
    if why is not None:
        raise InvalidInput(f"url: {why}", field="url")
