"""The network-guru contract, one suite over every guru: a network designed from a
request (defaults filled, everything checked, nothing written on a refusal), its
segments' ids, its NICs' MACs."""

from __future__ import annotations

import uuid

import pytest

from strato.domain.errors import InvalidInput
from strato.domain.network.specs import DesignRequest
from strato.drivers.network.guru import GURUS, NetworkGuru


@pytest.fixture(params=sorted(GURUS, key=str), ids=lambda k: str(k).lower())
def guru(request: pytest.FixtureRequest) -> NetworkGuru:
    return GURUS[request.param]


def test_defaults_fill_the_subnet(guru: NetworkGuru) -> None:
    d = guru.design(DesignRequest(cidr="10.40.0.0/24"))
    assert (d.gateway, d.ip_start, d.ip_end, d.count) == (
        "10.40.0.1",
        "10.40.0.2",
        "10.40.0.254",
        253,
    )
    assert d.isolation == guru.isolation
    narrow = guru.design(
        DesignRequest(cidr="10.40.0.0/24", ip_start="10.40.0.10", ip_end="10.40.0.19")
    )
    assert narrow.count == 10


@pytest.mark.parametrize(
    ("req", "field"),
    [
        (DesignRequest(cidr="10.40.0.1/24"), "cidr"),  # host bits set
        (DesignRequest(cidr="not-a-net"), "cidr"),
        (DesignRequest(cidr="fd00::/64"), "cidr"),  # IPv4 only
        (DesignRequest(cidr="10.40.0.0/31"), "cidr"),
        (DesignRequest(cidr="10.40.0.0/24", gateway="10.41.0.1"), "gateway"),
        (DesignRequest(cidr="10.40.0.0/24", gateway="10.40.0.255"), "gateway"),  # broadcast
        (DesignRequest(cidr="10.40.0.0/24", gateway="10.40.0.5", ip_start="10.40.0.2"), None),
        (DesignRequest(cidr="10.40.0.0/24", ip_start="10.40.0.9", ip_end="10.40.0.3"), None),
        (DesignRequest(cidr="10.40.0.0/24", ip_end="10.40.0.255"), None),  # broadcast
        (DesignRequest(cidr="10.0.0.0/8"), None),  # more than 65,536 addresses
    ],
)
def test_bad_designs_are_refused_by_field(
    guru: NetworkGuru, req: DesignRequest, field: str | None
) -> None:
    with pytest.raises(InvalidInput) as err:
        guru.design(req)
    if field is not None:
        assert err.value.extra.get("field") == field


def test_segments_and_macs(guru: NetworkGuru) -> None:
    bounds = guru.segment_bounds()
    assert bounds is None if guru.isolation is None else bounds[0] == 1
    if guru.isolation == "VLAN":
        assert bounds == (1, 4094)
    if guru.isolation == "VXLAN":
        assert (
            bounds == (1, (1 << 24) - 1)
            and guru.design(DesignRequest(cidr="10.1.0.0/24")).mtu == 1450
        )
    vm = uuid.uuid4()
    macs = {guru.mac(vm, d) for d in range(8)}
    assert len(macs) == 8 and guru.mac(vm, 0) == guru.mac(vm, 0)  # a retry: the same NIC
    first = int(guru.mac(vm, 0).split(":")[0], 16)
    assert first & 0b10 and not first & 0b01  # locally administered, unicast
