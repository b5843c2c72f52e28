"""Device settings without processes (:mod:`strato.drivers.network.netdev`), checked
with the tools an operator would use: ``ethtool -k`` sees the transmit checksums off, a
sysctl set in a namespace is that namespace's only, a missing device is an error that
names it. A veth pair spans the root namespace and a private one."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator

import pytest

from strato.drivers.network import netdev
from strato.drivers.network.base import NetworkError


def _sh(*args: str) -> str:
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout


@pytest.fixture
def pair() -> Iterator[tuple[str, str, str]]:
    tag = uuid.uuid4().hex[:6]
    ns, outer, inner = f"snd{tag}", f"snd{tag}o", f"snd{tag}i"
    _sh("ip", "netns", "add", ns)
    _sh("ip", "link", "add", outer, "type", "veth", "peer", "name", inner, "netns", ns)
    yield ns, outer, inner
    subprocess.run(["ip", "link", "del", outer], capture_output=True)
    subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def _tx(ns: str | None, dev: str) -> str:
    prefix = ["ip", "netns", "exec", ns] if ns else []
    out = _sh(*prefix, "ethtool", "-k", dev)
    return next(line for line in out.splitlines() if line.startswith("tx-checksumming:"))


async def test_devices_are_found_in_their_own_namespace(pair: tuple[str, str, str]) -> None:
    ns, outer, inner = pair
    assert await netdev.existing(None, [outer, inner, "nosuchdev0"]) == {outer}
    assert await netdev.existing(ns, [outer, inner]) == {inner}


async def test_transmit_checksums_off_as_ethtool_sees_them(pair: tuple[str, str, str]) -> None:
    ns, outer, inner = pair
    assert _tx(None, outer).startswith("tx-checksumming: on")
    await netdev.tx_checksum_off(None, [outer])
    await netdev.tx_checksum_off(ns, [inner])
    assert _tx(None, outer).startswith("tx-checksumming: off")
    assert _tx(ns, inner).startswith("tx-checksumming: off")
    # The same features as `ethtool -K tx off` leaves (segmentation follows checksums).
    features = _sh("ethtool", "-k", outer).splitlines()[1:]
    _sh("ip", "netns", "exec", ns, "ethtool", "-K", inner, "tx", "on")
    _sh("ip", "netns", "exec", ns, "ethtool", "-K", inner, "tx", "off")
    assert _sh("ip", "netns", "exec", ns, "ethtool", "-k", inner).splitlines()[1:] == features


async def test_a_missing_device_is_named(pair: tuple[str, str, str]) -> None:
    ns, outer, _ = pair
    with pytest.raises(NetworkError, match=f"{outer}: transmit checksums: No such device"):
        await netdev.tx_checksum_off(ns, [outer])  # it is in the root namespace
    with pytest.raises(NetworkError, match="namespace snd-no-such-namespace does not exist"):
        await netdev.existing("snd-no-such-namespace", [outer])


async def test_a_sysctl_is_its_namespace_only(pair: tuple[str, str, str]) -> None:
    ns, _, _ = pair
    root_before = _sh("sysctl", "-n", "net.ipv4.conf.all.forwarding").strip()
    assert _sh("ip", "netns", "exec", ns, "sysctl", "-n", "net.ipv4.ip_forward").strip() == "0"
    await netdev.sysctl(ns, "net.ipv4.ip_forward", "1")
    assert _sh("ip", "netns", "exec", ns, "sysctl", "-n", "net.ipv4.ip_forward").strip() == "1"
    assert _sh("sysctl", "-n", "net.ipv4.conf.all.forwarding").strip() == root_before
