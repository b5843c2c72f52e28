"""Where webhooks may deliver: the checks on a URL and the addresses its host has."""

from __future__ import annotations

import pytest

from strato.domain.errors import InvalidInput
from strato.events import targets

OPERATOR = targets.parse_networks("10.0.0.0/8, fd00::/8")


async def _why(url: str, allow: bool = False) -> str | None:
    return await targets.refusal(url, allow_internal=allow, networks=OPERATOR)


async def test_internal_addresses_are_refused_unless_allowed() -> None:
    for url, words in [
        ("http://127.0.0.1/", "loopback"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),  # an IPv4-mapped loopback
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://[fe80::1]/", "link-local"),
        ("http://0.0.0.0:80/", "unspecified"),
        ("http://224.0.0.1/", "multicast"),
        ("http://10.20.30.40/", "internal network 10.0.0.0/8"),
        ("http://[fd00::5]/", "internal network fd00::/8"),
    ]:
        why = await _why(url)
        assert why is not None and words in why, (url, why)
        assert await _why(url, allow=True) is None, url
    assert await _why("http://93.184.216.34:8080/hook") is None  # a public address
    for private in ("http://192.168.1.5/", "http://172.16.0.9/", "http://100.64.0.1/"):
        why = await _why(private)
        assert why is not None and "private" in why, (private, why)
    # AWS's IPv6 metadata address is unique-local, not link-local: refused as private
    why = await _why("http://[fd00:ec2::254]/")
    assert why is not None


def test_a_delivery_connects_to_the_checked_address_keeping_the_name() -> None:
    import ipaddress

    url, headers, ext = targets.pinned(
        "https://hooks.example.com/in?x=1", ipaddress.ip_address("93.184.216.34")
    )
    assert url == "https://93.184.216.34:443/in?x=1"
    assert headers == {"Host": "hooks.example.com"} and ext == "hooks.example.com"
    url, headers, ext = targets.pinned(
        "http://hooks.example.com:8080/h", ipaddress.ip_address("2001:db8::7")
    )
    assert url == "http://[2001:db8::7]:8080/h"
    assert headers == {"Host": "hooks.example.com:8080"} and ext is None
    # credentials in the URL become basic auth; a non-ASCII name goes out as IDNA
    url, headers, ext = targets.pinned(
        "https://ops:s%40cret@b\u00fccher.example/h", ipaddress.ip_address("93.184.216.34")
    )
    assert url == "https://93.184.216.34:443/h" and ext == "xn--bcher-kva.example"
    assert headers == {
        "Host": "xn--bcher-kva.example",
        "Authorization": "Basic b3BzOnNAY3JldA==",  # ops:s@cret
    }


async def test_a_url_must_be_http_with_a_host_and_a_port_that_parses() -> None:
    for url, words in [
        ("gopher://example.com/", "http:// or https://"),
        ("example.com/hook", "http:// or https://"),
        ("http:///hook", "names no host"),
        ("http://example.com:99999/", "invalid port"),
    ]:
        with pytest.raises(InvalidInput) as err:
            await targets.check(url, allow_internal=True, networks=[])
        assert words in err.value.detail, (url, err.value.detail)


async def test_a_name_that_does_not_resolve_is_refused() -> None:
    why = await _why("https://nothing-here.invalid/hook", allow=True)
    assert why is not None and "does not resolve" in why
