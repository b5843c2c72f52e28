"""Apache Libcloud's CloudStack driver, unchanged, against a real `strato up`: the
full scenario through the driver's own methods (its signatures carry no expires)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from libcloud.common.types import InvalidCredsError
from libcloud.compute.providers import Provider, get_driver
from libcloud.compute.types import NodeState, StorageVolumeState

from tests.system.cloudstack.conftest import StratoUp

pytestmark = pytest.mark.system


def driver(up: StratoUp, who: dict[str, str]) -> Any:
    cls = get_driver(Provider.CLOUDSTACK)
    conn = cls(key=who["key"], secret=who["secret"], url=up.endpoint, secure=False)
    conn.connection.poll_interval = 0.2
    return conn


def test_libcloud_full_scenario(strato_up: StratoUp) -> None:
    who = strato_up.account()
    api = driver(strato_up, who)
    zone = next(z for z in api.list_locations() if z.name == "demo")
    size = next(s for s in api.list_sizes() if s.name == "small")
    image = next(i for i in api.list_images(location=zone) if i.name == "tiny-linux")
    # an isolated network of its own (through the driver's raw request, as scripts do)
    offering = api._sync_request("listNetworkOfferings", params={"guestiptype": "Isolated"})
    net = api._sync_request(
        "createNetwork",
        params={
            "name": "lc-net",
            "displaytext": "lc-net",
            "zoneid": zone.id,
            "networkofferingid": offering["networkoffering"][0]["id"],
        },
    )["network"]
    assert [n.id for n in api.ex_list_networks() if n.name == "lc-net"] == [net["id"]]
    key = api.create_key_pair("lc-key")
    assert key.private_key and key.fingerprint
    assert [k.name for k in api.list_key_pairs()] == ["lc-key"]
    node = api.create_node(
        name="lc-web",
        size=size,
        image=image,
        location=zone,
        networks=[n for n in api.ex_list_networks() if n.id == net["id"]],
        ex_keyname="lc-key",
        ex_start_vm=True,
    )
    assert node.state == NodeState.RUNNING and node.extra["key_name"] == "lc-key"
    assert node.private_ips and node.private_ips[0].startswith("10.")
    assert api.ex_stop(node) == "Stopped"
    assert api.ex_start(node) == "Running"
    assert api.reboot_node(node) is True
    (listed,) = [n for n in api.list_nodes() if n.id == node.id]
    assert listed.state == NodeState.RUNNING
    # a data volume: create, attach, detach, delete
    volume = api.create_volume(size=20, name="lc-data", location=zone)
    assert volume.size == 20 << 30 or volume.name == "lc-data"
    assert api.attach_volume(node, volume) is True
    mine = {v.id: v for v in api.list_volumes(node=node)}
    assert mine[volume.id].state == StorageVolumeState.INUSE
    assert api.detach_volume(volume) is True
    assert api.destroy_volume(volume) is True
    assert volume.id not in {v.id for v in api.list_volumes()}
    # a snapshot of the root volume (stopped: the simulated host snapshots no running disk)
    api.ex_stop(node)
    root = next(v for v in api.list_volumes(node=node) if v.extra["volume_type"] == "ROOT")
    snap = api.create_volume_snapshot(root)
    assert snap.id and snap.extra["volume_id"] == root.id
    api.ex_start(node)
    # a public IP and a port forward to the node
    ip = api.ex_allocate_public_ip(network_id=net["id"], location=zone)
    assert ip.address.startswith("203.0.113.")
    node = next(n for n in api.list_nodes() if n.id == node.id)  # its extras, as listed
    rule = api.ex_create_port_forwarding_rule(node, ip, 22, 2222, "TCP")
    rules = api.ex_list_port_forwarding_rules(ipaddress_id=ip.id)
    assert [(r.id, r.public_port, r.private_port) for r in rules] == [(rule.id, "2222", "22")]
    assert api.ex_delete_port_forwarding_rule(node, rule) is True
    assert api.ex_list_port_forwarding_rules(ipaddress_id=ip.id) == []
    assert api.ex_release_public_ip(ip) is True
    assert api.delete_key_pair(key) is True
    # destroy with expunge: gone
    assert api.destroy_node(node, ex_expunge=True) is True
    deadline = time.monotonic() + 30
    while node.id in {n.id for n in api.list_nodes()}:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    with pytest.raises(InvalidCredsError):
        driver(strato_up, {**who, "secret": "wrong"}).list_nodes()
